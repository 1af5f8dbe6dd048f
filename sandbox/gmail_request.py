"""What every Gmail method does before its own work: count, authenticate, authorize, charge.

Errors and quota follow https://developers.google.com/workspace/gmail/api/reference/quota: a
refused call answers 429 `rateLimitExceeded` with Retry-After, also inside a batch, since each
part of a batch is dispatched as its own request.
"""

from __future__ import annotations

import flask

from sandbox import scopes
from sandbox.context import current_state
from sandbox.credentials import bearer_token
from sandbox.errors import ApiError, invalid_argument, permission_denied, unauthenticated
from sandbox.models import Token


def authorize(endpoint: str, units: int, user_id: str) -> Token:
    """Count the call, check token, scope and userId, then charge the user's quota."""
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
    retry_after = state.charge_quota(token.email, units)
    if retry_after is not None:
        raise ApiError(
            429,
            "RESOURCE_EXHAUSTED",
            f"User-rate limit exceeded. Retry after {retry_after} seconds.",
            "rateLimitExceeded",
            domain="usageLimits",
            headers={"Retry-After": str(retry_after)},
        )
    return token


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
