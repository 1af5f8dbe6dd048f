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


def results_subscription(emulators: Any, topic: str = RESULTS_TOPIC) -> str:
    """A fresh pull subscription on ``topic``, so a test sees only what it caused."""
    host, project = emulators.pubsub_host, emulators.project
    ensure_topic(publisher_client(host), project, topic)
    return ensure_pull_subscription(
        subscriber_client(host), project, topic, f"{topic}-{uuid.uuid4().hex[:12]}"
    )


def pull_all(subscriber: Any, subscription: str, *, wait: float = 3.0) -> list[dict[str, Any]]:
    """Every message that arrives within ``wait`` seconds, acknowledged, with attributes."""
    received: list[dict[str, Any]] = []
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        received += pull_once(subscriber, subscription)
        time.sleep(0.3)
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
    """One pull: the Pub/Sub messages waiting now, acknowledged."""
    response = subscriber.pull(
        request={"subscription": subscription, "max_messages": 100}, timeout=10
    )
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
        received += pull_once(subscriber, subscription)
        if _closed(received):
            return received
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


def pull_nothing(subscriber: Any, subscription: str, *, wait: float = 3.0) -> None:
    """Assert that nothing arrives within ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        response = subscriber.pull(
            request={"subscription": subscription, "max_messages": 10}, timeout=5
        )
        assert not response.received_messages, [m.message.data for m in response.received_messages]
        time.sleep(0.5)


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
