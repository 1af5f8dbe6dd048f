"""The client JSON is validated without ever showing the secret."""

from __future__ import annotations

import json

import pytest

from functions.consent.oauth_client import parse_client_json
from functions.errors import ConfigError

WEB = {
    "client_id": "id.apps.googleusercontent.com",
    "client_secret": "GOCSPX-very-secret",
    "auth_uri": "https://accounts.google.com/o/oauth2/auth",
    "token_uri": "https://oauth2.googleapis.com/token",
}


def test_the_console_download_is_accepted():
    client = parse_client_json(json.dumps({"web": {**WEB, "redirect_uris": []}}).encode())

    assert client.token_uri == WEB["token_uri"]
    assert client.as_client_config() == {"web": WEB}
    assert "very-secret" not in repr(client)
    assert client.issuer == "https://accounts.google.com"  # what Google sends back as iss


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"{", "does not hold JSON"),
        (b"[]", "JSON object"),
        (json.dumps({"installed": WEB}).encode(), "web application client"),
        (json.dumps({"web": {**WEB, "token_uri": ""}}).encode(), "lacks token_uri"),
        (json.dumps({"web": {**WEB, "auth_uri": "file:///x"}}).encode(), "web.auth_uri"),
        # the code, the client secret and the refresh token travel to these: never plain http
        (
            json.dumps({"web": {**WEB, "token_uri": "http://oauth2.example.com/token"}}).encode(),
            "web.token_uri must be an https URL",
        ),
        (
            json.dumps({"web": {**WEB, "auth_uri": "http://accounts.example.com/auth"}}).encode(),
            "web.auth_uri must be an https URL",
        ),
    ],
)
def test_malformed_client_json_names_the_variable(raw, match):
    with pytest.raises(ConfigError, match=match) as caught:
        parse_client_json(raw)

    assert str(caught.value).startswith("OAUTH_CLIENT_SECRETS")
    assert "very-secret" not in str(caught.value)


def test_plain_http_endpoints_are_accepted_on_loopback_only():
    local = {
        "auth_uri": "http://localhost:8090/o/oauth2/auth",
        "token_uri": "http://127.0.0.1:8090/token",
    }

    client = parse_client_json(json.dumps({"web": {**WEB, **local}}).encode())

    assert client.token_uri == local["token_uri"]
