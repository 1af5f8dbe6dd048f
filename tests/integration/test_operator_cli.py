"""The operator's view, against the local stack: ``cli status`` and ``cli dead-letters``.

GIVEN mailbox requests the push subscription gave up on (dead letters, as Pub/Sub writes them),
WHEN the operator replays them, THEN each reaches ``list_messages`` again and is processed once,
even one dead-lettered twice (a replay that was itself dead-lettered).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from google.pubsub_v1 import PubsubMessage

from devstack.emulators import reset_firestore
from devstack.pubsub_setup import (
    ensure_pull_subscription,
    ensure_topic,
    publisher_client,
    subscriber_client,
)
from devstack.stack import LocalStack, StackPorts, Topology
from functions.pipeline.ledger import REPLAY_OF
from tests.integration.cli import run_cli
from tests.integration.results import pull_all, pull_once

pytestmark = pytest.mark.integration

TOPOLOGY = Topology(
    requests_topic="ops-requests",
    results_topic="ops-results",
    requests_push_subscription="ops-requests-push",
    results_pull_subscription="ops-results-cli",
    reauth_topic="ops-reauth",
    reauth_pull_subscription="ops-reauth-cli",
    gmail_push_topic="ops-gmail-push",
    gmail_push_subscription="ops-gmail-push-push",
    dead_letter_topic="ops-dead-letter",
    dead_letter_pull_subscription="ops-dead-letter-hold",
)
DEAD = ("--subscription", TOPOLOGY.dead_letter_pull_subscription)


@pytest.fixture(scope="module")
def stack(emulator_env: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(
        ports=StackPorts.any_free(),
        state_dir=tmp_path_factory.mktemp("ops"),
        emulators=emulator_env,
        topology=TOPOLOGY,
    ) as running:
        yield running


def _dead_letter(request_id: str, **extra: str) -> PubsubMessage:
    body = {"user_id": "nobody-stored", "request_id": request_id}
    return PubsubMessage(
        data=json.dumps(body).encode(),
        attributes={
            "CloudPubSubDeadLetterSourceSubscription": TOPOLOGY.requests_push_subscription,
            "CloudPubSubDeadLetterSourceDeliveryCount": "5",
            **extra,
        },
    )


def test_replay_delivers_each_dead_letter_once_and_status_shows_it(stack, emulator_env):
    reset_firestore(emulator_env.firestore_host, emulator_env.project)
    env = {**os.environ, **stack.cli_env}
    subscriber = subscriber_client(emulator_env.pubsub_host)
    results = ensure_pull_subscription(
        subscriber, emulator_env.project, TOPOLOGY.results_topic, "ops-results-test"
    )
    publisher = publisher_client(emulator_env.pubsub_host)
    dead_topic = publisher.topic_path(emulator_env.project, TOPOLOGY.dead_letter_topic)

    # GIVEN three dead-lettered requests
    first = publisher.publish(topic=dead_topic, messages=[_dead_letter("dl-1")]).message_ids[0]
    publisher.publish(topic=dead_topic, messages=[_dead_letter("dl-2"), _dead_letter("dl-3")])
    listed = run_cli(env, "dead-letters", "list", *DEAD)
    assert len(listed.strip().splitlines()) == 3
    shown = json.loads(run_cli(env, "dead-letters", "show", first, *DEAD))
    assert shown["source_subscription"] == TOPOLOGY.requests_push_subscription
    assert "dl-1" in shown["data"]

    # WHEN the operator replays them
    replayed = run_cli(env, "dead-letters", "replay", *DEAD)
    assert "replayed 3, skipped 0" in replayed
    outcomes = _errors_by_request(subscriber, results, expected=3)

    # AND the first one comes back dead-lettered again (a replay of a replay), and is replayed
    publisher.publish(topic=dead_topic, messages=[_dead_letter("dl-1", **{REPLAY_OF: first})])
    assert "replayed 1, skipped 0" in run_cli(env, "dead-letters", "replay", *DEAD)
    outcomes += _errors_by_request(subscriber, results, expected=0)

    # THEN each request was processed exactly once (unknown user: one not_authorized each)
    assert outcomes == Counter({"dl-1": 1, "dl-2": 1, "dl-3": 1})
    assert "no dead letters" in run_cli(env, "dead-letters", "list", *DEAD)

    # AND the status shows no users, no dead letters, and the three failures
    status = run_cli(
        env, "status", "--dead-letter-subscription", TOPOLOGY.dead_letter_pull_subscription
    )
    assert "users: 0 (none stored)" in status
    assert "grants near expiry: none recorded" in status
    assert f"dead letters in {TOPOLOGY.dead_letter_pull_subscription}: 0" in status
    assert "last errors (events that failed for good, from the event ledger): 3" in status
    assert status.count("not_authorized") == 3


def test_replay_with_a_topic_keeps_each_dead_letter_on_its_own_topic(stack, emulator_env):
    env = {**os.environ, **stack.cli_env}
    subscriber = subscriber_client(emulator_env.pubsub_host)
    publisher = publisher_client(emulator_env.pubsub_host)
    results = ensure_pull_subscription(
        subscriber, emulator_env.project, TOPOLOGY.results_topic, "ops-results-own-topic"
    )
    ensure_topic(publisher, emulator_env.project, "ops-elsewhere")
    elsewhere = ensure_pull_subscription(
        subscriber, emulator_env.project, "ops-elsewhere", "ops-elsewhere-pull"
    )
    dead_topic = publisher.topic_path(emulator_env.project, TOPOLOGY.dead_letter_topic)
    # GIVEN a dead letter that names its subscription, and one that does not
    orphan = PubsubMessage(data=b'{"user_id": "nobody-stored", "request_id": "orphan"}')
    publisher.publish(topic=dead_topic, messages=[_dead_letter("own"), orphan])

    # WHEN the operator replays them with --topic
    replayed = run_cli(env, "dead-letters", "replay", *DEAD, "--topic", "ops-elsewhere")

    # THEN the one that names its subscription goes back to that subscription's topic (another
    # pipeline's request must never be answered as this one's); only the orphan takes --topic
    assert "replayed 2, skipped 0" in replayed
    assert _errors_by_request(subscriber, results, expected=1) == Counter({"own": 1})
    [moved] = pull_all(subscriber, elsewhere)
    assert moved["request_id"] == "orphan"


def _errors_by_request(subscriber: Any, subscription: str, *, expected: int) -> Counter[str]:
    """Error completions by request ID: until ``expected`` arrived, then 5 s more for extras."""
    seen: Counter[str] = Counter()
    deadline = time.monotonic() + 60
    quiet_until: float | None = None
    while time.monotonic() < deadline:
        for body in pull_once(subscriber, subscription):
            if body["type"] == "error":
                seen[body["_attributes"]["request_id"]] += 1
        if sum(seen.values()) >= expected and quiet_until is None:
            quiet_until = time.monotonic() + 5
        if quiet_until is not None and time.monotonic() > quiet_until:
            break
        time.sleep(0.3)
    return seen
