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

from bench.world import STORAGE_LABELS, World
from devstack.emulators import DEFAULT_PROJECT
from devstack.pubsub_setup import (
    ensure_pull_subscription,
    ensure_topic,
    publisher_client,
    subscriber_client,
)
from functions.clock import utcnow
from functions.services import Services

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


def measure(world: World, users: int = USERS) -> dict[str, dict[str, float]]:
    """Connect ``users`` users, then run a day's job with the emulators as they are and another
    day's at production latency (``world.production_latency``)."""
    from functions import config

    host = os.environ["PUBSUB_EMULATOR_HOST"]
    with publisher_client(host) as publisher:
        ensure_topic(publisher, DEFAULT_PROJECT, TOPIC)
    with subscriber_client(host) as subscriber:
        ensure_pull_subscription(subscriber, DEFAULT_PROJECT, TOPIC, f"{TOPIC}-sink")
    world.env["UPKEEP_TOPIC"] = TOPIC
    world.apply()
    settings = config.get_settings()
    others = _active_users(Services(settings))  # connected by the benchmark's other parts
    _connect(Services(settings), users)
    rows = {"emulators": _day(Services(settings), users + others, day=1)}
    with world.production_latency():
        rows["production"] = _day(Services(config.get_settings()), users + others, day=2)
    return rows


def _active_users(services: Services) -> int:
    """The active users already stored: the daily job does their share too."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    collection = services.firestore.collection(services.settings.credentials_collection)
    active = collection.where(filter=FieldFilter("status", "==", "active"))
    return len(list(active.select([]).stream()))


def _connect(services: Services, users: int) -> None:
    """Write ``users`` active users, used yesterday and not watched."""
    now = services.now()
    collection = services.firestore.collection(services.settings.credentials_collection)
    for start in range(0, users, 500):
        batch = services.firestore.batch()
        for n in range(start, min(start + 500, users)):
            document = {"status": "active", "email": f"u{n}@example.com"}
            batch.set(
                collection.document(f"bench-daily-{n:06d}"),
                {**document, "last_used_at": now - timedelta(days=1)},
            )
        batch.commit()


def _day(services: Services, users: int, day: int) -> dict[str, float]:
    """One day's run: the dispatcher's handler, then every published unit to ``upkeep_user``."""
    import flask
    from google.cloud.firestore_v1.base_query import FieldFilter

    from functions.handlers.watch import handle_renew_watches

    services.now = lambda: utcnow() + timedelta(days=day)  # each day its own run ID
    host = os.environ["PUBSUB_EMULATOR_HOST"]
    subscription = f"projects/{DEFAULT_PROJECT}/subscriptions/{TOPIC}-sink"
    done = services.firestore.collection(services.settings.events_collection).where(
        filter=FieldFilter("status", "==", "done")
    )
    done_before = len(list(done.select([]).stream()))
    with _counted_reads() as reads:
        started = time.perf_counter()
        with flask.Flask(__name__).test_request_context("/", method="POST"):
            answer = handle_renew_watches(flask.request, services)
        dispatch_s = time.perf_counter() - started
        dispatch_reads = reads[0]
        delivered, last_done = _deliver_all(services, host, subscription)
        wall_s = last_done - started
        total_reads = reads[0]
    return {
        "users": users,
        "dispatched": float(json.loads(answer.get_data())["dispatched"]),
        "delivered": delivered,
        "done": len(list(done.select([]).stream())) - done_before,
        "dispatch_s": dispatch_s,
        "wall_s": wall_s,
        "reads_per_user": total_reads / users,
        "dispatch_reads_per_user": dispatch_reads / users,
    }


def _deliver_all(services: Services, host: str, subscription: str) -> tuple[int, float]:
    """Hand every published unit to ``upkeep_user`` on :data:`WORKERS` threads, as the push
    subscription would, acknowledging each page once it is done; how many were delivered, and
    when the last was done (:func:`time.perf_counter`; the empty pulls that show the
    subscription drained come after it and are not the job's time)."""
    from cloudevents.http import CloudEvent

    from functions.handlers.upkeep import handle_upkeep_user

    source = f"//pubsub.googleapis.com/projects/{DEFAULT_PROJECT}/topics/{TOPIC}"

    def deliver(received: Any) -> None:
        message = received.message
        data = base64.b64encode(message.data).decode()
        attributes = {
            "type": "google.cloud.pubsub.topic.v1.messagePublished",
            "source": source,
            "id": message.message_id,
        }
        event = {"message": {"data": data, "messageId": message.message_id}}
        handle_upkeep_user(CloudEvent(attributes, event), services)

    delivered = idle = 0
    last_done = time.perf_counter()
    with subscriber_client(host) as subscriber, ThreadPoolExecutor(WORKERS) as pool:
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
            ack_ids = [item.ack_id for item in received]
            subscriber.acknowledge(request={"subscription": subscription, "ack_ids": ack_ids})
            delivered += len(received)
            last_done = time.perf_counter()
    return delivered, last_done


def report(rows: dict[str, dict[str, float]]) -> tuple[list[str], dict[str, bool]]:
    """The daily job's lines and goals, in both worlds."""
    users = int(rows["emulators"]["users"])
    lines = [
        f"Daily job at {users:,} users (renew_watches' handler as deployed; each unit through"
        f" upkeep_user's handler, in-process on {WORKERS} threads standing for instances).",
        f"Baseline: one loop over every user inside renew_watches (timeout 1800 s); now its"
        f" timeout is {DISPATCH_TIMEOUT_S} s.",
        "world        dispatch_s  all_units_s  delivered   done   reads/user (dispatcher)",
    ]
    goals: dict[str, bool] = {}
    for world, row in rows.items():
        lines.append(
            f"{world:<12} {row['dispatch_s']:>10.1f} {row['wall_s']:>12.1f}"
            f" {int(row['delivered']):>10,} {int(row['done']):>6,}"
            f"   {row['reads_per_user']:.2f} ({row['dispatch_reads_per_user']:.2f})"
        )
        label = STORAGE_LABELS.get(world, world)
        goals[f"dispatcher within {DISPATCH_GOAL_SHARE:.0%} of its timeout, {label}"] = (
            row["dispatch_s"] <= DISPATCH_TIMEOUT_S * DISPATCH_GOAL_SHARE
        )
        goals[f"every one of {users:,} users dispatched and done once, {label}"] = (
            row["dispatched"] == row["done"] == users
        )
        goals[f"at most {READS_PER_USER_GOAL:g} Firestore reads per user, {label}"] = (
            row["reads_per_user"] <= READS_PER_USER_GOAL
        )
    return lines, goals
