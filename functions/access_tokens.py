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

from functions import google_errors
from functions.errors import TransientError
from functions.gmail import credentials_for
from functions.logging_setup import add_request_secret
from functions.services import Services
from functions.token_store import StoredCredentials

logger = logging.getLogger(__name__)

REFRESH_MARGIN = timedelta(minutes=5)
"""Refresh this long before expiry, so no call starts with a token about to die."""
WAIT_SECONDS = 15.0
"""How long an instance waits for another one's refresh before giving up (and retrying)."""
POLL_SECONDS = 0.1


def live_access_token(
    services: Services, user: StoredCredentials, *, refused: str | None = None, force: bool = False
) -> str:
    """An access token for ``user`` with at least ``REFRESH_MARGIN`` to live.

    Args:
        services: where the token store, the lease and the OAuth client are.
        user: the user's stored credentials (with their cached access token, if any).
        refused: a token Gmail just refused; it is never handed out again.
        force: refresh even when the cached token is fresh (the keep-alive of idle grants).

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
                return fresh or _refresh(services, current, refused)
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


def _refresh(services: Services, user: StoredCredentials, refused: str | None) -> str:
    """Call the token endpoint once and cache what it returns (holding the user's lease).

    When that fails, a cached token Gmail has refused is dropped, so that no instance uses it.
    """
    from google.auth.transport.requests import Request

    if user.refresh_token is None:
        raise TransientError("no refresh token to refresh with")
    credentials = credentials_for(user.refresh_token, services.oauth_client)
    try:
        credentials.refresh(Request(services.http))  # type: ignore[no-untyped-call]
    except Exception as error:
        if refused is not None and user.access_token == refused:
            services.token_store.clear_access_token(user.user_id)
        classified = google_errors.classify(error)
        if classified is None:
            raise
        raise classified from None
    add_request_secret(str(credentials.token), credentials.refresh_token)
    expiry = credentials.expiry  # google-auth keeps naive UTC
    expires_at = expiry.replace(tzinfo=UTC) if expiry else services.now() + timedelta(hours=1)
    rotated = credentials.refresh_token if credentials.refresh_token != user.refresh_token else None
    services.token_store.save_access_token(
        user.user_id, str(credentials.token), expires_at, services.now(), refresh_token=rotated
    )
    logger.info(
        "access token refreshed",
        extra={"json_fields": {"user_id": user.user_id, "rotated_refresh_token": bool(rotated)}},
    )
    return str(credentials.token)
