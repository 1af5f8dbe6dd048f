"""Secret references: a version name goes to Secret Manager, anything else is a file."""

from __future__ import annotations

import pytest

from functions.errors import ConfigError
from functions.secrets import is_secret_version, read_secret


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
