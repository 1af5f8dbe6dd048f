"""Gmail API v1 sync and push: users.history.list, users.watch and users.stop.

Follows https://developers.google.com/workspace/gmail/api/reference/rest and the guides
"Synchronizing clients with Gmail" and "Push notifications" (quota costs: `quota.py`).
"""

from __future__ import annotations

import re

import flask

from sandbox import gmail_history, gmail_watch, pubsub_push
from sandbox.context import current_state
from sandbox.errors import ApiError, invalid_argument, not_found, permission_denied
from sandbox.gmail_list import PageTokenError
from sandbox.gmail_request import authorize, max_results
from sandbox.models import Token
from sandbox.state import SandboxState

bp = flask.Blueprint("gmail_sync", __name__, url_prefix="/gmail/v1/users/<user_id>")
_UINT64 = re.compile(r"^[0-9]{1,20}$")
_MISSING_START = "Required parameter: startHistoryId"


@bp.get("/history")
def list_history(user_id: str) -> flask.Response:
    """users.history.list: the changes after `startHistoryId`, or 404 when that is too old."""
    token = authorize("gmail.history.list", user_id)
    args = flask.request.args
    start = args.get("startHistoryId", "")
    if not _UINT64.match(start) or int(start) >= 2**64:
        raise invalid_argument(f"Invalid startHistoryId: {start!r}" if start else _MISSING_START)
    types = []
    for value in args.getlist("historyTypes"):
        kind = gmail_history.history_type(value)
        if kind is None:
            raise invalid_argument(f"Invalid historyTypes: {value}")
        types.append(kind)
    size = max_results(gmail_history.DEFAULT_PAGE_SIZE, gmail_history.MAX_PAGE_SIZE)
    mailbox = current_state().mailbox(token.email)
    try:
        body = gmail_history.history_page(
            mailbox,
            int(start),
            history_types=types,
            label_id=args.get("labelId") or None,
            max_results=size,
            page_token=args.get("pageToken"),
        )
    except gmail_history.HistoryExpired as exc:
        raise not_found() from exc
    except PageTokenError as exc:
        raise invalid_argument("Invalid pageToken") from exc
    return flask.jsonify(body)


@bp.post("/watch")
def watch(user_id: str) -> flask.Response:
    """users.watch: push a notification to `topicName` when the mailbox changes, for 7 days."""
    token = authorize("gmail.watch", user_id)
    state = current_state()
    try:
        request = gmail_watch.parse(flask.request.get_json(silent=True), state.clock())
    except gmail_watch.WatchRequestError as exc:
        raise invalid_argument(str(exc)) from exc
    _check_push_topic(state, token, request.topic_name)
    history_id = state.start_watch(token.email, request)
    return flask.jsonify({"historyId": str(history_id), "expiration": str(request.expiration_ms)})


def _check_push_topic(state: SandboxState, token: Token, topic_name: str) -> None:
    """Gmail's conditions on `topicName`, from WatchRequest in the discovery document.

    "This topic name **must** already exist in Cloud Pub/Sub and you **must** have already
    granted gmail "publish" permission on it", and its project "must exactly match your Google
    developer project id (the one executing this watch request)". Gmail answers a topic of
    another project with 400 "Invalid topicName does not match projects/P/topics/*", and a topic
    it may not publish to with 403 "Error sending test message to Cloud PubSub …: User not
    authorized to perform this action." A topic that does not exist gets the same 403: its
    permission cannot have been granted. Existence is checked on the Pub/Sub emulator when one
    is configured; the grant against `SandboxState.grant_push_publisher`.
    """
    client = state.client(token.client_id)
    project = client.project_id if client is not None else "sandbox"
    if gmail_watch.topic_project(topic_name) != project:
        raise invalid_argument(f"Invalid topicName does not match projects/{project}/topics/*")
    exists: bool | None = True
    host = state.behaviour.pubsub_emulator_host
    if host:
        exists = pubsub_push.topic_exists(host, topic_name)
        if exists is None:
            raise ApiError(500, "INTERNAL", "Backend Error", "backendError")
    if not exists or not state.may_push_to(topic_name):
        raise permission_denied(
            f"Error sending test message to Cloud PubSub {topic_name} : "
            "User not authorized to perform this action."
        )


@bp.post("/stop")
def stop(user_id: str) -> flask.Response:
    """users.stop: no more notifications for this user; 204 whether or not a watch existed."""
    token = authorize("gmail.stop", user_id)
    current_state().stop_watch(token.email)
    return flask.Response(status=204)
