"""Step 2 of the guide: trade the one-time code for tokens (the seed's ``exchange_code``).

The code goes to the client JSON's ``token_uri`` with the client secret and the PKCE verifier
kept by ``authorize`` (RFC 6749 §4.1.3, RFC 7636 §4.5), through google-auth-oauthlib, over the
caller's kept connection to the token endpoint.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from functions.config import OAUTH_REDIRECT_URI
from functions.consent.oauth_client import OAuthClient
from functions.consent.pending import PendingAuthorization
from functions.errors import ConfigError, ExchangeFailed, UpstreamError
from functions.logging_setup import add_request_secret

if TYPE_CHECKING:
    import requests

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class TokenResponse:
    """What the token endpoint granted."""

    access_token: str
    refresh_token: str | None
    granted_scopes: tuple[str, ...]
    expires_at: datetime | None = None
    id_token: str | None = None
    refresh_token_expires_at: datetime | None = None
    """When a time-limited grant ends: Google adds ``refresh_token_expires_in`` to the token
    response when the user granted access for a limited time."""

    def __repr__(self) -> str:
        return (
            f"TokenResponse(refresh_token={'present' if self.refresh_token else 'absent'}, "
            f"granted_scopes={self.granted_scopes!r})"
        )


def exchange_code(
    client: OAuthClient,
    pending: PendingAuthorization,
    code: str,
    redirect_uri: str,
    http: requests.Session,
) -> TokenResponse:
    """Exchange ``code`` for tokens, over ``http``'s connections.

    requests-oauthlib makes its own session for the flow; ``http``'s transport adapters (which
    hold its connection pools) are mounted on it, so the exchange reuses the connection the
    instance keeps to the token endpoint instead of opening one per sign-in.

    Raises:
        ExchangeFailed: the provider refused the code (``invalid_grant``): a stale or replayed
            link, or a PKCE mismatch; the user has to start again.
        ConfigError: the provider refused ``redirect_uri`` (``redirect_uri_mismatch``).
        UpstreamError: the token endpoint failed or refused us for any other reason.
    """
    import requests
    from google_auth_oauthlib.flow import Flow
    from oauthlib.oauth2.rfc6749 import errors as oauth_errors

    # No scopes here: the grant may legitimately differ from the request (granular consent,
    # include_granted_scopes), and oauthlib would raise a "Scope has changed" warning.
    flow = Flow.from_client_config(
        client.as_client_config(),
        scopes=None,
        redirect_uri=redirect_uri,
        code_verifier=pending.code_verifier,
        autogenerate_code_verifier=False,
    )
    for prefix, adapter in http.adapters.items():
        flow.oauth2session.mount(prefix, adapter)
    try:
        token: dict[str, Any] = flow.fetch_token(code=code, timeout=TIMEOUT_SECONDS)
    except oauth_errors.InvalidGrantError:
        raise ExchangeFailed("the token endpoint refused the authorization code") from None
    except oauth_errors.OAuth2Error as error:
        if error.error == "redirect_uri_mismatch":
            raise _redirect_uri_refused(redirect_uri) from None
        logger.error("token endpoint error", extra={"json_fields": {"oauth_error": error.error}})
        raise UpstreamError(f"the token endpoint answered {error.error}") from None
    except (requests.RequestException, ValueError) as error:
        raise UpstreamError(f"the token endpoint failed: {type(error).__name__}") from None
    # Every token granted is a secret of this request from here on, the ID token included.
    add_request_secret(
        *(
            str(token[name])
            for name in ("access_token", "refresh_token", "id_token")
            if token.get(name)
        )
    )
    return TokenResponse(
        access_token=str(token["access_token"]),
        refresh_token=token.get("refresh_token") or None,
        granted_scopes=_scopes(token.get("scope")) or pending.scopes,
        expires_at=_expiry(token.get("expires_at")),
        id_token=str(token["id_token"]) if token.get("id_token") else None,
        refresh_token_expires_at=_grant_end(token.get("refresh_token_expires_in")),
    )


def _redirect_uri_refused(redirect_uri: str) -> ConfigError:
    """Google's token endpoint answers ``redirect_uri_mismatch`` (400) when the redirect URI
    differs from the authorization request's or is not one of the client's: this deployment's
    configuration, not a passing failure (OAuth 2.0 web-server guide, step 5)."""
    message = (
        f"{OAUTH_REDIRECT_URI} {redirect_uri}: the token endpoint answered redirect_uri_mismatch. "
        "It must be one of the OAuth client's authorized redirect URIs, and the same for every "
        "instance of authorize and oauth2callback."
    )
    logger.error(message, extra={"json_fields": {"oauth_error": "redirect_uri_mismatch"}})
    return ConfigError(message)


def _expiry(value: object) -> datetime | None:
    """requests-oauthlib turns ``expires_in`` into an absolute ``expires_at`` (epoch seconds)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    return None


def _grant_end(value: object) -> datetime | None:
    """``refresh_token_expires_in`` (seconds from now) as the moment the grant ends."""
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except ValueError:
            return None
        if seconds > 0:
            return datetime.now(UTC) + timedelta(seconds=seconds)
    return None


def _scopes(value: object) -> tuple[str, ...]:
    """RFC 6749 §3.3: a space-delimited string; oauthlib hands it back as a list."""
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list | tuple):
        return tuple(str(scope) for scope in value)
    return ()
