"""Throughput of one instance serving 8 small mailbox requests at once against one at a time
(issue 17, item 5).

The event functions run with ``sizing.concurrency`` 8: a request spends nearly all its time
waiting on Firestore, Pub/Sub and Gmail, so one instance can wait on several at once. Both runs
go through the latency proxies and the sandbox's per-call latency, as in production, with one
warm :class:`~functions.services.Services` (one instance) and different users (Gmail's
per-user cap of concurrent calls is not what is measured here).

``list_messages`` is deployed with 1 vCPU (``infra/functions.json``), and Firestore, Pub/Sub and
Gmail run on Google's machines, not on the instance's. So, where the machine has more than one
CPU, the instance (this process, every thread of it) runs on one CPU of its own and the
emulators, the sandbox and the latency proxies on the others, rather than all of them taking
turns on every core.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
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
        with cpu_of_its_own() as cpus:
            serial, cpu, _ = _throughput(lambda work: [_request(services, u) for u in work], users)
            parallel, _, world_cpu = _throughput(
                lambda work: list(pool.map(lambda u: _request(services, u), work)), users
            )
    return {
        "serial_rps": serial,
        "parallel_rps": parallel,
        "cpu_s": cpu,
        "cpus": cpus,
        "world_cpu_s": world_cpu,
    }


@contextlib.contextmanager
def cpu_of_its_own() -> Iterator[str]:
    """Within: this process's threads on one CPU, its child processes on the others; yields how
    the CPUs were shared, for the report. Every task's affinity is restored afterwards."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        yield f"one CPU, shared by the instance and the emulators ({len(cpus)} available)"
        return
    mine, theirs = {cpus[0]}, set(cpus[1:])
    ours, children = _tasks([os.getpid()]), _tasks(_descendants(os.getpid()))
    _pin(ours, mine)
    _pin(children, theirs)
    try:
        yield (
            f"the instance on CPU {cpus[0]} alone (its deployed 1 vCPU), the emulators, sandbox"
            f" and proxies on CPU {', '.join(map(str, sorted(theirs)))}"
        )
    finally:
        _pin(_tasks([os.getpid()]) | _tasks(_descendants(os.getpid())), set(cpus))


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid``, from ``/proc``."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _tasks(pids: list[int]) -> set[int]:
    """The threads of ``pids`` (an affinity belongs to a thread; new threads inherit it)."""
    tasks: set[int] = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            tasks |= {int(tid) for tid in os.listdir(f"/proc/{pid}/task")}
    return tasks


def _pin(tasks: set[int], cpus: set[int]) -> None:
    for task in tasks:
        with contextlib.suppress(OSError):  # it may have ended meanwhile
            os.sched_setaffinity(task, cpus)


def _request(services: Services, user_id: str) -> str:
    request = MailboxRequest(user_id=user_id, request_id=uuid.uuid4().hex, max_messages=MESSAGES)
    read_mailbox(services, "default", request, event_id=uuid.uuid4().hex)
    return request.request_id


def _throughput(run: Any, users: list[str]) -> tuple[float, float, dict[str, float]]:
    """Requests a second; this process's CPU seconds a request (the instance's own work); and
    the CPU seconds a request of each kind of child process (the emulators, the sandbox, the
    proxies: Google's side)."""
    work = [users[n % len(users)] for n in range(REQUESTS)]
    children = _descendants(os.getpid())
    started, cpu, theirs = time.perf_counter(), time.process_time(), _cpu_seconds(children)
    run(work)
    ledger.settle()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    spent: dict[str, float] = {}
    for pid, (kind, seconds) in _cpu_seconds(children).items():
        spent[kind] = spent.get(kind, 0.0) + (seconds - theirs.get(pid, (kind, 0.0))[1]) / REQUESTS
    return REQUESTS / wall, cpu / REQUESTS, spent


def _cpu_seconds(pids: list[int]) -> dict[int, tuple[str, float]]:
    """Each process's kind (Firestore, Pub/Sub, the sandbox, a proxy) and CPU seconds so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            command = Path(f"/proc/{pid}/cmdline").read_text()
            kind = next((k for k, mark in _KINDS.items() if mark in command), "other")
            found[pid] = (kind, (int(fields[11]) + int(fields[12])) / ticks)
    return found


_KINDS = {
    "Firestore emulator": "firestore-emulator",
    "Pub/Sub emulator": "pubsub-emulator",
    "sandbox": "-m\x00sandbox",
    "latency proxies": "multiprocessing",
}


def report(row: dict[str, Any]) -> tuple[list[str], dict[str, bool]]:
    """Lines for the report, and the goal."""
    ratio = row["parallel_rps"] / row["serial_rps"]
    lines = [
        f"Concurrency: {REQUESTS} small ({MESSAGES}-message) mailbox requests through one warm"
        f" instance, with production latency ({LATENCY_MS} ms per Gmail call).",
        f"one at a time: {row['serial_rps']:.1f} requests/s; {CONCURRENCY} at once:"
        f" {row['parallel_rps']:.1f} requests/s; {ratio:.2f}x (goal: at least {GOAL:g}x).",
        f"CPUs: {row['cpus']}.",
        "CPU a request, 8 at once, on Google's side here: "
        + ", ".join(f"{kind} {s * 1000:.1f} ms" for kind, s in row["world_cpu_s"].items() if s)
        + f"; {sum(row['world_cpu_s'].values()) * 1000:.1f} ms in all, so on their one CPU here"
        f" at most {1 / sum(row['world_cpu_s'].values()):.0f} requests/s (in production,"
        " Google's capacity, not the instance's concern).",
        f"The instance's own CPU: {row['cpu_s'] * 1000:.1f} ms a request, so one vCPU serves at"
        f" most {1 / row['cpu_s']:.0f} requests/s.",
    ]
    goal = (
        f"{CONCURRENCY} concurrent small requests on one instance at least {GOAL:g}x the throughput"
    )
    return lines, {goal: ratio >= GOAL}
