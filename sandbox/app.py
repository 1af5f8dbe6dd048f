"""The sandbox as a Flask app: Google's paths on one origin, plus `/_sandbox/` test hooks.

Point the product at it with the client JSON from `SandboxState.client_config`, `GMAIL_API_ROOT`
= base URL + "/", `OIDC_USERINFO_URI` = base URL + "/v1/userinfo" and `OAUTH_REVOKE_URI` = base
URL + "/revoke". The state is `app.config[STATE_KEY]` ("SANDBOX_STATE"). Gmail batches go to
base URL + "/batch/gmail/v1" (googleapiclient needs it as `BatchHttpRequest(batch_uri=...)`).
"""

from __future__ import annotations

import time

import flask

from sandbox import (
    admin_views,
    batch_views,
    consent_views,
    gmail_request,
    gmail_sync_views,
    gmail_views,
    oauth_views,
    risc_views,
    secret_views,
)
from sandbox.context import STATE_KEY, current_state
from sandbox.errors import register_handlers
from sandbox.server import CONNECTION_KEY, FIRST_ON_CONNECTION_KEY
from sandbox.state import SandboxState

__all__ = ["STATE_KEY", "create_app"]


def create_app(state: SandboxState | None = None) -> flask.Flask:
    """Build the app around `state` (a fresh SandboxState when None)."""
    app = flask.Flask(__name__)
    app.config[STATE_KEY] = state if state is not None else SandboxState()
    app.json.sort_keys = False  # type: ignore[attr-defined]
    register_handlers(app)
    for blueprint in (
        consent_views.bp,
        oauth_views.bp,
        gmail_views.bp,
        gmail_sync_views.bp,
        batch_views.bp,
        secret_views.bp,
        risc_views.bp,
        admin_views.bp,
    ):
        app.register_blueprint(blueprint)
    app.before_request(_start_clock)
    app.before_request(_note_connection)
    app.after_request(_simulate_latency)
    app.teardown_request(gmail_request.end_call)  # after the latency: a slow call stays in flight
    return app


def _start_clock() -> None:
    flask.g.sandbox_started = time.perf_counter()


def _note_connection() -> None:
    """Count the request on the connection it came on (served over a socket, test hooks and the
    calls inside a batch aside), so tests and the benchmark see whether clients keep theirs."""
    environ = flask.request.environ
    connection = environ.get(CONNECTION_KEY)
    if (
        connection is None
        or flask.request.path.startswith("/_sandbox/")
        or environ.get(batch_views.PART_ENVIRON_KEY)
    ):
        return
    view = flask.request.endpoint or "unrouted"
    current_state().connections.record(
        view, connection, first=bool(environ.get(FIRST_ON_CONNECTION_KEY))
    )


def _simulate_latency(response: flask.Response) -> flask.Response:
    """The `latency_ms` knob: every answer except the test hooks takes at least this long.

    The delay counts from the request's arrival, so the sandbox's own work is inside it, as
    Google's is inside the latency a client sees: a benchmark comparing its wall time with
    calls times latency then measures the client, not this stand-in. A batch is one round trip:
    it waits once, and the calls inside it do not wait again.
    """
    delay = current_state().behaviour.latency_ms
    request = flask.request
    if (
        delay
        and not request.path.startswith("/_sandbox/")
        and not request.environ.get(batch_views.PART_ENVIRON_KEY)
    ):
        started = flask.g.get("sandbox_started", time.perf_counter())
        remaining = started + delay / 1000 - time.perf_counter()
        if remaining > 0:
            time.sleep(remaining)
    return response
