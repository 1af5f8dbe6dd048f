"""Cross-Account Protection endpoints (see `risc`): the configuration document, the stream API,
and the `/_sandbox/` hooks that issue service account keys and emit security event tokens."""

from __future__ import annotations

import flask

from sandbox import risc
from sandbox.context import current_state
from sandbox.errors import not_found

bp = flask.Blueprint("risc", __name__)


def _base_url() -> str:
    return flask.request.host_url.rstrip("/")


def _json() -> dict[str, object]:
    body = flask.request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _bad(message: str) -> flask.Response:
    response = flask.jsonify({"error": message})
    response.status_code = 400
    return response


@bp.get(risc.CONFIGURATION_PATH)
def configuration() -> flask.Response:
    """Where the security event tokens' issuer and keys are."""
    current_state().count("risc.configuration")
    return flask.jsonify(risc.configuration(_base_url()))


@bp.post("/v1beta/stream:update")
def update_stream() -> flask.Response:
    """Register (or replace) the project's receiver and the event types it wants."""
    state = current_state()
    state.count("risc.stream.update")
    account = state.risc.authenticate(flask.request.headers.get("Authorization", ""), state.clock())
    state.risc.update_stream(account.project_id, _json())
    return flask.jsonify({})


@bp.get("/v1beta/stream")
def get_stream() -> flask.Response:
    """The project's stream configuration."""
    state = current_state()
    state.count("risc.stream.get")
    account = state.risc.authenticate(flask.request.headers.get("Authorization", ""), state.clock())
    stream = state.risc.stream(account.project_id)
    if stream is None:
        raise not_found("Project has no RISC configuration.")
    return flask.jsonify(risc.stream_json(state, _base_url(), account.project_id, stream))


@bp.post("/v1beta/stream:verify")
def verify_stream() -> flask.Response:
    """Send a verification token carrying `state` to the receiver (here, before answering)."""
    state = current_state()
    state.count("risc.stream.verify")
    account = state.risc.authenticate(flask.request.headers.get("Authorization", ""), state.clock())
    if state.risc.stream(account.project_id) is None:
        raise not_found("Project has no RISC configuration.")
    given = _json().get("state", "")
    risc.emit(
        state,
        _base_url(),
        "verification",
        verification_state=str(given),
        project_id=account.project_id,
    )
    return flask.jsonify({})


@bp.post("/_sandbox/service-accounts")
def create_service_account_key() -> flask.Response:
    """A key for a service account: `{"email", "project_id"}` → the console's JSON key file."""
    body = _json()
    email, project = body.get("email"), body.get("project_id", "sandbox")
    if not isinstance(email, str) or not isinstance(project, str):
        return _bad("expected email and project_id")
    try:
        return flask.jsonify(current_state().risc.create_key(email, project))
    except ValueError as exc:
        return _bad(str(exc))


@bp.post("/_sandbox/risc/events")
def emit_event() -> flask.Response:
    """Emit a security event token: `{"event": "tokens-revoked", "email": ..., "reason"?,
    "state"?, "invalid"?: "wrong_signature"|"wrong_issuer"|"wrong_audience",
    "token_identifier_alg"?, "project_id"?}`, or replay one: `{"replay": "<jti>"}`.

    Answers what the receiver answered: `{"jti", "delivered", "status", "body"}`.
    """
    body = _json()
    state = current_state()
    try:
        if isinstance(body.get("replay"), str):
            delivery = risc.replay(state, str(body["replay"]))
        else:
            raw = {
                name: body.get(name)
                for name in ("email", "reason", "state", "invalid", "project_id")
            }
            strings = {name: value for name, value in raw.items() if isinstance(value, str)}
            if not isinstance(body.get("event"), str) or len(strings) != sum(
                value is not None for value in raw.values()
            ):
                return _bad("expected event and optional string fields")
            delivery = risc.emit(
                state,
                _base_url(),
                str(body["event"]),
                email=strings.get("email"),
                reason=strings.get("reason"),
                verification_state=strings.get("state"),
                invalid=strings.get("invalid"),
                token_identifier_alg=str(
                    body.get("token_identifier_alg", "hash_base64_sha512_sha512")
                ),
                project_id=strings.get("project_id"),
            )
    except ValueError as exc:
        return _bad(str(exc))
    return flask.jsonify(delivery.as_dict())
