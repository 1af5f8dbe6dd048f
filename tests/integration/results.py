"""Reading what ``list_messages`` publishes to the results topic."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

from devstack.emulators import DEFAULT_PROJECT
from devstack.pubsub_setup import (
    ensure_pull_subscription,
    ensure_topic,
    publisher_client,
    subscriber_client,
)

RESULTS_TOPIC = "mailbox-results"
SETTLE_SECONDS = 0.5
"""How long a subscription must stay empty for what was published to it to count as all there:
published messages can be pulled at once (the emulator stores them before it accepts them), so
this only allows for a slow moment of a loaded machine."""
MAX_PULL_SECONDS = 30.0
"""Bound on :func:`pull_all` while messages keep coming."""
POLL_SECONDS = 0.1
"""Pause after a pull that found nothing."""


def results_subscription(emulators: Any, topic: str = RESULTS_TOPIC) -> str:
    """A fresh pull subscription on ``topic``, so a test sees only what it caused."""
    host, project = emulators.pubsub_host, emulators.project
    ensure_topic(publisher_client(host), project, topic)
    return ensure_pull_subscription(
        subscriber_client(host), project, topic, f"{topic}-{uuid.uuid4().hex[:12]}"
    )


def pull_all(subscriber: Any, subscription: str) -> list[dict[str, Any]]:
    """Every message published so far, acknowledged, with attributes: pulled until none has come
    for :data:`SETTLE_SECONDS` (at most :data:`MAX_PULL_SECONDS`).

    Call it once the work that publishes has answered: every publisher of the product waits for
    Pub/Sub to accept what it sent before its function returns, so by then the messages are in
    the emulator and an empty subscription stays empty.
    """
    received: list[dict[str, Any]] = []
    deadline = time.monotonic() + MAX_PULL_SECONDS
    settled = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < min(settled, deadline):
        pulled = pull_once(subscriber, subscription)
        if pulled:
            received += pulled
            settled = time.monotonic() + SETTLE_SECONDS
        else:
            time.sleep(POLL_SECONDS)
    return received


def pull_once(subscriber: Any, subscription: str) -> list[dict[str, Any]]:
    """One pull: the messages waiting now, acknowledged, each body with its ``_attributes``."""
    bodies = []
    for message in pull_messages(subscriber, subscription):
        body = json.loads(message.data)
        body["_attributes"] = dict(message.attributes)
        bodies.append(body)
    return bodies


def pull_messages(subscriber: Any, subscription: str) -> list[Any]:
    """One pull: the Pub/Sub messages waiting now, acknowledged. It answers at once, found or
    not (the emulator's pull otherwise holds an empty answer back for seconds)."""
    request = {"subscription": subscription, "max_messages": 100, "return_immediately": True}
    response = subscriber.pull(request=request, timeout=10)
    if response.received_messages:
        subscriber.acknowledge(
            request={
                "subscription": subscription,
                "ack_ids": [m.ack_id for m in response.received_messages],
            }
        )
    return [item.message for item in response.received_messages]


def pull_until_closed(
    subscriber: Any, subscription: str, *, timeout: float = 60.0
) -> list[dict[str, Any]]:
    """Every result message, with its attributes, up to the closing one (``complete``/``error``)."""
    received: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pulled = pull_once(subscriber, subscription)
        received += pulled
        if _closed(received):
            return received
        if not pulled:
            time.sleep(POLL_SECONDS)
    raise AssertionError(f"no closing result within {timeout} s; got {len(received)} messages")


def _closed(received: list[dict[str, Any]]) -> bool:
    """A closing result arrived, and so did every batch it counts (Pub/Sub keeps no order)."""
    closing = [body for body in received if body["type"] in ("complete", "error")]
    if not closing:
        return False
    total = closing[0].get("total")
    if not isinstance(total, int):
        return True
    listed = sum(len(body.get("messages", [])) for body in received if body["type"] == "messages")
    return listed >= total


def pull_nothing(subscriber: Any, subscription: str) -> None:
    """Assert that nothing was published, once the work that would publish has answered
    (see :func:`pull_all`)."""
    received = pull_all(subscriber, subscription)
    assert not received, received


def cloud_event(
    payload: dict[str, Any] | bytes,
    *,
    message_id: str = "",
    topic: str = "mailbox-requests",
    project: str = DEFAULT_PROJECT,
) -> dict[str, Any]:
    """A Pub/Sub push delivery as infra/ configures it, ready for ``client.post(**...)``.

    The wrapped push envelope, posted to the function's URL with the topic as the path:
    functions-framework turns it into the ``messagePublished`` CloudEvent whose ``source`` names
    the topic (``//pubsub.googleapis.com/projects/P/topics/T``).
    """
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    message_id = message_id or uuid.uuid4().hex
    return {
        "path": f"/projects/{project}/topics/{topic}",
        "headers": {"Content-Type": "application/json"},
        "json": {
            "message": {
                "data": base64.b64encode(data).decode(),
                "messageId": message_id,
                "publishTime": "2026-11-29T12:00:00.000Z",
            },
            "subscription": f"projects/{project}/subscriptions/{topic}-push",
        },
    }
