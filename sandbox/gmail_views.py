"""Gmail API v1 reads: users.messages.list, users.messages.get and users.getProfile.

Paths, parameters and errors follow https://developers.google.com/gmail/api/reference/rest
(quota costs: `quota.py`) so googleapiclient's static discovery
document works against the sandbox with `client_options={"api_endpoint": base_url + "/"}`.
"""

from __future__ import annotations

import re

import flask

from sandbox import gmail_list, gmail_message, gmail_query
from sandbox.context import current_state
from sandbox.errors import invalid_argument, not_found, permission_denied
from sandbox.gmail_request import authorize, flag, max_results, metadata_only

bp = flask.Blueprint("gmail", __name__, url_prefix="/gmail/v1/users/<user_id>")
_MESSAGE_ID = re.compile(r"^[0-9a-f]{1,16}$")


@bp.get("/messages")
def list_messages(user_id: str) -> flask.Response:
    """users.messages.list: ids and thread ids, newest first, paged."""
    token = authorize("gmail.messages.list", user_id)
    args = flask.request.args
    q = args.get("q", "")
    if q and metadata_only(token):
        raise permission_denied("Metadata scope does not support 'q' parameter")
    state = current_state()
    try:
        query = gmail_query.parse(q, state.clock())
    except gmail_query.QueryError as exc:
        raise invalid_argument("Invalid query") from exc
    include_spam_trash = flag("includeSpamTrash")
    size = max_results(gmail_list.DEFAULT_PAGE_SIZE, gmail_list.MAX_PAGE_SIZE)
    mailbox = state.mailbox(token.email)
    try:
        body = gmail_list.list_page(
            mailbox.messages,
            query,
            args.getlist("labelIds"),
            include_spam_trash=include_spam_trash,
            max_results=size,
            page_token=args.get("pageToken"),
            cache_key=(q, int(state.clock())),
        )
    except gmail_list.PageTokenError as exc:
        raise invalid_argument("Invalid pageToken") from exc
    return flask.jsonify(body)


@bp.get("/messages/<message_id>")
def get_message(user_id: str, message_id: str) -> flask.Response:
    """users.messages.get in `minimal`, `metadata`, `full` (the default) or `raw` format."""
    token = authorize("gmail.messages.get", user_id)
    args = flask.request.args
    fmt = args.get("format", "full").lower()
    if fmt not in gmail_message.FORMATS:
        raise invalid_argument(f"Invalid format: {args.get('format')}")
    if fmt in gmail_message.BODY_FORMATS and metadata_only(token):
        raise permission_denied(f"Metadata scope doesn't allow format {fmt.upper()}")
    if not _MESSAGE_ID.match(message_id):
        raise invalid_argument("Invalid id value")
    message = current_state().mailbox(token.email).message(message_id)
    if message is None:
        raise not_found()
    return flask.jsonify(gmail_message.render(message, fmt, args.getlist("metadataHeaders")))


@bp.get("/profile")
def get_profile(user_id: str) -> flask.Response:
    """users.getProfile: address, totals and the current history id."""
    token = authorize("gmail.getProfile", user_id)
    mailbox = current_state().mailbox(token.email)
    return flask.jsonify(
        {
            "emailAddress": token.email,
            "messagesTotal": len(mailbox.messages),
            "threadsTotal": mailbox.threads_total,
            "historyId": str(mailbox.history_id),
        }
    )
