"""The product's Cloud Functions served locally by functions-framework, one process each.

Each entry point gets its own server, as each is its own Cloud Function once deployed; the same
``main.py`` is the source of all of them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from devstack.paths import REPO_ROOT
from devstack.ports import LOOPBACK
from devstack.processes import ManagedProcess

DEFAULT_TIMEOUT = 30.0


def function_url(port: int, host: str = LOOPBACK) -> str:
    """Where a locally served function answers."""
    return f"http://{host}:{port}/"


def start_function(
    target: str,
    signature_type: str,
    port: int,
    env: Mapping[str, str],
    log_dir: Path,
    source: str = "main.py",
    *,
    repo_root: Path = REPO_ROOT,
    python: str = sys.executable,
    wait: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
) -> ManagedProcess:
    """Serve one entry point of ``source`` on ``127.0.0.1:port``.

    Args:
        target: the entry point's name in ``source``.
        signature_type: ``http`` or ``cloudevent``.
        port: where to listen.
        env: variables layered over this process's environment (the function's configuration).
        log_dir: where ``<target>.log`` goes.
        source: the functions' source file, relative to ``repo_root``.
        repo_root: the working directory, so the source's own imports resolve.
        python: the interpreter whose environment has functions-framework installed.
        wait: whether to return only once the server answers HTTP.
        timeout: seconds to wait for that.

    Raises:
        StartupError: when the server exits (e.g. a configuration error) or stays silent.
    """
    process = ManagedProcess(
        f"{target} function",
        [
            python,
            "-m",
            "functions_framework",
            f"--target={target}",
            f"--signature-type={signature_type}",
            f"--source={source}",
            f"--host={LOOPBACK}",
            f"--port={port}",
        ],
        log_path=log_dir / f"{target}.log",
        env={**os.environ, **env},
        cwd=repo_root,
    ).start()
    if wait:
        try:
            process.wait_for_http(function_url(port), timeout)
        except BaseException:
            process.stop()
            raise
    return process
