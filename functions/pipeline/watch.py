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

from functions.config import GMAIL_PUSH_TOPIC
from functions.errors import AppError, ConfigError, GmailRequestRejected
from functions.gmail.session import GmailSession
from functions.grants.reauth import active_user, marking_lost_grant
from functions.grants.store import Status, StoredCredentials, WatchState
from functions.services import Services

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
        ConfigError: ``GMAIL_PUSH_TOPIC`` is not set, or Gmail may not publish to it.
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


def _topic_refused(topic: str, http_status: int) -> ConfigError:
    """Gmail refuses a topic of another project (400) or one it may not publish to (403).

    WatchRequest.topicName in Gmail's API reference: the topic "must already exist in Cloud
    Pub/Sub", Gmail must have been granted "publish" permission on it, and its project "must
    exactly match" the project of the OAuth client. Every user would fail the same way, so this
    is the deployment's configuration, said once, in a sentence that names the variable.
    """
    message = (
        f"{GMAIL_PUSH_TOPIC} {topic}: Gmail refused to watch with it ({http_status}). The topic "
        "must exist in the OAuth client's project, and gmail-api-push@system.gserviceaccount.com "
        "must have roles/pubsub.publisher on it (infra/pubsub.tf grants it)."
    )
    logger.error(message, extra={"json_fields": {"event": "push_topic_refused"}})
    return ConfigError(message)


def _watch(services: Services, user: StoredCredentials) -> WatchState:
    settings = services.settings
    topic = settings.gmail_push_topic_path()
    body = {
        "topicName": topic,
        "labelIds": list(settings.watch_label_ids),
        "labelFilterBehavior": "include",
    }
    try:
        with marking_lost_grant(services, user):
            response = GmailSession(services, user).execute(
                lambda api: api.users.watch(userId="me", body=body)
            )
    except GmailRequestRejected as refused:
        if refused.http_status not in (400, 403):
            raise
        raise _topic_refused(topic, refused.http_status) from None
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
