"""Gmail push notifications, set up and kept alive (``users.watch``).

A watch makes Gmail publish ``{"emailAddress", "historyId"}`` to ``GMAIL_PUSH_TOPIC`` whenever
the watched labels change. It lapses after seven days, so Google recommends renewing it daily
(``renew_watches``, triggered by Cloud Scheduler). The returned ``historyId`` is where reading
changes starts; a renewal keeps the position already reached, so no change is skipped.
See https://developers.google.com/workspace/gmail/api/guides/push.

A notification names the mailbox only by its address, and an address is not an identity: a
Workspace address can be reassigned, so two users' documents may hold it. Each watch therefore
records the address Gmail itself gives the watched mailbox (``users.getProfile``), and a
notification goes to the one active watched user with that address, or to nobody
(:meth:`WatchPositions.watched_by_address`).
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from functions.config import GMAIL_PUSH_TOPIC
from functions.errors import ConfigError, GmailRequestRejected
from functions.gmail.session import GmailAccess, GmailSession
from functions.grants.reauth import Reauthorizing, active_user, marking_lost_grant
from functions.grants.store import Status, StoredCredentials, UserDocuments

logger = logging.getLogger(__name__)

WATCH = "watch"
"""The field of the user's document that holds the watch and its read position."""
EMAIL_ADDRESS = "email_address"
"""The watch's field holding the watched mailbox's address, as Gmail's profile gives it."""
ROUTING_LIMIT = 2
"""Enough users read per address to tell one from several."""

_BY_ADDRESS = futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="watch-by-address")
"""Reads a push's legacy address query while the recorded-address one runs (it waits on
nothing, so it cannot starve the pool of the read it runs inside)."""


@dataclass(frozen=True)
class WatchState:
    """The user's Gmail push subscription (``users.watch``) and how far its changes were read."""

    history_id: str
    expiration: datetime
    topic: str
    label_ids: tuple[str, ...]
    read_at: datetime | None = field(default=None, compare=False)
    """When the user's document this was read from last changed (its ``update_time``)."""
    email_address: str | None = None
    """The watched mailbox's address (Gmail's ``users.getProfile``); ``None`` on a watch
    recorded before addresses were, until its next renewal."""


class WatchPositions(UserDocuments):
    """The watch and its read position, kept in the ``watch`` field of the user's document."""

    def users(self) -> Iterator[tuple[StoredCredentials, WatchState | None]]:
        """Every stored user, with their watch (``None`` if not watched)."""
        for snapshot in self._collection_ref().stream():
            data = snapshot.to_dict() or {}
            yield self._read_leniently(snapshot.id, data), _watch_state(data.get(WATCH))

    def find_user(self, user_id: str) -> tuple[StoredCredentials, WatchState | None] | None:
        """The user and their watch, read from one document (``None`` for an unknown user)."""
        snapshot = self._document(user_id).get()
        if not snapshot.exists:
            return None
        data = snapshot.to_dict() or {}
        return self._read_leniently(user_id, data), _watch_state(
            data.get(WATCH), snapshot.update_time
        )

    def watched_by_address(self, email: str) -> list[tuple[StoredCredentials, WatchState]]:
        """The active watched users whose mailbox is ``email``, at most :data:`ROUTING_LIMIT`.

        First by the address each watch recorded; a watch recorded before addresses were is
        matched by the document's own ``email`` (what consent stored) until it is renewed.
        """
        from google.cloud.firestore_v1.base_query import FieldFilter

        active = FieldFilter("status", "==", Status.ACTIVE.value)
        collection = self._collection_ref()
        recorded = collection.where(filter=FieldFilter(f"{WATCH}.{EMAIL_ADDRESS}", "==", email))
        legacy = collection.where(filter=FieldFilter("email", "==", email))
        # Both at once, so a push waits for one round trip, not two; the answer is the one
        # reading them in turn gives (recorded first, several cut to the limit).
        legacy_read = _BY_ADDRESS.submit(
            contextvars.copy_context().run,
            lambda: list(legacy.where(filter=active).limit(ROUTING_LIMIT + 1).stream()),
        )
        recorded_read = list(recorded.where(filter=active).limit(ROUTING_LIMIT).stream())
        found: dict[str, tuple[StoredCredentials, WatchState]] = {}
        for snapshot in [*recorded_read, *legacy_read.result()]:
            data = snapshot.to_dict() or {}
            watch = _watch_state(data.get(WATCH), snapshot.update_time)
            if watch is None or watch.email_address not in (None, email):
                continue  # not watched, or the address recorded for it is another
            user = self._read_leniently(snapshot.id, data)
            if user.status is Status.ACTIVE:
                found.setdefault(snapshot.id, (user, watch))
        return list(found.values())[:ROUTING_LIMIT]

    def save(self, user_id: str, watch: WatchState) -> None:
        """Record a (renewed) watch, keeping how far changes were already read."""
        from google.cloud import firestore

        reference = self._document(user_id)

        @firestore.transactional
        def save(transaction: firestore.Transaction) -> None:
            snapshot = reference.get(transaction=transaction)
            known = _watch_state((snapshot.to_dict() or {}).get(WATCH)) if snapshot.exists else None
            history_id = known.history_id if known else watch.history_id
            transaction.update(
                reference,
                {
                    WATCH: {
                        "history_id": history_id,
                        "expiration": watch.expiration,
                        "topic": watch.topic,
                        "label_ids": list(watch.label_ids),
                        EMAIL_ADDRESS: watch.email_address,
                    }
                },
            )

        save(self._client.transaction())

    def advance(self, user_id: str, history_id: str, *, seen: WatchState | None = None) -> None:
        """Move the read position forward to ``history_id`` (never backwards).

        ``seen`` is the watch as read earlier: if the document has not changed since, one write
        conditional on that (a single round trip) moves it; otherwise a transaction reads the
        current position first.
        """
        from google.api_core.exceptions import FailedPrecondition
        from google.cloud import firestore

        reference = self._document(user_id)
        if seen is not None and seen.read_at is not None:
            if int(history_id) <= int(seen.history_id):
                return
            try:
                reference.update(
                    {f"{WATCH}.history_id": history_id},
                    option=self._client.write_option(last_update_time=seen.read_at),
                )
                return
            except FailedPrecondition:
                pass  # changed since it was read: decide on the current position

        @firestore.transactional
        def advance(transaction: firestore.Transaction) -> None:
            snapshot = reference.get(transaction=transaction)
            known = _watch_state((snapshot.to_dict() or {}).get(WATCH)) if snapshot.exists else None
            if known is not None and int(history_id) > int(known.history_id):
                transaction.update(reference, {f"{WATCH}.history_id": history_id})

        advance(self._client.transaction())


def _watch_state(data: object, read_at: datetime | None = None) -> WatchState | None:
    if not isinstance(data, dict) or not data.get("history_id"):
        return None
    raw: dict[str, Any] = data
    return WatchState(
        history_id=str(raw["history_id"]),
        expiration=raw["expiration"],
        topic=str(raw.get("topic", "")),
        label_ids=tuple(raw.get("label_ids") or ()),
        read_at=read_at,
        email_address=raw.get(EMAIL_ADDRESS) or None,
    )


class Watching(GmailAccess, Reauthorizing, Protocol):
    """What watching uses (the composition root provides it)."""

    @property
    def watch_positions(self) -> WatchPositions: ...


def start_watch(services: Watching, user_id: str) -> WatchState:
    """Ask Gmail to push the user's changes to ``GMAIL_PUSH_TOPIC``, and record the watch.

    Raises:
        UnknownUser, ReauthRequired: the user cannot be read.
        ConfigError: ``GMAIL_PUSH_TOPIC`` is not set, or Gmail may not publish to it.
        TransientError: Gmail or Firestore failed in a way that may pass.
    """
    user = active_user(services, user_id)
    return _watch(services, user)


def renew_watch(services: Watching, user: StoredCredentials) -> WatchState:
    """Renew the watch of ``user``, already read (the daily job's unit, ``pipeline.daily``),
    keeping the read position it reached.

    Raises:
        ReauthRequired: the grant is gone (the user is marked).
        ConfigError, TransientError: as :func:`start_watch`.
    """
    return _watch(services, user)


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


def _watch(services: Watching, user: StoredCredentials) -> WatchState:
    settings = services.settings
    topic = settings.gmail_push_topic_path()
    body = {
        "topicName": topic,
        "labelIds": list(settings.watch_label_ids),
        "labelFilterBehavior": "include",
    }
    with GmailSession(services, user) as session:
        with marking_lost_grant(services, user):
            # The address notifications will name this mailbox by (see the module docstring).
            profile = session.execute(lambda api: api.users.getProfile(userId="me"))
        try:
            with marking_lost_grant(services, user):
                response = session.execute(lambda api: api.users.watch(userId="me", body=body))
        except GmailRequestRejected as refused:
            if refused.http_status not in (400, 403):
                raise
            raise _topic_refused(topic, refused.http_status) from None
    watch = WatchState(
        history_id=str(response["historyId"]),
        expiration=datetime.fromtimestamp(int(response["expiration"]) / 1000, UTC),
        topic=topic,
        label_ids=settings.watch_label_ids,
        email_address=str(profile["emailAddress"]),
    )
    services.watch_positions.save(user.user_id, watch)
    logger.info(
        "watch started",
        extra={"json_fields": {"user_id": user.user_id, "expiration": watch.expiration}},
    )
    return watch
