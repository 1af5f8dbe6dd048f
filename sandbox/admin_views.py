"""Test and dev hooks under `/_sandbox/`, so a sandbox in another process can be driven.

Never part of Google's surface: they exist for tests, benchmarks and the local dev stack.
"""

from __future__ import annotations

import base64
import binascii

import flask

from sandbox import identity
from sandbox.context import current_state

bp = flask.Blueprint("admin", __name__, url_prefix="/_sandbox")


def _bad(message: str) -> flask.Response:
    response = flask.jsonify({"error": message})
    response.status_code = 400
    return response


def _json() -> dict[str, object]:
    body = flask.request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


@bp.get("/health")
def health() -> flask.Response:
    """Liveness for the dev stack's start-up wait."""
    return flask.Response("ok", mimetype="text/plain")


@bp.get("/calls")
def calls() -> flask.Response:
    """Calls per endpoint name since the last reset."""
    return flask.jsonify(current_state().call_counts())


@bp.get("/connections")
def connections() -> flask.Response:
    """New connections and requests, per view, since the last reset (see sandbox.connections)."""
    return flask.jsonify(current_state().connections.snapshot())


@bp.post("/calls/reset")
def reset_calls() -> flask.Response:
    """Zero the counters (calls and connections)."""
    current_state().reset_calls()
    return flask.jsonify({})


@bp.route("/behaviour", methods=["GET", "POST"])
def behaviour() -> flask.Response:
    """Read or set knobs: `{"omit_refresh_token": true, "latency_ms": 20, ...}`."""
    state = current_state()
    if flask.request.method == "GET":
        return flask.jsonify(state.behaviour.as_dict())
    try:
        return flask.jsonify(state.update_behaviour(_json()))
    except ValueError as exc:
        return _bad(str(exc))


@bp.post("/mailboxes/<email>")
def seed_mailbox(email: str) -> flask.Response:
    """Replace a mailbox: `{"count": 2345, "seed": 7}` (seed optional)."""
    address = identity.normalize_email(email)
    body = _json()
    count, seed = body.get("count"), body.get("seed")
    if address is None or not isinstance(count, int) or not isinstance(seed, int | None):
        return _bad("expected a valid e-mail, an integer count and an optional integer seed")
    try:
        messages = current_state().seed_mailbox(address, count, seed)
    except ValueError as exc:
        return _bad(str(exc))
    return flask.jsonify({"emailAddress": address, "messagesTotal": len(messages)})


@bp.post("/mailboxes/<email>/deliveries")
def deliver_messages(email: str) -> flask.Response:
    """New mail arrives: `{"count": 3, "labels": ["INBOX", "UNREAD"]}` (labels optional).

    Pushes a Gmail notification when the user has a matching watch (see SandboxState).
    """
    address = identity.normalize_email(email)
    body = _json()
    count, labels = body.get("count"), body.get("labels", ["INBOX", "UNREAD"])
    if address is None or not isinstance(count, int) or not isinstance(labels, list):
        return _bad("expected a valid e-mail, an integer count and an optional list of labels")
    state = current_state()
    try:
        added = state.deliver_messages(address, count, labels)
    except ValueError as exc:
        return _bad(str(exc))
    return flask.jsonify(
        {
            "emailAddress": address,
            "historyId": str(state.mailbox(address).history_id),
            "messages": [{"id": m.id, "threadId": m.thread_id} for m in added],
        }
    )


@bp.post("/mailboxes/<email>/history/expire")
def expire_history(email: str) -> flask.Response:
    """Forget the mailbox's history: syncing from an older historyId now gets 404."""
    address = identity.normalize_email(email)
    if address is None:
        return _bad("expected a valid e-mail")
    state = current_state()
    state.expire_history(address)
    return flask.jsonify(
        {"emailAddress": address, "historyId": str(state.mailbox(address).history_id)}
    )


@bp.get("/watches/<email>")
def watch(email: str) -> flask.Response:
    """The user's Gmail watch as stored, or 404 when there is none."""
    found = current_state().watch(email)
    if found is None:
        response = flask.jsonify({"error": "no watch"})
        response.status_code = 404
        return response
    return flask.jsonify(found.as_dict())


@bp.post("/users/<email>/revoke")
def revoke_user(email: str) -> flask.Response:
    """The user removes app access in their Google Account."""
    return flask.jsonify({"revoked": current_state().revoke_user(email)})


@bp.post("/users/<email>/access-tokens/expire")
def expire_access_tokens(email: str) -> flask.Response:
    """The user's access tokens stop working early; refresh tokens still do."""
    return flask.jsonify({"expired": current_state().expire_access_tokens(email)})


@bp.post("/clock")
def clock() -> flask.Response:
    """Move the sandbox's time: `{"advance_seconds": 86400}`, or `{"reset": true}`."""
    state = current_state()
    body = _json()
    seconds = body.get("advance_seconds")
    if body.get("reset") is True:
        state.reset_clock()
    elif isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds >= 0:
        state.advance_clock(float(seconds))
    else:
        return _bad("expected a non-negative advance_seconds, or reset: true")
    return flask.jsonify({"now": state.clock()})


@bp.post("/clients")
def register_client() -> flask.Response:
    """Register a client: `{"redirect_uris": [...], "client_id"?, "client_secret"?,
    "project_id"?}`.

    Returns the console-style client JSON pointing at this sandbox.
    """
    body = _json()
    uris, client_id, secret, project = (
        body.get("redirect_uris"),
        body.get("client_id"),
        body.get("client_secret"),
        body.get("project_id", "sandbox"),
    )
    if not isinstance(uris, list) or not uris or not all(isinstance(u, str) for u in uris):
        return _bad("redirect_uris must be a non-empty list of strings")
    if not isinstance(client_id, str | None) or not isinstance(secret, str | None):
        return _bad("client_id and client_secret must be strings")
    if not isinstance(project, str):
        return _bad("project_id must be a string")
    state = current_state()
    try:
        client = state.register_client([str(u) for u in uris], client_id, secret, project)
    except ValueError as exc:
        return _bad(str(exc))
    return flask.jsonify(state.client_config(client, flask.request.host_url))


@bp.post("/push-topics")
def grant_push_publisher() -> flask.Response:
    """Let Gmail publish to a topic: `{"topic_name": "projects/P/topics/T"}`."""
    topic = _json().get("topic_name")
    if not isinstance(topic, str):
        return _bad("expected topic_name")
    try:
        current_state().grant_push_publisher(topic)
    except ValueError as exc:
        return _bad(str(exc))
    return flask.jsonify({"topic_name": topic})


@bp.post("/secrets")
def set_secret() -> flask.Response:
    """Add a secret version: `{"name": "projects/p/secrets/s/versions/1", "data": "<base64>"}`."""
    body = _json()
    name, data = body.get("name"), body.get("data")
    if not isinstance(name, str) or not isinstance(data, str):
        return _bad("expected name and base64 data")
    try:
        current_state().set_secret(name, base64.b64decode(data, validate=True))
    except (ValueError, binascii.Error) as exc:
        return _bad(str(exc))
    return flask.jsonify({"name": name})
