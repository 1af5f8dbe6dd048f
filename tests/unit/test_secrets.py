"""Secret references: a version name goes to Secret Manager, anything else is a file."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest

from functions.config import load_settings
from functions.crypto import with_new_token_key
from functions.errors import ConfigError
from functions.logging_setup import JsonFormatter
from functions.secrets import is_secret_version, read_secret
from functions.services import Services


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("projects/p/secrets/s/versions/3", True),
        ("projects/p/secrets/s/versions/latest", True),
        ("projects/p/secrets/s", False),
        ("/etc/client.json", False),
        ("client.json", False),
    ],
)
def test_version_names_are_told_from_paths(reference, expected):
    assert is_secret_version(reference) is expected


def test_a_file_is_read(tmp_path):
    path = tmp_path / "client.json"
    path.write_bytes(b"{}")

    assert read_secret(str(path), variable="OAUTH_CLIENT_SECRETS") == b"{}"


def test_a_missing_file_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match=r"^OAUTH_CLIENT_SECRETS points at a file"):
        read_secret(str(tmp_path / "nope.json"), variable="OAUTH_CLIENT_SECRETS")


def test_loading_the_token_keys_logs_their_ids_and_never_a_key(tmp_path, caplog):
    # GIVEN a keys file mid-rotation, mounted as a deployed function sees it
    first = with_new_token_key(None, "k1", primary=True)
    document = with_new_token_key(first.encode(), "k2", primary=True)
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(document)
    settings = load_settings(
        {
            "OAUTH_CLIENT_SECRETS": str(tmp_path / "client.json"),
            "OAUTH_REDIRECT_URI": "https://a.example/cb",
            "TOKEN_ENCRYPTION_KEYS": str(keys_file),
            "GOOGLE_CLOUD_PROJECT": "p-1",
        }
    )

    with caplog.at_level(logging.INFO, logger="functions.services"):
        keys = Services(settings).token_keys

    # THEN the line says which key seals, so an operator can tell when every instance has it
    assert keys.primary == "k2"
    [record] = [r for r in caplog.records if r.getMessage() == "token keys loaded"]
    assert record.json_fields == {"primary": "k2", "key_ids": ["k1", "k2"]}
    line = JsonFormatter().format(record)
    assert not [key for key in json.loads(document)["private_keys"].values() if key in line]


def test_a_function_without_a_key_it_needs_says_which(tmp_path):
    # GIVEN a function that mounts no token or cookie keys (security_events, as deployed)
    settings = load_settings(
        {
            "OAUTH_CLIENT_SECRETS": str(tmp_path / "client.json"),
            "OAUTH_REDIRECT_URI": "https://a.example/cb",
        }
    )
    services = Services(settings)

    # THEN it holds no token key at all, and asking for one names the variable
    assert services.token_sealer is None
    with pytest.raises(ConfigError, match=r"^TOKEN_ENCRYPTION_KEYS is required"):
        _ = services.token_keys
    with pytest.raises(ConfigError, match=r"^COOKIE_KEYS is required"):
        _ = services.cookie_keys


def _client_json(tmp_path, client_id):
    path = tmp_path / "client.json"
    web = {
        "client_id": client_id,
        "client_secret": "s",
        "auth_uri": "https://auth.example/o",
        "token_uri": "https://auth.example/token",
    }
    path.write_text(json.dumps({"web": web}))
    return str(path)


def test_authorize_sends_people_to_consent_with_the_client_id_alone(tmp_path):
    from devstack.token_keys import ensure_cookie_keys
    from functions.consent.pending import start

    # GIVEN authorize as deployed: the client ID and the cookie keys, no client secret
    settings = load_settings(
        {
            "OAUTH_CLIENT_ID": "123-abc.apps.googleusercontent.com",
            "OAUTH_REDIRECT_URI": "https://a.example/oauth2callback",
            "COOKIE_KEYS": str(ensure_cookie_keys(tmp_path / "cookie-keys.json")),
        }
    )
    page = Services(settings).consent_page
    pending = start(scopes=settings.scopes, now=datetime.now(UTC))

    # THEN the consent URL is Google's, for that client
    url = page.url(pending)
    assert url.startswith("https://accounts.google.com/o/oauth2/v2/auth?")
    assert "client_id=123-abc.apps.googleusercontent.com" in url


def test_a_client_json_of_another_client_than_the_client_id_is_refused(tmp_path):
    settings = load_settings(
        {
            "OAUTH_CLIENT_ID": "123-abc.apps.googleusercontent.com",
            "OAUTH_CLIENT_SECRETS": _client_json(tmp_path, "999-other.apps.googleusercontent.com"),
            "OAUTH_REDIRECT_URI": "https://a.example/oauth2callback",
        }
    )
    with pytest.raises(ConfigError, match=r"^OAUTH_CLIENT_SECRETS holds client"):
        _ = Services(settings).oauth_client
    same = load_settings(
        {
            "OAUTH_CLIENT_ID": "123-abc.apps.googleusercontent.com",
            "OAUTH_CLIENT_SECRETS": _client_json(tmp_path, "123-abc.apps.googleusercontent.com"),
            "OAUTH_REDIRECT_URI": "https://a.example/oauth2callback",
        }
    )
    assert Services(same).oauth_client.client_id == "123-abc.apps.googleusercontent.com"
