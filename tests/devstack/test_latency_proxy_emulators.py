"""The benchmark's latency proxy in front of the real emulators: the client libraries work through
it, each call pays the injected round trip, and each call is counted once."""

from __future__ import annotations

import time
import uuid

import pytest

from bench.latency_proxy import LatencyProxy, sequential_round_trips
from devstack.emulators import EmulatorHosts
from devstack.pubsub_setup import ensure_topic, publisher_client

pytestmark = pytest.mark.integration

ROUND_TRIP_MS = 60


def test_firestore_writes_and_reads_through_the_proxy(
    fresh_emulators: EmulatorHosts, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.cloud import firestore

    with LatencyProxy("firestore", fresh_emulators.firestore_host, ROUND_TRIP_MS) as proxy:
        monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", proxy.host_port)
        client = firestore.Client(project=fresh_emulators.project)
        document = client.collection("proxy-test").document(uuid.uuid4().hex)
        document.get()  # the connection and its HTTP/2 settings, outside the measurement
        proxy.reset()

        started = time.monotonic()
        document.set({"n": 1, "text": "ünïcode ✓"})
        read = document.get()
        elapsed = time.monotonic() - started

        rpcs = proxy.rpcs()
    assert read.to_dict() == {"n": 1, "text": "ünïcode ✓"}
    assert elapsed >= 2 * ROUND_TRIP_MS / 1000
    # One Commit and one BatchGetDocuments, each a round trip of its own; under load the client
    # may add a call of its own (seen once on 2 busy cores), never fewer than the two.
    assert len(rpcs) >= 2
    assert sequential_round_trips(rpcs) >= 2


def test_a_publish_through_the_proxy_is_one_round_trip(
    emulators: EmulatorHosts, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google.cloud.pubsub_v1 import PublisherClient
    from google.cloud.pubsub_v1.types import BatchSettings

    with publisher_client(emulators.pubsub_host) as direct:
        topic = ensure_topic(direct, emulators.project, f"proxy-{uuid.uuid4().hex[:8]}")
    with LatencyProxy("pubsub", emulators.pubsub_host, ROUND_TRIP_MS) as proxy:
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", proxy.host_port)
        publisher = PublisherClient(batch_settings=BatchSettings(max_latency=0.001))
        publisher.publish(topic, b"warm-up").result(timeout=30)
        proxy.reset()
        started = time.monotonic()
        publisher.publish(topic, b"\x00\xffbytes").result(timeout=30)
        elapsed = time.monotonic() - started
        rpcs = proxy.rpcs()
        publisher.stop()
    assert elapsed >= ROUND_TRIP_MS / 1000
    assert len(rpcs) == 1
