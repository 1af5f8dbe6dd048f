"""Redaction: credential-shaped text never reaches a log line."""

from __future__ import annotations

import pytest

from functions.logging_setup import REDACTED, redact

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
