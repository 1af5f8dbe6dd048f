"""Constants and helpers shared by the sandbox tests (fixtures live in conftest.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

REDIRECT_URI = "http://localhost:8082/oauth2callback"
CLIENT_ID = "test-client.apps.sandbox.test"
CLIENT_SECRET = "test-secret"
EMAIL = "ada.lovelace@example.com"
GMAIL_READONLY = "https://www.googleapis.com/auth/gmail.readonly"
SCOPES = ("openid", "email", GMAIL_READONLY)
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636 appendix B


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, now: float = 1_760_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def consent_id_of(html: str) -> str:
    """The hidden consent_id of a rendered consent page."""
    match = re.search(r'name="consent_id" value="([^"]+)"', html)
    assert match, "consent page without consent_id"
    return match[1]


def redirect_params(location: str) -> dict[str, str]:
    """The query parameters of a redirect back to the client."""
    return dict(parse_qsl(urlsplit(location).query))


def retry_after_text(epoch_seconds: float) -> str:
    """How Gmail states a retry time in a rate-limit message: UTC, milliseconds, `Z`."""
    when = datetime.fromtimestamp(epoch_seconds, UTC)
    return f"Retry after {when.strftime('%Y-%m-%dT%H:%M:%S')}.{when.microsecond // 1000:03d}Z"
