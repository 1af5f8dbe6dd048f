"""Keeping grants alive, and telling users before a time-limited one ends (the daily job).

- Idle grants: Google drops a refresh token unused for six months ("Refresh token expiration" in
  Google's OAuth 2.0 guide), so a pipeline that reads a mailbox rarely would lose its user
  without anyone noticing. Every active grant not used for ``KEEP_ALIVE_DAYS`` (150) is refreshed
  once, through the shared access token path, which records the use.
- Time-limited grants: a user may grant access for a limited time; the token response then
  carries ``refresh_token_expires_in``, stored as ``grant_expires_at``.
  ``GRANT_EXPIRY_WARNING_DAYS`` before it, the re-auth event goes out once with
  ``reason: grant_expiring``; once it has passed, the user is marked ``reauth_required``
  (``grant_expired``) without asking Google.
- Disconnects whose revocation failed: each tombstone's revocation is tried again
  (``grants.disconnect``); revoked or already invalid, the document is deleted; otherwise it
  waits for the next day.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from functions.errors import AppError, ReauthRequired
from functions.grants.access import TokenMinting, live_access_token
from functions.grants.disconnect import Disconnecting, revoke_and_forget
from functions.grants.reauth import (
    GRANT_EXPIRED,
    Reauthorizing,
    mark_reauth_required,
    notify_reauth,
)
from functions.grants.store import Status, StoredCredentials

logger = logging.getLogger(__name__)

GRANT_EXPIRING = "grant_expiring"
__all__ = ["GRANT_EXPIRED", "GRANT_EXPIRING", "GrantUpkeep", "UpkeepReport", "keep_grants_alive"]


class GrantUpkeep(TokenMinting, Reauthorizing, Disconnecting, Protocol):
    """What the daily upkeep of grants uses (the composition root provides it)."""


@dataclass(frozen=True)
class UpkeepReport:
    """What the daily upkeep of grants did."""

    refreshed: int = 0
    warned: int = 0
    expired: int = 0
    lost: int = 0
    failed: int = 0
    disconnected: int = 0
    """Tombstones whose revocation went through this time, deleted."""
    disconnect_pending: int = 0
    """Tombstones whose revocation failed again, kept for tomorrow."""

    def as_json(self) -> dict[str, int]:
        """The JSON the ``renew_watches`` function and CLI report under ``grants``."""
        return {
            "refreshed": self.refreshed,
            "warned": self.warned,
            "expired": self.expired,
            "lost": self.lost,
            "failed": self.failed,
            "disconnected": self.disconnected,
            "disconnect_pending": self.disconnect_pending,
        }


def keep_grants_alive(services: GrantUpkeep) -> UpkeepReport:
    """Warn of ending grants, mark ended ones, refresh idle ones, retry failed revocations; one
    user's failure is counted."""
    counts = dict.fromkeys(
        ("refreshed", "warned", "expired", "lost", "failed", "disconnected", "disconnect_pending"),
        0,
    )
    for user in services.token_store.users():
        if user.status is Status.DISCONNECTING:
            result = revoke_and_forget(services, user.user_id, user.refresh_token)
            counts["disconnect_pending" if result.pending else "disconnected"] += 1
            continue
        if user.status is not Status.ACTIVE:
            continue
        try:
            outcome = _upkeep(services, user)
        except ReauthRequired as lost:
            mark_reauth_required(services, user, lost.reason)
            counts["lost"] += 1
        except AppError as error:
            counts["failed"] += 1
            logger.warning(
                "grant upkeep failed",
                extra={"json_fields": {"user_id": user.user_id, "error": error.code}},
            )
        else:
            if outcome:
                counts[outcome] += 1
    report = UpkeepReport(**counts)
    logger.info("grants kept", extra={"json_fields": report.as_json()})
    return report


def _upkeep(services: GrantUpkeep, user: StoredCredentials) -> str | None:
    now = services.now()
    settings = services.settings
    ends = user.grant_expires_at
    if ends is not None and ends <= now:
        mark_reauth_required(services, user, GRANT_EXPIRED)
        return "expired"
    warn_from = None if ends is None else ends - timedelta(days=settings.grant_expiry_warning_days)
    if warn_from is not None and warn_from <= now and not user.expiry_warned:
        notify_reauth(services, user, GRANT_EXPIRING)
        services.token_store.mark_expiry_warned(user.user_id)
        return "warned"
    last_used = user.last_used_at or user.updated_at or user.created_at
    if last_used is None or now - last_used >= timedelta(days=settings.keep_alive_days):
        live_access_token(services, user, force=True)
        logger.info("idle grant refreshed", extra={"json_fields": {"user_id": user.user_id}})
        return "refreshed"
    return None
