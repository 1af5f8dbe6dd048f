"""Gmail push notifications, set up and kept alive (``users.watch``).

A watch makes Gmail publish ``{"emailAddress", "historyId"}`` to ``GMAIL_PUSH_TOPIC`` whenever
the watched labels change. It lapses after seven days, so Google recommends renewing it daily
(``renew_watches``, triggered by Cloud Scheduler). The returned ``historyId`` is where reading
changes starts; a renewal keeps the position already reached, so no change is skipped.
See https://developers.google.com/workspace/gmail/api/guides/push.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from functions.errors import AppError, ReauthRequired
from functions.mailbox import GmailSession, active_user, mark_reauth_required
from functions.services import Services
from functions.token_store import Status, StoredCredentials, WatchState

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenewReport:
    """What ``renew_watches`` did."""

    renewed: int = 0
    skipped: int = 0
    failed: int = 0

    def as_json(self) -> dict[str, int]:
        """The JSON the ``renew_watches`` function and CLI report."""
        return {"renewed": self.renewed, "skipped": self.skipped, "failed": self.failed}


def start_watch(services: Services, user_id: str) -> WatchState:
    """Ask Gmail to push the user's changes to ``GMAIL_PUSH_TOPIC``, and record the watch.

    Raises:
        UnknownUser, ReauthRequired: the user cannot be read.
        ConfigError: ``GMAIL_PUSH_TOPIC`` is not set.
        TransientError: Gmail or Firestore failed in a way that may pass.
    """
    user = active_user(services, user_id)
    return _watch(services, user)


def renew_watches(services: Services) -> RenewReport:
    """Renew the watch of every active user who has one; skip everyone else."""
    renewed = skipped = failed = 0
    for user in services.token_store.users():
        if user.watch is None or user.status is not Status.ACTIVE:
            skipped += 1
            continue
        try:
            _watch(services, user)
        except AppError as error:
            failed += 1
            logger.warning(
                "watch renewal failed",
                extra={"json_fields": {"user_id": user.user_id, "error": error.code}},
            )
        else:
            renewed += 1
    report = RenewReport(renewed, skipped, failed)
    logger.info("watches renewed", extra={"json_fields": report.as_json()})
    return report


def _watch(services: Services, user: StoredCredentials) -> WatchState:
    settings = services.settings
    topic = settings.gmail_push_topic_path()
    body = {
        "topicName": topic,
        "labelIds": list(settings.watch_label_ids),
        "labelFilterBehavior": "include",
    }
    try:
        response = GmailSession(services, user).execute(
            lambda api: api.users.watch(userId="me", body=body)
        )
    except ReauthRequired as lost:
        mark_reauth_required(services, user, lost.reason)
        raise
    watch = WatchState(
        history_id=str(response["historyId"]),
        expiration=datetime.fromtimestamp(int(response["expiration"]) / 1000, UTC),
        topic=topic,
        label_ids=settings.watch_label_ids,
    )
    services.token_store.save_watch(user.user_id, watch)
    logger.info(
        "watch started",
        extra={"json_fields": {"user_id": user.user_id, "expiration": watch.expiration}},
    )
    return watch
