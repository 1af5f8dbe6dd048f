"""Gmail API v1 subset: users.messages.list and users.getProfile.

Paths, parameters, errors and quota costs follow
https://developers.google.com/gmail/api/reference/rest so googleapiclient's static discovery
document works against the sandbox with `client_options={"api_endpoint": base_url + "/"}`.
"""

from __future__ import annotations

import flask

from sandbox import gmail_list, gmail_query, scopes
from sandbox.context import current_state
from sandbox.credentials import bearer_token
from sandbox.errors import ApiError, invalid_argument, permission_denied, unauthenticated
from sandbox.models import Token

bp = flask.Blueprint("gmail", __name__, url_prefix="/gmail/v1/users/<user_id>")
LIST_COST = 5
PROFILE_COST = 1


def _authorize(endpoint: str, units: int, user_id: str) -> Token:
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


def _flag(name: str) -> bool:
    value = flask.request.args.get(name, "false").lower()
    if value not in ("true", "false"):
        raise invalid_argument(f"Invalid value for {name}: {value}")
    return value == "true"


def _max_results() -> int:
    raw = flask.request.args.get("maxResults")
    if raw is None:
        return gmail_list.DEFAULT_PAGE_SIZE
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 1:
        raise invalid_argument(f"Invalid maxResults: {raw}")
    return min(value, gmail_list.MAX_PAGE_SIZE)


@bp.get("/messages")
def list_messages(user_id: str) -> flask.Response:
    """users.messages.list: ids and thread ids, newest first, paged."""
    token = _authorize("gmail.messages.list", LIST_COST, user_id)
    args = flask.request.args
    q = args.get("q", "")
    if q and scopes.GMAIL_READ_SCOPES & set(token.scopes) == {scopes.GMAIL_METADATA}:
        raise permission_denied("Metadata scope does not support 'q' parameter")
    state = current_state()
    try:
        query = gmail_query.parse(q, state.clock())
    except gmail_query.QueryError as exc:
        raise invalid_argument("Invalid query") from exc
    include_spam_trash, max_results = _flag("includeSpamTrash"), _max_results()
    mailbox = state.mailbox(token.email)
    try:
        body = gmail_list.list_page(
            mailbox.messages,
            query,
            args.getlist("labelIds"),
            include_spam_trash=include_spam_trash,
            max_results=max_results,
            page_token=args.get("pageToken"),
        )
    except gmail_list.PageTokenError as exc:
        raise invalid_argument("Invalid pageToken") from exc
    return flask.jsonify(body)


@bp.get("/profile")
def get_profile(user_id: str) -> flask.Response:
    """users.getProfile: address, totals and the current history id."""
    token = _authorize("gmail.getProfile", PROFILE_COST, user_id)
    mailbox = current_state().mailbox(token.email)
    return flask.jsonify(
        {
            "emailAddress": token.email,
            "messagesTotal": len(mailbox.messages),
            "threadsTotal": mailbox.threads_total,
            "historyId": str(mailbox.history_id),
        }
    )
