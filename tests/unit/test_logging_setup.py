"""Redaction: neither credential-shaped text nor a secret of the request reaches a log line."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import flask
import pytest
from cloudevents.http import CloudEvent

from functions.clock import utcnow
from functions.exchange import exchange_code
from functions.logging_setup import (
    REDACTED,
    JsonFormatter,
    add_request_secret,
    event_context,
    redact,
    request_context,
)
from functions.oauth_client import parse_client_json
from functions.state import start

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
