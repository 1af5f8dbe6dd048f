"""Live access tokens for a user, shared by every instance, refreshed at most once per window.

The access token and its expiry are cached (sealed) in the user's document. A token with more
than ``REFRESH_MARGIN`` to live is used as it is; otherwise one instance takes the user's refresh
lease and refreshes while the others wait briefly and re-read. This is what makes fifty
concurrent requests for one user cost one call to the token endpoint instead of fifty.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from functions import google_errors
from functions.clock import Clock
from functions.consent.oauth_client import OAuthClient
from functions.errors import TransientError
from functions.grants.store import (
    ACCESS_TOKEN,
    ACCESS_TOKEN_EXPIRES_AT,
    GrantStore,
    StoredCredentials,
    UserDocuments,
)
from functions.logging_setup import add_request_secret

if TYPE_CHECKING:
    from google.auth.transport import Request
    from google.oauth2.credentials import Credentials

    from functions.grants.lease import RefreshLease

logger = logging.getLogger(__name__)

REFRESH_MARGIN = timedelta(minutes=5)
"""Refresh this long before expiry, so no call starts with a token about to die."""
WAIT_SECONDS = 15.0
"""How long an instance waits for another one's refresh before giving up (and retrying)."""
POLL_SECONDS = 0.1


class AccessTokenCache(UserDocuments):
    """The access-token cache on the user's document, shared by every instance."""

    def save(
        self,
        user_id: str,
        access_token: str,
        expires_at: datetime,
        now: datetime,
        *,
        refresh_token: str | None = None,
    ) -> None:
        """Cache a fresh access token (and a rotated refresh token, if the refresh gave one)."""
        fields = self._access_fields(user_id, access_token, expires_at)
        fields["last_used_at"] = now  # a refresh is a use of the refresh token
        if refresh_token:
            fields.update(self._refresh_fields(refresh_token, user_id))
            fields["updated_at"] = now
        self._document(user_id).update(fields)

    def clear(self, user_id: str) -> None:
        """Forget the cached access token (Gmail refused it)."""
        self._document(user_id).update({ACCESS_TOKEN: None, ACCESS_TOKEN_EXPIRES_AT: None})


class TokenMinting(Protocol):
    """What minting an access token uses (the composition root provides it)."""

    now: Clock

    @property
    def token_store(self) -> GrantStore: ...
    @property
    def access_tokens(self) -> AccessTokenCache: ...
    @property
    def refresh_lease(self) -> RefreshLease: ...
    @property
    def oauth_client(self) -> OAuthClient: ...
    @property
    def token_transport(self) -> Request:
        """google-auth's transport to the token endpoint, kept with its connection. It must
        outlive the call: google-auth's requests transport closes its session when collected."""


def live_access_token(
    services: TokenMinting,
    user: StoredCredentials,
    *,
    refused: str | None = None,
    force: bool = False,
    transport: Request | None = None,
) -> str:
    """An access token for ``user`` with at least ``REFRESH_MARGIN`` to live.

    Args:
        services: where the token store, the lease and the OAuth client are.
        user: the user's stored credentials (with their cached access token, if any).
        refused: a token Gmail just refused; it is never handed out again.
        force: refresh even when the cached token is fresh (the keep-alive of idle grants).
        transport: how to reach the token endpoint (default: ``services.token_transport``,
            the calling thread's); a helper thread passes the one of the request it works for.

    Raises:
        ReauthRequired: the refresh token was refused (``invalid_grant``).
        TransientError: the token endpoint failed, or another instance's refresh took too long.
    """
    owner = uuid.uuid4().hex
    deadline = time.monotonic() + WAIT_SECONDS
    current: StoredCredentials | None = user
    while True:
        if current is None:
            raise TransientError("the user's document disappeared during a refresh")
        cached = None if force else _fresh(current, services.now(), refused)
        if cached is not None:
            return cached
        if services.refresh_lease.acquire(current.user_id, owner, services.now()):
            try:
                current = services.token_store.get(current.user_id) or current
                fresh = None if force else _fresh(current, services.now(), refused)
                transport = transport or services.token_transport
                return fresh or _refresh(services, current, refused, transport)
            finally:
                services.refresh_lease.release(current.user_id, owner)
        if time.monotonic() > deadline:
            raise TransientError("another instance's token refresh did not finish in time")
        time.sleep(POLL_SECONDS)
        current = services.token_store.get(current.user_id)


def _fresh(user: StoredCredentials, now: datetime, refused: str | None) -> str | None:
    token, expires_at = user.access_token, user.access_token_expires_at
    if token and token != refused and expires_at and expires_at - REFRESH_MARGIN > now:
        return token
    return None


def _refresh(
    services: TokenMinting, user: StoredCredentials, refused: str | None, transport: Request
) -> str:
    """Call the token endpoint once and cache what it returns (holding the user's lease).

    When that fails, a cached token Gmail has refused is dropped, so that no instance uses it.
    """
    if user.refresh_token is None:
        raise TransientError("no refresh token to refresh with")
    credentials = credentials_for(user.refresh_token, services.oauth_client)
    try:
        with google_errors.mapped():
            credentials.refresh(transport)  # type: ignore[no-untyped-call]
    except Exception:
        if refused is not None and user.access_token == refused:
            services.access_tokens.clear(user.user_id)
        raise
    add_request_secret(str(credentials.token), credentials.refresh_token)
    expiry = credentials.expiry  # google-auth keeps naive UTC
    expires_at = expiry.replace(tzinfo=UTC) if expiry else services.now() + timedelta(hours=1)
    rotated = credentials.refresh_token if credentials.refresh_token != user.refresh_token else None
    services.access_tokens.save(
        user.user_id, str(credentials.token), expires_at, services.now(), refresh_token=rotated
    )
    logger.info(
        "access token refreshed",
        extra={"json_fields": {"user_id": user.user_id, "rotated_refresh_token": bool(rotated)}},
    )
    return str(credentials.token)


def credentials_for(refresh_token: str, client: OAuthClient) -> Credentials:
    """User credentials that mint access tokens from the stored refresh token.

    No scopes are passed: the refresh then yields the whole grant, and google-auth does not
    refuse a grant whose scope string is spelled differently from the request.
    """
    from google.oauth2.credentials import Credentials

    return Credentials(  # type: ignore[no-untyped-call]
        token=None,
        refresh_token=refresh_token,
        token_uri=client.token_uri,
        client_id=client.client_id,
        client_secret=client.client_secret,
    )
