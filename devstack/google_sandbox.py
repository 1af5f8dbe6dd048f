"""The project's Google sandbox (the ``sandbox`` package) as a child process.

It registers an OAuth client for our redirect URI and writes the client JSON the functions read
through ``OAUTH_CLIENT_SECRETS``, exactly as a client downloaded from the Cloud console.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from devstack.errors import StartupError
from devstack.paths import REPO_ROOT
from devstack.ports import LOOPBACK
from devstack.processes import ManagedProcess

HEALTH_PATH = "/_sandbox/health"
CONSENT_PATH = "/o/oauth2/v2/auth"
"""Google's authorization endpoint, where the sandbox shows its consent page."""
ADMIN_PATHS = {"admin knobs": "/_sandbox/behaviour", "admin call counts": "/_sandbox/calls"}
"""The sandbox's admin hooks that answer a GET (JSON); the others (``sandbox/admin_views.py``)
take a POST: ``mailboxes/<email>``, ``users/<email>/revoke``, ..."""
DEFAULT_TIMEOUT = 30.0


def sandbox_url(port: int) -> str:
    """The sandbox's base URL, without a trailing slash."""
    return f"http://{LOOPBACK}:{port}"


def start_sandbox(
    port: int,
    redirect_uri: str,
    client_json: Path,
    log_dir: Path,
    *,
    repo_root: Path = REPO_ROOT,
    python: str = sys.executable,
    pubsub_emulator_host: str = "",
    project: str = "sandbox",
    gmail_push_topics: tuple[str, ...] = (),
    client_id: str | None = None,
) -> ManagedProcess:
    """Launch ``python -m sandbox`` without waiting; see :func:`wait_for_sandbox`.

    With ``pubsub_emulator_host``, the sandbox publishes Gmail push notifications there. The
    client belongs to ``project``; Gmail may publish to ``gmail_push_topics`` (as the IAM
    binding for gmail-api-push@system.gserviceaccount.com in ``infra/pubsub.tf`` allows), which
    must be topics of that project, as Gmail requires. ``client_id`` fixes the client's ID
    (random otherwise), so the functions can be given it before the sandbox starts.

    A client JSON left from an earlier run is removed first, so waiting sees only this run's.
    """
    client_json.unlink(missing_ok=True)
    client_json.parent.mkdir(parents=True, exist_ok=True)
    return ManagedProcess(
        "Google sandbox",
        [
            python,
            "-m",
            "sandbox",
            f"--host={LOOPBACK}",
            f"--port={port}",
            f"--redirect-uri={redirect_uri}",
            f"--write-client-json={client_json}",
            *([f"--pubsub-emulator-host={pubsub_emulator_host}"] if pubsub_emulator_host else []),
            f"--project={project}",
            *([f"--client-id={client_id}"] if client_id else []),
            *(f"--gmail-push-topic={topic}" for topic in gmail_push_topics),
        ],
        log_path=log_dir / "sandbox.log",
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=repo_root,
    ).start()


def wait_for_sandbox(
    process: ManagedProcess, port: int, client_json: Path, timeout: float = DEFAULT_TIMEOUT
) -> None:
    """Wait until the sandbox is healthy and has written the client JSON.

    Raises:
        StartupError: when it exits, stays silent, or never writes the file.
    """
    deadline = time.monotonic() + timeout
    process.wait_for_http(sandbox_url(port) + HEALTH_PATH, timeout, expect_status=200)
    while not client_json.is_file():
        if time.monotonic() >= deadline or not process.running:
            raise StartupError(
                f"The Google sandbox did not write {client_json}. "
                f"Log {process.log_path}, last lines:\n{process.tail()}"
            )
        time.sleep(0.05)
