"""What every Gmail method does before its own work: count, authenticate, authorize, charge.

Quota follows https://developers.google.com/workspace/gmail/api/reference/quota (per-method
costs, units per user per minute, see `quota.py`) and the refusals follow
https://developers.google.com/workspace/gmail/api/guides/handle-errors: the per-user quota
answers 403 `userRateLimitExceeded` (or 429 `rateLimitExceeded`, the `quota_refusal_status`
knob) with the retry time in the message and no Retry-After header; too many calls in flight
for one user answer 429 "Too many concurrent requests for user". The same holds inside a batch,
since each part of a batch is dispatched as its own request.
"""

from __future__ import annotations

import flask

from sandbox import scopes
from sandbox.context import current_state
from sandbox.credentials import bearer_token
from sandbox.errors import (
    invalid_argument,
    permission_denied,
    rate_limited,
    too_many_concurrent_requests,
    unauthenticated,
)
from sandbox.models import Token

#: WSGI environ key: the user whose in-flight call this request holds (released at teardown).
IN_FLIGHT_ENVIRON_KEY = "sandbox.gmail_call_for"


def authorize(endpoint: str, user_id: str) -> Token:
    """Count the call, check token, scope and userId, take an in-flight slot, charge quota.

    Args:
        endpoint: the method's call-counter name, which is also its key in the quota costs.
        user_id: the `userId` path parameter.
    """
    state = current_state()
    state.count(endpoint)
    value = bearer_token(flask.request)
    token = state.access_token(value) if value else None
    if token is None:
        raise unauthenticated()
    if not scopes.GMAIL_READ_SCOPES & set(token.scopes):
        raise permission_denied(
            "Request had insufficient authentication scopes.", "insufficientPermissions"
        )
    if user_id != "me" and user_id.lower() != token.email:
        raise permission_denied(f"Delegation denied for {token.email}")
    if not state.begin_call(token.email):
        raise too_many_concurrent_requests()
    flask.request.environ[IN_FLIGHT_ENVIRON_KEY] = token.email
    retry_at = state.charge_quota(token.email, endpoint)
    if retry_at is not None:
        raise rate_limited(state.behaviour.quota_refusal_status, retry_at)
    return token


def end_call(exc: BaseException | None = None) -> None:
    """Teardown hook: give back the in-flight slot `authorize` took, if it took one."""
    email = flask.request.environ.pop(IN_FLIGHT_ENVIRON_KEY, None)
    if email is not None:
        current_state().end_call(email)


def metadata_only(token: Token) -> bool:
    """True when the token's only Gmail read scope is gmail.metadata (no search, no bodies)."""
    return scopes.GMAIL_READ_SCOPES & set(token.scopes) == {scopes.GMAIL_METADATA}


def flag(name: str) -> bool:
    """A `true`/`false` query parameter (default false); anything else is invalid."""
    value = flask.request.args.get(name, "false").lower()
    if value not in ("true", "false"):
        raise invalid_argument(f"Invalid value for {name}: {value}")
    return value == "true"


def max_results(default: int, maximum: int) -> int:
    """`maxResults`: `default` when absent, at least 1, clamped to `maximum` as Gmail does."""
    raw = flask.request.args.get("maxResults")
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 1:
        raise invalid_argument(f"Invalid maxResults: {raw}")
    return min(value, maximum)
