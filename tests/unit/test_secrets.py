"""Secret references: a version name goes to Secret Manager, anything else is a file."""

from __future__ import annotations

import json
import logging

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
