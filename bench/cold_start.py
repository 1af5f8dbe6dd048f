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
from pathlib import Path

from bench.world import World

RUNS = 5
AUTHORIZE: dict[str, object] = {"method": "get", "path": "/?login_hint=cold@example.com"}
REPO = Path(__file__).resolve().parents[1]


def _sample(world: World, target: str, source: str, kind: str, request: dict[str, object]) -> float:
    env = {**os.environ, **world.env, "PYTHONPATH": str(REPO)}
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "bench.cold_child", target, source, kind, json.dumps(request)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    elapsed = (time.perf_counter() - started) * 1000
    if completed.returncode != 0:
        raise RuntimeError(f"{target} from {source} failed: {completed.stderr[-2000:]}")
    return elapsed


def _requests(world: World, user_id: str) -> dict[str, dict[str, object]]:
    """Fresh, real requests for each entry point (a callback needs a new code every time)."""
    query, cookies = world.pending_callback(f"cold-{uuid.uuid4().hex[:8]}@example.com")
    data = base64.b64encode(json.dumps({"user_id": user_id, "max_messages": 10}).encode())
    message_id = uuid.uuid4().hex
    return {
        "authorize": AUTHORIZE,
        "oauth2callback": {"method": "get", "path": f"/?{query}", "headers": cookies},
        "list_messages": {
            "method": "post",
            "path": "/",
            "headers": {
                "ce-id": message_id,
                "ce-specversion": "1.0",
                "ce-source": "//pubsub.googleapis.com/projects/bench/topics/requests",
                "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
            },
            "json": {"message": {"data": data.decode(), "messageId": message_id}},
        },
    }


def measure(world: World, user_id: str) -> dict[str, dict[str, float]]:
    """Median cold start (ms) per entry point, ours and eager, plus the hello-world baseline.

    ``authorize`` also has a ``secret_manager`` variant: ours with the Secret Manager client
    imported, as deployments started before they mounted their secrets as files.
    """
    kinds = {"authorize": "http", "oauth2callback": "http", "list_messages": "cloudevent"}
    samples: dict[str, dict[str, list[float]]] = {
        target: {"ours": [], "eager": []} for target in kinds
    }
    samples["authorize"]["secret_manager"] = []
    hello: list[float] = []
    for _ in range(RUNS):  # interleaved, so drift in machine load hits every variant alike
        hello.append(
            _sample(world, "hello", "bench/hello_main.py", "http", {"method": "get", "path": "/"})
        )
        samples["authorize"]["secret_manager"].append(
            _sample(world, "authorize", "bench/secret_manager_main.py", "http", AUTHORIZE)
        )
        for variant, source in (("ours", "main.py"), ("eager", "bench/eager_main.py")):
            requests = _requests(world, user_id)
            for target, kind in kinds.items():
                samples[target][variant].append(
                    _sample(world, target, source, kind, requests[target])
                )
    result = {
        target: {variant: statistics.median(values) for variant, values in by_variant.items()}
        for target, by_variant in samples.items()
    }
    result["hello"] = {"ours": statistics.median(hello), "eager": statistics.median(hello)}
    return result
