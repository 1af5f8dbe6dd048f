"""Disconnecting a user: revoke the grant at the provider, then forget it here.

When the provider confirms the revocation, or says the token was already invalid, the document
is deleted. When revocation fails (the provider is down or refuses), deleting would leave a live
grant with nothing left to retry from, so the document becomes a tombstone
(``GrantStore.keep_tombstone``): only the sealed refresh token stays, nothing reads the mailbox
with it, and the revocation is retried by the next ``disconnect`` call and by the daily job
(``grants.upkeep``) until it succeeds or the grant is already invalid. A token that cannot be
read (unopenable, or already known dead) cannot be revoked by us, and is deleted at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from functions.clock import Clock
from functions.config import Settings
from functions.consent.oauth_client import OAuthClient
from functions.consent.revoke import Revocation, revoke_token
from functions.crypto import TokenUnreadable
from functions.grants.store import GrantStore

if TYPE_CHECKING:
    import requests

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Disconnected:
    """The outcome of a disconnect."""

    user_id: str
    found: bool
    revocation: Revocation
    deleted: bool

    @property
    def pending(self) -> bool:
        """Revocation failed and a tombstone waits for the retry."""
        return self.found and not self.deleted

    def as_json(self) -> dict[str, object]:
        """The JSON the ``disconnect`` function and CLI report."""
        return {
            "user_id": self.user_id,
            "found": self.found,
            "revocation": self.revocation.value,
            "deleted": self.deleted,
        }


class Disconnecting(Protocol):
    """What a disconnect uses (the composition root provides it)."""

    settings: Settings
    now: Clock

    @property
    def token_store(self) -> GrantStore: ...
    @property
    def http(self) -> requests.Session: ...
    @property
    def oauth_client(self) -> OAuthClient: ...


def disconnect_user(services: Disconnecting, user_id: str) -> Disconnected:
    """Revoke ``user_id``'s grant, then delete their document, or keep a tombstone to retry
    from when revocation failed (a tombstone is retried here too)."""
    try:
        stored = services.token_store.get(user_id)
    except TokenUnreadable:
        token, found = None, True
    else:
        token, found = (stored.refresh_token if stored else None), stored is not None
    if not found:
        return Disconnected(user_id, found=False, revocation=Revocation.SKIPPED, deleted=False)
    return revoke_and_forget(services, user_id, token)


def revoke_and_forget(services: Disconnecting, user_id: str, token: str | None) -> Disconnected:
    """Revoke ``token`` at the provider; delete the document unless revocation failed, then
    keep (or leave) the tombstone. Used by ``disconnect`` and by the daily retry."""
    store = services.token_store
    revocation = Revocation.FAILED
    if token is not None:
        settings = services.settings
        revocation = revoke_token(services.http, settings.revoke_uri, token, services.oauth_client)
    if revocation is Revocation.FAILED and token is not None:
        # False when the document went meanwhile (a security event revoked the grant).
        deleted = not store.keep_tombstone(user_id, services.now())
    else:
        store.delete(user_id)
        deleted = True
    result = Disconnected(user_id, found=True, revocation=revocation, deleted=deleted)
    logger.warning(
        "revocation failed; tombstone kept for the retry"
        if result.pending
        else "user disconnected",
        extra={"json_fields": {"event": "disconnect", **result.as_json()}},
    )
    return result
