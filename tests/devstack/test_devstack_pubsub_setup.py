"""Topics and subscriptions on the real Pub/Sub emulator, and what a push looks like."""

from __future__ import annotations

import base64
import http.server
import json
import queue
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from google.pubsub_v1 import PubsubMessage

from devstack.emulators import EmulatorHosts
from devstack.pubsub_setup import (
    ensure_pull_subscription,
    ensure_push_subscription,
    ensure_topic,
    publisher_client,
    subscriber_client,
)

pytestmark = pytest.mark.integration


class _PushReceiver:
    """A tiny HTTP endpoint that records each push and acknowledges it with 204."""

    def __init__(self) -> None:
        self.received: queue.Queue[dict[str, Any]] = queue.Queue()
        received = self.received

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.put(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[_PushReceiver]:
    endpoint = _PushReceiver()
    yield endpoint
    endpoint.close()


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_push_subscription_delivers_the_push_envelope(
    emulators: EmulatorHosts, receiver: _PushReceiver
) -> None:
    # GIVEN a topic pushed to a local endpoint (created twice: setup is idempotent)
    project, topic = emulators.project, _name("requests")
    sub_id = f"{topic}-push"
    with publisher_client(emulators.pubsub_host) as publisher:
        with subscriber_client(emulators.pubsub_host) as subscriber:
            for _ in range(2):
                topic_path = ensure_topic(publisher, project, topic)
                ensure_topic(publisher, project, f"{topic}-dead")
                sub_path = ensure_push_subscription(
                    subscriber,
                    project,
                    topic,
                    sub_id,
                    receiver.url,
                    dead_letter_topic=f"{topic}-dead",
                )
            config = subscriber.get_subscription(subscription=sub_path)

        # WHEN a message is published
        publisher.publish(
            topic=topic_path,
            messages=[PubsubMessage(data=b'{"user_id": "42"}', attributes={"request_id": "r1"})],
        )

    # THEN it arrives as the envelope functions-framework turns into a CloudEvent
    envelope = receiver.received.get(timeout=15)
    assert envelope["subscription"] == f"projects/{project}/subscriptions/{sub_id}"
    assert base64.b64decode(envelope["message"]["data"]) == b'{"user_id": "42"}'
    assert envelope["message"]["attributes"] == {"request_id": "r1"}
    assert envelope["message"]["messageId"]
    # AND the subscription delivers as infra/ configures it (infra/functions.tf, pubsub.tf)
    assert config.ack_deadline_seconds == 600
    assert config.retry_policy.minimum_backoff.total_seconds() == 10
    assert config.retry_policy.maximum_backoff.total_seconds() == 600
    assert config.dead_letter_policy.dead_letter_topic == f"projects/{project}/topics/{topic}-dead"
    assert config.dead_letter_policy.max_delivery_attempts == 5
    assert not config.push_config.no_wrapper  # the wrapped envelope, as infra/ leaves it


def test_push_subscription_is_repointed_to_a_new_endpoint(
    emulators: EmulatorHosts, receiver: _PushReceiver
) -> None:
    # GIVEN a push subscription left pointing at an endpoint from an earlier run
    project, topic = emulators.project, _name("requests")
    with publisher_client(emulators.pubsub_host) as publisher:
        topic_path = ensure_topic(publisher, project, topic)
        ensure_topic(publisher, project, f"{topic}-dead")
        with subscriber_client(emulators.pubsub_host) as subscriber:
            ensure_push_subscription(
                subscriber,
                project,
                topic,
                f"{topic}-push",
                "http://127.0.0.1:9/",
                dead_letter_topic=f"{topic}-dead",
            )

            # WHEN it is ensured again with today's endpoint
            ensure_push_subscription(
                subscriber,
                project,
                topic,
                f"{topic}-push",
                receiver.url,
                dead_letter_topic=f"{topic}-dead",
            )

        # THEN messages go to today's endpoint
        publisher.publish(topic=topic_path, messages=[PubsubMessage(data=b"hello")])
    envelope = receiver.received.get(timeout=15)
    assert base64.b64decode(envelope["message"]["data"]) == b"hello"


def test_pull_subscription_receives_published_messages(emulators: EmulatorHosts) -> None:
    project, topic = emulators.project, _name("results")
    with (
        publisher_client(emulators.pubsub_host) as publisher,
        subscriber_client(emulators.pubsub_host) as subscriber,
    ):
        topic_path = ensure_topic(publisher, project, topic)
        sub_path = ensure_pull_subscription(subscriber, project, topic, f"{topic}-cli")
        ensure_pull_subscription(subscriber, project, topic, f"{topic}-cli")
        publisher.publish(topic=topic_path, messages=[PubsubMessage(data=b"result")])
        response = subscriber.pull(subscription=sub_path, max_messages=10, timeout=15)
    assert [m.message.data for m in response.received_messages] == [b"result"]
