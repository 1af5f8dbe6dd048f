"""The daily job at 10,000 users: ``renew_watches`` dispatches, ``upkeep_user`` does each unit.

The users are written straight into the Firestore emulator (active, used recently, not watched:
the unit reads the user, finds nothing due, and records itself done, so what is measured is the
fan-out and its bookkeeping, not Google). The dispatcher runs as deployed, through its handler
function; the consumer side runs in this process, every published message taken from a pull
subscription on ``UPKEEP_TOPIC`` and handed to ``handle_upkeep_user`` as the push subscription
would, on :data:`WORKERS` threads standing for that many instances. Firestore reads are counted
in the client (each document a ``get`` or a query returns is one billed read).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from devstack.emulators import DEFAULT_PROJECT
from devstack.pubsub_setup import (
    ensure_pull_subscription,
    ensure_topic,
    publisher_client,
    subscriber_client,
)

USERS = 10_000
WORKERS = 16
TOPIC = "bench-daily-upkeep"
DISPATCH_TIMEOUT_S = 600
"""``renew_watches``' timeout in infra/functions.json."""
DISPATCH_GOAL_SHARE = 0.25
"""The dispatcher's goal: within a quarter of its timeout, room for the scheduler's retry."""
READS_PER_USER_GOAL = 3.0


@contextlib.contextmanager
def _counted_reads() -> Iterator[list[int]]:
    """Count documents read through the Firestore client (``get`` and query results)."""
    from google.cloud.firestore_v1 import document, query

    count = [0]
    original_get, original_stream = document.DocumentReference.get, query.Query.stream

    def get(self: Any, *args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return original_get(self, *args, **kwargs)

    def stream(self: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        for snapshot in original_stream(self, *args, **kwargs):
            count[0] += 1
            yield snapshot

    document.DocumentReference.get = get  # type: ignore[method-assign]
    query.Query.stream = stream  # type: ignore[method-assign,assignment]
    try:
        yield count
    finally:
        document.DocumentReference.get = original_get  # type: ignore[method-assign]
        query.Query.stream = original_stream  # type: ignore[method-assign]


def measure(users: int = USERS) -> dict[str, float]:
    """Connect ``users`` users, run the day's job, and say what it took."""
    import flask
    from cloudevents.http import CloudEvent

    from functions import config, services
    from functions.handlers.upkeep import handle_upkeep_user
    from functions.handlers.watch import handle_renew_watches

    host = os.environ["PUBSUB_EMULATOR_HOST"]
    with publisher_client(host) as publisher:
        ensure_topic(publisher, DEFAULT_PROJECT, TOPIC)
    with subscriber_client(host) as subscriber:
        subscription = ensure_pull_subscription(subscriber, DEFAULT_PROJECT, TOPIC, f"{TOPIC}-sink")
    os.environ["UPKEEP_TOPIC"] = TOPIC
    config.get_settings.cache_clear()
    services.get_services.cache_clear()
    world = services.get_services()
    now = world.now()
    collection = world.firestore.collection(world.settings.credentials_collection)
    for start in range(0, users, 500):
        batch = world.firestore.batch()
        for n in range(start, min(start + 500, users)):
            batch.set(
                collection.document(f"bench-daily-{n:06d}"),
                {
                    "status": "active",
                    "email": f"u{n}@example.com",
                    "last_used_at": now - timedelta(days=1),
                },
            )
        batch.commit()

    with _counted_reads() as reads:
        started = time.perf_counter()
        with flask.Flask(__name__).test_request_context("/", method="POST"):
            answer = handle_renew_watches(flask.request, world)
        dispatch_s = time.perf_counter() - started
        dispatch_reads = reads[0]

        def deliver(message: Any) -> None:
            data = {
                "message": {
                    "data": base64.b64encode(message.message.data).decode(),
                    "messageId": message.message.message_id,
                }
            }
            source = f"//pubsub.googleapis.com/projects/{DEFAULT_PROJECT}/topics/{TOPIC}"
            event = CloudEvent(
                {
                    "type": "google.cloud.pubsub.topic.v1.messagePublished",
                    "source": source,
                    "id": message.message.message_id,
                },
                data,
            )
            handle_upkeep_user(event, world)

        delivered = 0
        with subscriber_client(host) as subscriber, ThreadPoolExecutor(WORKERS) as pool:
            idle = 0
            while idle < 3:
                response = subscriber.pull(
                    request={"subscription": subscription, "max_messages": 1000}, timeout=30
                )
                received = list(response.received_messages)
                if not received:
                    idle += 1
                    continue
                idle = 0
                list(pool.map(deliver, received))
                subscriber.acknowledge(
                    request={"subscription": subscription, "ack_ids": [m.ack_id for m in received]}
                )
                delivered += len(received)
        wall_s = time.perf_counter() - started
        total_reads = reads[0]

    done = sum(
        1
        for snapshot in world.firestore.collection(world.settings.events_collection)
        .where("status", "==", "done")
        .select([])
        .stream()
    )
    return {
        "users": users,
        "dispatched": float(json.loads(answer.get_data())["dispatched"]),
        "delivered": delivered,
        "done": done,
        "dispatch_s": dispatch_s,
        "wall_s": wall_s,
        "reads_per_user": total_reads / users,
        "dispatch_reads_per_user": dispatch_reads / users,
    }


def report(row: dict[str, float]) -> tuple[list[str], dict[str, bool]]:
    """The daily job's lines and goals."""
    users = int(row["users"])
    lines = [
        f"Daily job at {users:,} users"
        f" (dispatch as deployed; units in-process on {WORKERS} threads):",
        f"  dispatcher invocation: {row['dispatch_s']:.1f} s (timeout {DISPATCH_TIMEOUT_S} s;"
        f" baseline: one loop over every user in that invocation, timeout 1800 s)",
        f"  all units done:        {row['wall_s']:.1f} s wall; {int(row['delivered']):,} delivered,"
        f" {int(row['done']):,} done",
        f"  Firestore reads/user:  {row['reads_per_user']:.2f}"
        f" (dispatcher {row['dispatch_reads_per_user']:.2f})",
    ]
    goals = {
        f"dispatcher within {DISPATCH_GOAL_SHARE:.0%} of its timeout at {users:,} users": row[
            "dispatch_s"
        ]
        <= DISPATCH_TIMEOUT_S * DISPATCH_GOAL_SHARE,
        f"every one of {users:,} users dispatched and done exactly once": row["dispatched"]
        == row["done"]
        == users,
        f"at most {READS_PER_USER_GOAL:g} Firestore reads per user": row["reads_per_user"]
        <= READS_PER_USER_GOAL,
    }
    return lines, goals
