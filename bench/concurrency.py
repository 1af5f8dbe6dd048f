"""Throughput of one instance serving 8 small mailbox requests at once against one at a time
(issue 17, item 5).

The event functions run with ``sizing.concurrency`` 8: a request spends nearly all its time
waiting on Firestore, Pub/Sub and Gmail, so one instance can wait on several at once. Both runs
go through the latency proxies and the sandbox's per-call latency, as in production, with one
warm :class:`~functions.services.Services` (one instance) and different users (Gmail's
per-user cap of concurrent calls is not what is measured here).
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.round_trips import LATENCY_MS
from bench.world import World
from functions.pipeline import ledger
from functions.pipeline.mailbox import read_mailbox
from functions.pipeline.requests import MailboxRequest
from functions.services import Services

CONCURRENCY = 8
MESSAGES = 10
REQUESTS = 48
"""Requests per run: six rounds of eight."""
GOAL = 6.0
"""8 at once sustain at least 6x the throughput of one at a time."""


def measure(world: World) -> dict[str, Any]:
    """Requests a second, one at a time and ``CONCURRENCY`` at once, through one instance."""
    users = []
    for n in range(CONCURRENCY):
        email = f"concurrent-{n}@example.com"
        users.append(world.connect(email))
        world.sandbox.seed_mailbox(email, MESSAGES)
    with (
        world.warm_instance(LATENCY_MS) as services,
        ThreadPoolExecutor(max_workers=CONCURRENCY) as pool,
    ):
        list(pool.map(lambda user: _request(services, user), users))  # warm every thread
        serial, cpu = _throughput(lambda work: [_request(services, u) for u in work], users)
        parallel, _ = _throughput(
            lambda work: list(pool.map(lambda u: _request(services, u), work)), users
        )
    return {"serial_rps": serial, "parallel_rps": parallel, "cpu_s": cpu}


def _request(services: Services, user_id: str) -> str:
    request = MailboxRequest(user_id=user_id, request_id=uuid.uuid4().hex, max_messages=MESSAGES)
    read_mailbox(services, "default", request, event_id=uuid.uuid4().hex)
    return request.request_id


def _throughput(run: Any, users: list[str]) -> tuple[float, float]:
    """Requests a second, and this process's CPU seconds a request (the instance's own work)."""
    work = [users[n % len(users)] for n in range(REQUESTS)]
    started, cpu = time.perf_counter(), time.process_time()
    run(work)
    ledger.settle()
    return REQUESTS / (time.perf_counter() - started), (time.process_time() - cpu) / REQUESTS


def report(row: dict[str, Any]) -> tuple[list[str], dict[str, bool]]:
    """Lines for the report, and the goal."""
    ratio = row["parallel_rps"] / row["serial_rps"]
    lines = [
        f"Concurrency: {REQUESTS} small ({MESSAGES}-message) mailbox requests through one warm"
        f" instance, with production latency ({LATENCY_MS} ms per Gmail call).",
        f"one at a time: {row['serial_rps']:.1f} requests/s; {CONCURRENCY} at once:"
        f" {row['parallel_rps']:.1f} requests/s; {ratio:.2f}x (goal: at least {GOAL:g}x).",
        f"The instance's own CPU: {row['cpu_s'] * 1000:.1f} ms a request, so one vCPU serves at"
        f" most {1 / row['cpu_s']:.0f} requests/s; the emulators and the sandbox share this"
        " machine's cores with it.",
    ]
    goal = (
        f"{CONCURRENCY} concurrent small requests on one instance at least {GOAL:g}x the throughput"
    )
    return lines, {goal: ratio >= GOAL}
