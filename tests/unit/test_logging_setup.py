"""Structured logging: one line per record whatever functions-framework installs, never a secret."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import flask
import functions_framework
import pytest
from cloudevents.http import CloudEvent
from functions_framework import execution_id

from devstack.token_keys import key_files
from functions import config, services
from functions.clock import utcnow
from functions.consent.exchange import exchange_code
from functions.consent.oauth_client import parse_client_json
from functions.consent.pending import start
from functions.logging_setup import (
    REDACTED,
    JsonFormatter,
    add_request_secret,
    configure_logging,
    event_context,
    redact,
    request_context,
)

REPO = Path(__file__).resolve().parents[2]
log = logging.getLogger("functions.test_logging_setup")


# -- redaction: credential shapes --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        # a JWT (an ID token), alone, in a sentence and in a URL
        ("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl", "eyJzdWIiOiIxMjMifQ"),
        ("got eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0. from the provider", "eyJzdWIiOiIxIn0"),
        ("https://x.example/cb?assertion_jwt=eyJhbGc.eyJzdWI.sig-nature_1", "eyJzdWI"),
        # ``name: value`` (YAML, headers, a mapping printed without quotes)
        ("refresh_token: abc", "abc"),
        ("refresh_token:abc123 and more", "abc123"),
        ("Access_Token :  opaque-value-9\n", "opaque-value-9"),
        ("client_secret: 'quoted secret'", "quoted secret"),
        ('code: "4-0-some-code"', "4-0-some-code"),
        ("{refresh_token: opaque-rt}", "opaque-rt"),
        # URL-encoded once, twice, and a JSON field URL-encoded
        ("next=%2Fcb%3Fcode%3Dopaque-code%26x%3D1", "opaque-code"),
        ("refresh_token%3Dabc%252Fdef%26scope%3Dx", "abc%252Fdef"),
        ("u=a%3Fstate%253Dopaque-state%2526x", "opaque-state"),
        ("body=%7B%22refresh_token%22%3A%22opaque-rt%22%7D", "opaque-rt"),
        ('body={"refresh_token"%3A"opaque-rt"}', "opaque-rt"),
        ("d=%22access_token%22%3A%20%22opaque-at%22%2C", "opaque-at"),
    ],
)
def test_credential_shapes_are_redacted(text, secret):
    redacted = redact(text)

    assert secret not in redacted
    assert REDACTED in redacted


@pytest.mark.parametrize(
    "text",
    [
        "GET /gmail/v1/users/me/messages?maxResults=500 HTTP/1.1",
        'http://127.0.0.1:8085 "POST /v1/projects/p/topics/t:publish HTTP/1.1" 200 32',
        "Starting new HTTP connection (1): 127.0.0.1:41234",
        '{"code": 400, "state": null}',
        "eyJ alone is not a token",
    ],
)
def test_ordinary_text_is_left_alone(text):
    assert redact(text) == text


def test_the_redacted_forms_keep_their_names():
    assert redact("refresh_token: abc") == f"refresh_token: {REDACTED}"
    assert redact("a%3Fcode%3Dxyz%26b") == f"a%3Fcode%3D{REDACTED}%26b"
    assert redact("%22id_token%22%3A%22xyz%22") == f"%22id_token%22%3A%22{REDACTED}%22"


# -- redaction: the secrets of a request or an event -------------------------------------------


def test_an_event_registers_its_secrets_until_it_ends():
    event = CloudEvent({"type": "t", "source": "s"}, {})
    with event_context(event, "p-1"):
        add_request_secret("opaque-access-token")
        assert redact("token opaque-access-token used") == f"token {REDACTED} used"
    assert redact("opaque-access-token") == "opaque-access-token"


def test_outside_a_request_nothing_is_kept():
    add_request_secret("opaque-access-token")

    assert redact("opaque-access-token") == "opaque-access-token"


def test_an_event_is_traced_from_its_traceparent():
    trace = "0af7651916cd43dd8448eb211c80319c"
    event = CloudEvent(
        {"type": "t", "source": "s", "traceparent": f"00-{trace}-b7ad6b7169203331-01"}, {}
    )

    with event_context(event, "p-1"):
        record = logging.LogRecord(log.name, logging.INFO, __file__, 1, "working", None, None)
        entry = json.loads(JsonFormatter().format(record))

    assert entry["logging.googleapis.com/trace"] == f"projects/p-1/traces/{trace}"


class _TokenEndpoint(BaseHTTPRequestHandler):
    """A token endpoint granting opaque tokens, which no credential pattern recognizes."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps(
            {
                "access_token": "opaque-access-value",
                "refresh_token": "opaque-refresh-value",
                "id_token": "opaque-id-token-value",
                "token_type": "Bearer",
                "expires_in": 3599,
                "scope": "openid email",
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def token_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TokenEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/token"
    server.shutdown()
    server.server_close()


def test_the_tokens_of_a_code_exchange_are_secrets_for_the_rest_of_the_request(
    token_endpoint, monkeypatch
):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # a loopback endpoint
    client = parse_client_json(
        json.dumps(
            {
                "web": {
                    "client_id": "cid",
                    "client_secret": "shh",
                    "auth_uri": "https://accounts.example/auth",
                    "token_uri": token_endpoint,
                }
            }
        ).encode()
    )
    pending = start(scopes=("openid", "email"), now=utcnow())

    with flask.Flask(__name__).test_request_context("/"), request_context(flask.request, "p"):
        exchange_code(client, pending, "opaque-code", "http://localhost/cb")
        line = redact("opaque-access-value opaque-refresh-value opaque-id-token-value")

    assert line == f"{REDACTED} {REDACTED} {REDACTED}"


# -- one record, one line ----------------------------------------------------------------------


@pytest.fixture
def root_logging() -> Iterator[None]:
    """Whatever a test (or functions-framework's dictConfig) does to logging is undone."""
    root, google = logging.getLogger(), logging.getLogger("google")
    handlers, level = root.handlers[:], root.level
    google_state = google.level, google.propagate, google.handlers[:]
    loggers = {
        name: logger.disabled
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    google.level, google.propagate, google.handlers[:] = google_state
    for name, disabled in loggers.items():
        logging.getLogger(name).disabled = disabled


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_functions_frameworks_execution_id_is_a_label_of_the_line(root_logging):
    buffer = io.StringIO()
    configure_logging(stream=buffer)
    app = flask.Flask(__name__)
    headers = {"Function-Execution-Id": "exec-1", "X-Cloud-Trace-Context": f"{'a' * 32}/42;o=1"}

    # functions-framework's own wrapper of a view sets its context from the headers
    with app.test_request_context("/", headers=headers):
        execution_id.set_execution_context(flask.request)(lambda: log.info("inside"))()
    with app.app_context():  # its context outlives the request: it no longer counts
        log.info("after")

    inside, after = lines(buffer)
    assert inside["logging.googleapis.com/labels"] == {"execution_id": "exec-1"}
    assert inside["logging.googleapis.com/spanId"] == "42"
    assert "logging.googleapis.com/labels" not in after


@pytest.mark.parametrize(
    "second",
    [
        # what functions-framework installs with LOG_EXECUTION_ID=true
        functions_framework._configure_app_execution_id_logging,
        # any other writer to the output
        lambda: logging.getLogger().addHandler(logging.StreamHandler(sys.stderr)),
        lambda: logging.getLogger().addHandler(logging.StreamHandler(sys.stdout)),
    ],
)
def test_a_second_handler_on_the_root_logger_never_writes_a_second_line(
    second, root_logging, capsys
):
    # GIVEN our logging, then someone else's handler on the root logger
    buffer = io.StringIO()
    configure_logging(stream=buffer, level=logging.DEBUG)
    second()

    # WHEN a request logs
    with flask.Flask(__name__).test_request_context("/"), request_context(flask.request, "p-1"):
        log.debug("one record")

    # THEN one line, ours, and nothing else on the output
    [entry] = lines(buffer)
    assert (entry["severity"], entry["message"]) == ("DEBUG", "one record")
    assert capsys.readouterr() == ("", "")
    outputs = (sys.stdout, sys.stderr, execution_id.logging_stream)
    streams = [getattr(handler, "stream", None) for handler in logging.getLogger().handlers]
    assert buffer in streams
    assert not [s for s in streams if any(s is output for output in outputs)]


_CLIENT_ORDER = """
import io, json, logging, sys
from google.api_core import client_logging
from functions.logging_setup import configure_logging
buffer = io.StringIO()
if sys.argv[1] == "client-first":
    client_logging.setup_logging()
configure_logging(stream=buffer)
client_logging.setup_logging()
logging.getLogger("google.cloud.pubsub_v1.test").warning("quota low")
print(buffer.getvalue(), end="")
"""


@pytest.mark.parametrize("order", ["ours-first", "client-first"])
def test_google_client_libraries_do_not_keep_their_records_from_the_line(order):
    # GIVEN a new process with our logging and a Google client set up, in either order (a
    # client stops "google" records at that logger unless it is configured already)
    # WHEN a client library logs a warning
    ran = subprocess.run(
        [sys.executable, "-c", _CLIENT_ORDER, order],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    # THEN it comes out once, as our JSON line, and nothing else is written
    [entry] = [json.loads(line) for line in ran.stdout.splitlines()]
    assert (entry["severity"], entry["message"]) == ("WARNING", "quota low")
    assert ran.stderr == ""


def test_main_served_with_log_execution_id_writes_each_record_once(
    root_logging, capsys, monkeypatch, tmp_path
):
    # GIVEN main.py loaded by functions-framework as Cloud Functions runs it
    client_json = tmp_path / "client.json"
    client_json.write_text(
        json.dumps(
            {
                "web": {
                    "client_id": "cid",
                    "client_secret": "GOCSPX-unit",
                    "auth_uri": "https://accounts.example/auth",
                    "token_uri": "https://accounts.example/token",
                }
            }
        )
    )
    for name, value in {
        "LOG_EXECUTION_ID": "true",
        "LOG_LEVEL": "DEBUG",
        "OAUTH_CLIENT_SECRETS": str(client_json),
        "OAUTH_REDIRECT_URI": "http://localhost:8082/",
        **key_files(tmp_path),
        "GOOGLE_CLOUD_PROJECT": "p-1",
    }.items():
        monkeypatch.setenv(name, value)
    config.get_settings.cache_clear()
    services.get_services.cache_clear()
    try:
        app = functions_framework.create_app("authorize", str(REPO / "main.py"), "http")

        # WHEN a consent starts
        response = app.test_client().get(
            "/?login_hint=a%40example.com",
            headers={"Function-Execution-Id": "exec-9", "X-Cloud-Trace-Context": "a" * 32},
        )
    finally:
        config.get_settings.cache_clear()
        services.get_services.cache_clear()

    # THEN its record is one JSON line with severity and the execution ID, and stderr is empty
    assert response.status_code == 302
    out, err = capsys.readouterr()
    assert err == ""
    entries = [json.loads(line) for line in out.splitlines()]
    [started] = [e for e in entries if e["message"] == "consent started"]
    assert started["severity"] == "INFO"
    assert started["logging.googleapis.com/labels"] == {"execution_id": "exec-9"}
    assert started["logging.googleapis.com/trace"] == f"projects/p-1/traces/{'a' * 32}"
