"""A function with missing configuration refuses to start, with one sentence naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def serve(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Start functions-framework on main.py as Cloud Functions would; it must exit by itself."""
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("OAUTH_", "GMAIL_", "TOKEN_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "functions_framework", "--target", "authorize", "--port", "0"],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "sentence"),
    [
        ({}, "OAUTH_CLIENT_SECRETS is required"),
        ({"OAUTH_CLIENT_SECRETS": "/x.json"}, "OAUTH_REDIRECT_URI is required"),
        (
            {
                "OAUTH_CLIENT_SECRETS": "/x.json",
                "OAUTH_REDIRECT_URI": "https://a.example/cb",
                "TOKEN_ENCRYPTION_KEYS": "/k.json",
                "GMAIL_API_ROOT": "gmail",
            },
            "GMAIL_API_ROOT must be an absolute http(s) URL",
        ),
        (
            {
                "OAUTH_CLIENT_SECRETS": "/x.json",
                "OAUTH_REDIRECT_URI": "https://a.example/cb",
                "TOKEN_ENCRYPTION_KEYS": "/k.json",
                "OAUTH_SCOPES": "openid https://www.googleapis.com/auth/gmail.readonli",
            },
            "OAUTH_SCOPES holds a scope Google does not know",
        ),
    ],
)
def test_missing_or_malformed_configuration_stops_the_function_at_start_up(env, sentence):
    completed = serve(env)

    assert completed.returncode != 0
    [line] = completed.stderr.strip().splitlines()  # one sentence, no traceback
    assert line.startswith("Configuration error: ")
    assert sentence in line
