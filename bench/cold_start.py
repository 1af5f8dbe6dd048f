"""Cold start of each entry point against a hello-world function and a seed-style eager variant.

Each sample is the wall time of a whole child process (interpreter start, imports, app creation,
one real request against the emulators and the sandbox), the median of ``RUNS`` samples.
"""

from __future__ import annotations

import base64
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench import cpu_quota
from bench.cold_child import REPORT_PREFIX
from bench.world import World

RUNS = 5
AUTHORIZE: dict[str, object] = {"method": "get", "path": "/?login_hint=cold@example.com"}
REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ChildRun:
    """One cold child: its wall time, each request's time, its CPU time and peak memory."""

    wall_ms: float
    requests_ms: list[float]
    cpu_ms: float
    maxrss_mib: float


def run_child(
    world: World,
    target: str,
    source: str,
    kind: str,
    requests: list[dict[str, object]],
    procs: Path | None = None,
) -> ChildRun:
    """A fresh interpreter serving ``requests`` (the first one cold), joined to the cgroup whose
    ``cgroup.procs`` is ``procs`` before it starts, if given."""
    env = {**os.environ, **world.env, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "bench.cold_child", target, source, kind]
    argv += [json.dumps(request) for request in requests]
    started = time.perf_counter()
    completed = subprocess.run(
        argv if procs is None else cpu_quota.command(procs, argv),
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    elapsed = (time.perf_counter() - started) * 1000
    if completed.returncode != 0:
        raise RuntimeError(
            f"{target} from {source} failed: {completed.stderr[-2000:]}\n"
            f"its last output: {completed.stdout[-3000:]}"
        )
    [report] = [
        json.loads(line.removeprefix(REPORT_PREFIX))
        for line in completed.stdout.splitlines()
        if line.startswith(REPORT_PREFIX)
    ]
    return ChildRun(elapsed, report["requests_ms"], report["cpu_ms"], report["maxrss_kib"] / 1024)


def _sample(world: World, target: str, source: str, kind: str, request: dict[str, object]) -> float:
    return run_child(world, target, source, kind, [request]).wall_ms


# Every entry point of main.py and how functions-framework serves it, in the order they are
# sampled: watch comes before gmail_push, whose notification needs the watch.
KINDS = {
    "authorize": "http",
    "oauth2callback": "http",
    "disconnect": "http",
    "list_messages": "cloudevent",
    "watch": "http",
    "renew_watches": "http",
    "gmail_push": "cloudevent",
    "security_events": "http",
}


def _pubsub_push(payload: dict[str, object], topic: str) -> dict[str, object]:
    """A Pub/Sub push of ``payload``, as the push subscription delivers it."""
    message_id = uuid.uuid4().hex
    return {
        "method": "post",
        "path": "/",
        "headers": {
            "ce-id": message_id,
            "ce-specversion": "1.0",
            "ce-source": f"//pubsub.googleapis.com/projects/bench/topics/{topic}",
            "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        },
        "json": {
            "message": {
                "data": base64.b64encode(json.dumps(payload).encode()).decode(),
                "messageId": message_id,
            }
        },
    }


def request_for(world: World, target: str, user_id: str, email: str) -> dict[str, object]:
    """A fresh, real request for ``target``, made just before it is served.

    A callback needs a new code, disconnect a user of its own, and a Gmail notification new mail
    since the last watch.
    """
    if target == "authorize":
        return AUTHORIZE
    if target == "oauth2callback":
        query, cookies = world.pending_callback(f"cold-{uuid.uuid4().hex[:8]}@example.com")
        return {"method": "get", "path": f"/?{query}", "headers": cookies}
    if target == "disconnect":
        leaving = world.connect(f"leaving-{uuid.uuid4().hex[:8]}@example.com")
        return {"method": "post", "path": "/", "json": {"user_id": leaving}}
    if target == "list_messages":
        return _pubsub_push({"user_id": user_id, "max_messages": 10}, "requests")
    if target == "watch":
        return {"method": "post", "path": "/", "json": {"user_id": user_id}}
    if target == "renew_watches":
        return {"method": "post", "path": "/", "json": {}}
    if target == "security_events":
        # A token that does not hold up: the receiver loads all it needs, checks, answers 400.
        return {
            "method": "post",
            "path": "/",
            "data": "not.a.token",
            "headers": {"Content-Type": "application/secevent+jwt"},
            "expect": 400,
        }
    history_id = world.sandbox.deliver(email, 3)
    return _pubsub_push({"emailAddress": email, "historyId": history_id}, "gmail-push")


def measure(world: World, user_id: str, email: str) -> dict[str, dict[str, float]]:
    """Median cold start (ms) per entry point, ours and eager, plus the hello-world baseline.

    ``authorize`` also has a ``secret_manager`` variant: ours with the Secret Manager client
    imported, as deployments started before they mounted their secrets as files.
    """
    samples: dict[str, dict[str, list[float]]] = {
        target: {"ours": [], "eager": []} for target in KINDS
    }
    samples["authorize"]["secret_manager"] = []
    hello: list[float] = []
    variants = [("ours", "main.py"), ("eager", "bench/eager_main.py")]
    for _ in range(RUNS):  # interleaved, so drift in machine load hits every variant alike
        hello.append(
            _sample(world, "hello", "bench/hello_main.py", "http", {"method": "get", "path": "/"})
        )
        samples["authorize"]["secret_manager"].append(
            _sample(world, "authorize", "bench/secret_manager_main.py", "http", AUTHORIZE)
        )
        variants.reverse()  # and neither variant always goes first
        for variant, source in variants:
            for target, kind in KINDS.items():
                request = request_for(world, target, user_id, email)
                samples[target][variant].append(_sample(world, target, source, kind, request))
    result = {
        target: {variant: statistics.median(values) for variant, values in by_variant.items()}
        for target, by_variant in samples.items()
    }
    result["hello"] = {"ours": statistics.median(hello), "eager": statistics.median(hello)}
    return result
