"""The dead letters, for the operator: what is there, and replaying it to its original topic.

A push subscription moves a message it failed to deliver ``max_delivery_attempts`` times to the
dead-letter topic, adding attributes that name where it came from (Pub/Sub's "Handle message
failures": ``CloudPubSubDeadLetterSourceSubscription`` and its project,
``CloudPubSubDeadLetterSourceDeliveryCount``). A replay publishes the data and the original
attributes to the topic of that subscription, with ``ledger.REPLAY_OF`` naming the dead letter,
so the event ledger does the work once however often it is replayed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from functions.pipeline.ledger import REPLAY_OF

SOURCE_SUBSCRIPTION = "CloudPubSubDeadLetterSourceSubscription"
SOURCE_PROJECT = "CloudPubSubDeadLetterSourceSubscriptionProject"
DELIVERY_COUNT = "CloudPubSubDeadLetterSourceDeliveryCount"
_ADDED_BY_PUBSUB = "CloudPubSubDeadLetter"
PULL_SECONDS = 3.0
PUBLISH_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class DeadLetter:
    """One message held in the dead-letter subscription."""

    message_id: str
    publish_time: str
    data: bytes
    attributes: dict[str, str]
    ack_id: str = field(repr=False, default="")

    @property
    def original_id(self) -> str:
        """The ID the ledger knows the work by: the message a replay replays, else this one."""
        return self.attributes.get(REPLAY_OF) or self.message_id

    @property
    def source_subscription(self) -> str | None:
        """The subscription it was dead-lettered from, as Pub/Sub recorded it."""
        return self.attributes.get(SOURCE_SUBSCRIPTION)

    def as_json(self, *, with_data: bool = False) -> dict[str, object]:
        """What ``dead-letters list|show`` prints."""
        shown: dict[str, object] = {
            "message_id": self.message_id,
            "publish_time": self.publish_time,
            "source_subscription": self.source_subscription,
            "delivery_count": self.attributes.get(DELIVERY_COUNT),
            "attributes": self.attributes,
            "size": len(self.data),
        }
        if with_data:
            shown["data"] = self.data.decode("utf-8", "replace")
        return shown


@dataclass
class ReplayReport:
    """What a replay did."""

    replayed: int = 0
    skipped: int = 0
    skipped_ids: list[str] = field(default_factory=list)


def peek(subscriber: Any, subscription: str, *, limit: int = 10_000) -> list[DeadLetter]:
    """Every dead letter (up to ``limit``), each put back unconsumed (ack deadline 0)."""
    held = list(_pull(subscriber, subscription, limit))
    _put_back(subscriber, subscription, [letter.ack_id for letter in held])
    return held


def replay(
    subscriber: Any,
    publisher: Any,
    subscription: str,
    *,
    project: str,
    topic: str | None = None,
    limit: int = 10_000,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayReport:
    """Publish every dead letter to its original topic (or ``topic``) and acknowledge it.

    Args:
        subscriber, publisher: Pub/Sub clients.
        subscription: the dead-letter pull subscription's path.
        project: the project of a source subscription Pub/Sub named without one.
        topic: the topic to replay to, when the dead letter does not name its subscription.
        limit: replay at most this many.
        progress: told (done, total) after each message.

    A dead letter whose topic cannot be found is put back and counted as skipped.
    """
    held = list(_pull(subscriber, subscription, limit))
    report = ReplayReport()
    topics: dict[str, str] = {}
    skipped: list[str] = []
    for done, letter in enumerate(held, start=1):
        # Its own topic first: --topic must never move another pipeline's request to this one.
        target = _source_topic(subscriber, letter, project, topics) or topic
        if target is None:
            report.skipped += 1
            report.skipped_ids.append(letter.message_id)
            skipped.append(letter.ack_id)
        else:
            attributes = {
                key: value
                for key, value in letter.attributes.items()
                if not key.startswith(_ADDED_BY_PUBSUB)
            }
            attributes[REPLAY_OF] = letter.original_id
            publisher.publish(target, letter.data, **attributes).result(
                timeout=PUBLISH_TIMEOUT_SECONDS
            )
            subscriber.acknowledge(
                request={"subscription": subscription, "ack_ids": [letter.ack_id]}
            )
            report.replayed += 1
        if progress is not None:
            progress(done, len(held))
    _put_back(subscriber, subscription, skipped)
    return report


def _source_topic(
    subscriber: Any, letter: DeadLetter, project: str, known: dict[str, str]
) -> str | None:
    name = letter.source_subscription
    if not name:
        return None
    if "/" not in name:
        name = f"projects/{letter.attributes.get(SOURCE_PROJECT) or project}/subscriptions/{name}"
    if name not in known:
        from google.api_core import exceptions

        try:
            known[name] = str(subscriber.get_subscription(request={"subscription": name}).topic)
        except exceptions.NotFound:
            return None
    return known[name]


def _pull(subscriber: Any, subscription: str, limit: int) -> Iterator[DeadLetter]:
    """Pull until the subscription answers empty; messages stay held (not nacked)."""
    from google.api_core import exceptions

    seen: set[str] = set()
    deadline = time.monotonic() + PULL_SECONDS
    while len(seen) < limit:
        try:
            response = subscriber.pull(
                request={
                    "subscription": subscription,
                    "max_messages": min(100, limit - len(seen)),
                    "return_immediately": True,
                },
                timeout=10,
            )
        except exceptions.DeadlineExceeded:
            return
        if not response.received_messages:
            if seen or time.monotonic() > deadline:
                return
            time.sleep(0.2)  # an empty answer may come before the messages are ready
            continue
        for received in response.received_messages:
            message = received.message
            if message.message_id in seen:
                continue
            seen.add(message.message_id)
            yield DeadLetter(
                message_id=message.message_id,
                publish_time=message.publish_time.isoformat() if message.publish_time else "",
                data=bytes(message.data),
                attributes=dict(message.attributes),
                ack_id=received.ack_id,
            )


def _put_back(subscriber: Any, subscription: str, ack_ids: list[str]) -> None:
    for start in range(0, len(ack_ids), 1000):
        subscriber.modify_ack_deadline(
            request={
                "subscription": subscription,
                "ack_ids": ack_ids[start : start + 1000],
                "ack_deadline_seconds": 0,
            }
        )
