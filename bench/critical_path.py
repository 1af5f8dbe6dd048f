"""The critical path of a warm small mailbox request and of a Gmail push notification, against
its floor, at production storage latency (issue 17, item 2).

The floor is what the request cannot avoid: its Gmail calls, one storage round trip and one
publish. It is stated twice: nominally (the injected latencies: ``LATENCY_MS`` per Gmail call,
the proxies' Firestore and Pub/Sub round trips) and as measured here, from a bare call of each
kind made by the same warm clients through the same proxies (the emulators and the sandbox add a
few milliseconds of their own to each call, which no code of ours can remove). The goal, a warm
100-message request within ``GOAL`` of its floor, is judged against the measured floor.
"""

from __future__ import annotations

import collections
import functools
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench.latency_proxy import sequential_round_trips
from bench.round_trips import LATENCY_MS
from bench.world import World
from functions.gmail import api as gmail
from functions.gmail.session import GmailSession
from functions.pipeline import ledger
from functions.pipeline.mailbox import read_mailbox
from functions.pipeline.push import Notification, read_changes
from functions.pipeline.requests import MailboxRequest
from functions.pipeline.watch import start_watch
from functions.services import Services

MESSAGES = 100
RUNS = 7
GOAL = 1.3
"""A warm 100-message request within 1.3x of its measured floor."""


def measure(world: World, user_id: str, email: str) -> dict[str, dict[str, Any]]:
    """The warm mailbox request and the warm push notification, each with its floor."""
    world.sandbox.seed_mailbox(email, MESSAGES)
    with world.warm_instance(LATENCY_MS) as services:
        bare = _bare_calls(services, user_id)
        result = {
            "mailbox": _measured(world, bare, lambda: _mailbox(services, user_id)),
            "push": _measured(world, bare, _push(world, services, user_id, email)),
        }
    rtt = {name: proxy.round_trip_ms for name, proxy in world.proxies.items()}
    for row in result.values():
        row["nominal_floor_s"] = (
            row["gmail_calls"] * LATENCY_MS
            + rtt["FIRESTORE_EMULATOR_HOST"]
            + rtt["PUBSUB_EMULATOR_HOST"]
        ) / 1000
        row["bare"] = bare
    return result


def _bare_calls(services: Services, user_id: str) -> dict[str, float]:
    """Median seconds of one bare call of each kind: a document read, a publish, a Gmail list."""
    user = services.token_store.get(user_id)
    assert user is not None
    topic = services.settings.results_topic_path("default")
    reference = services.firestore.collection("bench-floor").document("one")
    with GmailSession(services, user) as session:
        calls: dict[str, Callable[[], object]] = {
            "firestore": reference.get,
            "pubsub": lambda: services.publisher.publish(topic, b"{}", type="floor").result(),
            "gmail": lambda: session.execute(
                functools.partial(gmail.list_request, page_token=None, remaining=MESSAGES)
            ),
        }
        return {kind: _median(call) for kind, call in calls.items()}


def _median(call: Callable[[], object]) -> float:
    call()  # connections and first imports, outside the measurement
    walls = []
    for _ in range(RUNS):
        started = time.perf_counter()
        call()
        walls.append(time.perf_counter() - started)
    return statistics.median(walls)


def _mailbox(services: Services, user_id: str) -> None:
    request = MailboxRequest(user_id=user_id, request_id=uuid.uuid4().hex, include_spam_trash=True)
    read_mailbox(services, "default", request, event_id=uuid.uuid4().hex)


def _push(world: World, services: Services, user_id: str, email: str) -> Callable[[], None]:
    """A run: three new messages arrive and Gmail's notification of them is read."""
    start_watch(services, user_id)

    def notified() -> None:
        history_id = int(world.sandbox.deliver(email, 3))
        world.reset_rpcs()  # the delivery is Gmail's doing, not the notification's
        world.sandbox.reset_calls()
        read_changes(services, Notification(email, history_id), event_id=uuid.uuid4().hex)

    return notified


def _measured(world: World, bare: dict[str, float], run: Callable[[], None]) -> dict[str, Any]:
    run()  # the warm-up: this instance has served one before
    walls, sequential, in_all, rpcs = [], [], [], collections.Counter[str]()
    gmail_calls = 0
    for _ in range(RUNS):
        world.reset_rpcs()
        world.sandbox.reset_calls()
        started = time.perf_counter()
        run()
        walls.append(time.perf_counter() - started)
        acknowledged = time.monotonic()
        ledger.settle()  # the done mark, sent as the event was acknowledged
        seen = world.rpcs()
        waited = [r for r in seen if r.closed is not None and r.closed <= acknowledged]
        sequential.append(sequential_round_trips(waited))
        in_all.append(sequential_round_trips(seen))
        rpcs = collections.Counter(rpc.service for rpc in seen)
        gmail_calls = sum(
            n for name, n in world.sandbox.call_counts().items() if name.startswith("gmail.")
        )
    wall = statistics.median(walls)
    floor = gmail_calls * bare["gmail"] + bare["firestore"] + bare["pubsub"]
    return {
        "wall_s": wall,
        "sequential": max(sequential),
        "in_all": max(in_all),
        "rpcs": dict(rpcs),
        "gmail_calls": gmail_calls,
        "floor_s": floor,
    }


def report(rows: dict[str, dict[str, Any]]) -> tuple[list[str], dict[str, bool]]:
    """Lines for the report, and the goal."""
    bare = rows["mailbox"]["bare"]
    lines = [
        f"Critical path, warm, with production latency ({LATENCY_MS} ms per Gmail call);"
        f" median of {RUNS} runs. Bare calls here: Firestore read {bare['firestore'] * 1000:.0f}"
        f" ms, publish {bare['pubsub'] * 1000:.0f} ms, Gmail list {bare['gmail'] * 1000:.0f} ms.",
        "floor = Gmail calls x bare Gmail call + one Firestore round trip + one publish"
        " (nominal: the injected latencies alone); seq = storage round trips the acknowledgement"
        " waited for one after another, +1 = the ledger's done mark sent as it is acknowledged.",
        f"{'path':<32}{'gmail':>6}{'rpcs':>7}{'seq':>7}{'wall s':>8}{'floor s':>9}"
        f"{'wall/floor':>11}{'nominal s':>10}{'wall/nom':>9}",
    ]
    names = {
        "mailbox": f"{MESSAGES}-message mailbox request",
        "push": "push notification (3 new)",
    }
    for key, row in rows.items():
        rpcs = f"{row['rpcs'].get('firestore', 0)}+{row['rpcs'].get('pubsub', 0)}"
        extra = row["in_all"] - row["sequential"]
        seq = f"{row['sequential']}+{extra}" if extra else str(row["sequential"])
        lines.append(
            f"{names[key]:<32}{row['gmail_calls']:>6}{rpcs:>7}{seq:>7}"
            f"{row['wall_s']:>8.3f}{row['floor_s']:>9.3f}{row['wall_s'] / row['floor_s']:>11.2f}"
            f"{row['nominal_floor_s']:>10.3f}{row['wall_s'] / row['nominal_floor_s']:>9.2f}"
        )
    mailbox = rows["mailbox"]
    lines.append(
        f"goal: the mailbox request within {GOAL}x of its floor, {GOAL * mailbox['floor_s']:.3f} s"
        f" (the push row is information)."
    )
    goal = f"warm {MESSAGES}-message request within {GOAL}x of its floor, at production latency"
    return lines, {goal: mailbox["wall_s"] <= GOAL * mailbox["floor_s"]}
