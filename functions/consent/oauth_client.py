"""The OAuth client registration: the JSON downloaded from the Google Cloud console.

Google's libraries read the authorization and token endpoints from the client JSON
(``auth_uri``, ``token_uri``), and so do we: that is what lets the same code run against Google,
the local sandbox, or any standards-conformant OAuth 2.0 server.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from functions.config import OAUTH_CLIENT_SECRETS, is_secure_endpoint
from functions.errors import ConfigError

_REQUIRED = ("client_id", "client_secret", "auth_uri", "token_uri")


@dataclass(frozen=True)
class ClientID:
    """The public half of the registration: enough to send a browser to consent (``authorize``,
    which holds no client secret)."""

    client_id: str
    auth_uri: str


@dataclass(frozen=True)
class OAuthClient:
    """One OAuth client: who we are to the provider and where its endpoints live."""

    client_id: str
    client_secret: str
    auth_uri: str
    token_uri: str

    @property
    def issuer(self) -> str:
        """The authorization server's issuer identifier, which RFC 9207 §2 has it send back as
        ``iss`` with the authorization response: the origin of ``auth_uri``. For Google's
        ``https://accounts.google.com/o/oauth2/auth`` that is ``https://accounts.google.com``,
        Google's issuer; the sandbox's is its base URL, as its discovery document says."""
        parts = urlsplit(self.auth_uri)
        return f"{parts.scheme}://{parts.netloc}"

    def __repr__(self) -> str:
        return f"OAuthClient(client_id={self.client_id!r}, token_uri={self.token_uri!r})"

    @property
    def public(self) -> ClientID:
        """The client ID and authorization endpoint, without the secret."""
        return ClientID(self.client_id, self.auth_uri)

    def as_client_config(self) -> dict[str, dict[str, str]]:
        """The ``{"web": {...}}`` mapping google-auth-oauthlib's ``Flow`` expects."""
        return {
            "web": {
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "auth_uri": self.auth_uri,
                "token_uri": self.token_uri,
            }
        }


def parse_client_json(raw: bytes) -> OAuthClient:
    """Validate the console's client JSON and keep the fields the flow needs.

    Raises:
        ConfigError: naming ``OAUTH_CLIENT_SECRETS`` and what is wrong, never the secret itself.
    """
    try:
        document: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ConfigError(
            f"{OAUTH_CLIENT_SECRETS} does not hold JSON: expected the OAuth client file "
            'downloaded from the Google Cloud console ({"web": {...}}).'
        ) from None
    if not isinstance(document, dict):
        raise ConfigError(f"{OAUTH_CLIENT_SECRETS} must hold a JSON object with a 'web' key.")
    section = document.get("web")
    if not isinstance(section, dict):
        kinds = ", ".join(sorted(map(str, document))) or "nothing"
        raise ConfigError(
            f"{OAUTH_CLIENT_SECRETS} must describe a web application client "
            f"(a 'web' key), found {kinds}."
        )
    missing = [
        key for key in _REQUIRED if not isinstance(section.get(key), str) or not section[key]
    ]
    if missing:
        raise ConfigError(f"{OAUTH_CLIENT_SECRETS} lacks {', '.join(missing)} under 'web'.")
    for key in ("auth_uri", "token_uri"):
        if not is_secure_endpoint(section[key]):
            raise ConfigError(
                f"{OAUTH_CLIENT_SECRETS}: web.{key} must be an https URL "
                "(plain http only on localhost)."
            )
    return OAuthClient(
        client_id=section["client_id"],
        client_secret=section["client_secret"],
        auth_uri=section["auth_uri"],
        token_uri=section["token_uri"],
    )
