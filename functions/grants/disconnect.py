"""Disconnecting a user: revoke the grant at the provider, then forget it here.

When the provider confirms the revocation, or says the token was already invalid, the document
is deleted. When revocation fails (the provider is down or refuses), deleting would leave a live
grant with nothing left to retry from, so the document becomes a tombstone
(``GrantStore.keep_tombstone``): only the sealed refresh token stays, nothing reads the mailbox
with it, and the revocation is retried by the next ``disconnect`` call and by the daily job
(``grants.upkeep``) until it succeeds or the grant is already invalid.

The token is read the way ``reseal`` reads it, so one stored in plain text or sealed with a
legacy key is revoked too; one that nothing we hold opens stays as a tombstone, and the log says
to run ``reseal``. Every delete or tombstone is written in a transaction that finds the token
revoked still there (and, for the daily retry, still a tombstone): a user who consents again
while a revocation is on its way keeps their new grant. Google revokes per grant, so a consent
that lands after the revocation check but before Google acts is revoked with it; the next use
of the token finds that out and asks the user to consent again (``grants.reauth``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from functions.clock import Clock
from functions.config import Settings
from functions.consent.oauth_client import OAuthClient
from functions.consent.revoke import Revocation, revoke_token
from functions.grants.store import GrantStore, RefreshTokenToRevoke, Settled, Status

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
    superseded: bool = False
    """The document changed while the revocation was tried (the user consented again): it was
    left as it is, neither deleted nor made a tombstone."""

    @property
    def pending(self) -> bool:
        """Revocation failed and a tombstone waits for the retry."""
        return self.found and not self.deleted and not self.superseded

    def as_json(self) -> dict[str, object]:
        """The JSON the ``disconnect`` function and CLI report."""
        return {
            "user_id": self.user_id,
            "found": self.found,
            "revocation": self.revocation.value,
            "deleted": self.deleted,
            **({"superseded": True} if self.superseded else {}),
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
    stored = services.token_store.to_revoke(user_id)
    if stored is None:
        return Disconnected(user_id, found=False, revocation=Revocation.SKIPPED, deleted=False)
    return _revoke_then_settle(services, user_id, stored, tombstones_only=False)


def revoke_and_forget(services: Disconnecting, user_id: str, token: str | None) -> Disconnected:
    """The daily retry of a tombstone: revoke its token, then delete it, or keep it for the
    next day when revocation failed again.

    ``token`` is what the caller read from the tombstone (``None``: it could not read it). The
    tombstone is read again here, and nothing is revoked, deleted or kept unless it is still a
    tombstone holding that token: a user who consented again since keeps their new grant.
    """
    stored = services.token_store.to_revoke(user_id)
    if (
        stored is None
        or stored.status is not Status.DISCONNECTING
        or (token is not None and stored.token != token)
    ):
        return _settled(user_id, Revocation.SKIPPED, Settled.CHANGED)
    return _revoke_then_settle(services, user_id, stored, tombstones_only=True)


def _revoke_then_settle(
    services: Disconnecting, user_id: str, stored: RefreshTokenToRevoke, *, tombstones_only: bool
) -> Disconnected:
    revocation = Revocation.SKIPPED  # nothing stored: nothing to revoke
    if stored.token is not None:
        settings = services.settings
        revocation = revoke_token(
            services.http, settings.revoke_uri, stored.token, services.oauth_client
        )
    elif stored.stored is not None:
        revocation = Revocation.FAILED
        logger.error(
            "the stored refresh token cannot be read to revoke it: tombstone kept; run "
            "`python -m functions.cli reseal` with the key that sealed it listed",
            extra={"json_fields": {"event": "disconnect", "user_id": user_id}},
        )
    settled = services.token_store.settle_disconnect(
        user_id,
        services.now(),
        holding=stored.stored,
        keep=revocation is Revocation.FAILED,
        tombstones_only=tombstones_only,
    )
    return _settled(user_id, revocation, settled)


def _settled(user_id: str, revocation: Revocation, settled: Settled) -> Disconnected:
    result = Disconnected(
        user_id,
        found=True,
        revocation=revocation,
        deleted=settled is Settled.DELETED,
        superseded=settled is Settled.CHANGED,
    )
    message = {
        Settled.DELETED: "user disconnected",
        Settled.TOMBSTONE: "revocation failed; tombstone kept for the retry",
        Settled.CHANGED: "the document changed meanwhile (a new consent): left as it is",
    }[settled]
    logger.warning(message, extra={"json_fields": {"event": "disconnect", **result.as_json()}})
    return result
