"""The product's Cloud Functions served locally by functions-framework, one process each.

Each entry point gets its own server, as each is its own Cloud Function once deployed; the same
``main.py`` is the source of all of them. A function starts the way Cloud Run functions starts
it: the ``functions-framework`` console script (which serves with gunicorn on Linux) with the
variables the platform sets (``K_SERVICE``, ``FUNCTION_TARGET``, ``LOG_EXECUTION_ID=true``, ...),
so what runs locally, and under the tests, is what runs deployed.
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
CONSOLE_SCRIPT = "functions-framework"
PLATFORM_DEFAULTS = {"LOG_EXECUTION_ID": "true"}
"""What Cloud Run functions sets unless the function's own environment says otherwise (our
Terraform and deploy script set it too)."""


def platform_env(target: str, signature_type: str, port: int) -> dict[str, str]:
    """The variables Cloud Run functions reserves and sets in every instance of ``target``."""
    return {
        "K_SERVICE": target,
        "K_REVISION": f"{target}-00001-loc",
        "K_CONFIGURATION": target,
        "FUNCTION_TARGET": target,
        "FUNCTION_SIGNATURE_TYPE": signature_type,
        "PORT": str(port),
    }


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
    """Serve one entry point of ``source`` on ``127.0.0.1:port``, as Cloud Run functions does.

    Args:
        target: the entry point's name in ``source``.
        signature_type: ``http`` or ``cloudevent``.
        port: where to listen.
        env: the function's configuration, layered over this process's environment,
            :data:`PLATFORM_DEFAULTS` and :func:`platform_env` (all but ``PORT`` may be
            given there: the local stack passes the deployed service's names).
        log_dir: where ``<target>.log`` goes.
        source: the functions' source file, relative to ``repo_root``.
        repo_root: the working directory, so the source's own imports resolve.
        python: the interpreter whose environment has functions-framework installed; its
            ``functions-framework`` console script (beside it) serves the function.
        wait: whether to return only once the server answers HTTP.
        timeout: seconds to wait for that.

    Raises:
        StartupError: when the server exits (e.g. a configuration error) or stays silent.
    """
    # Each Cloud Run instance has a filesystem of its own. Here, gunicorn (25 and later) would put
    # every function's control socket at one path in $HOME, and all but one would log an error.
    runtime_dir = log_dir / "run" / target
    runtime_dir.mkdir(parents=True, exist_ok=True)
    process = ManagedProcess(
        f"{target} function",
        [
            str(Path(python).parent / CONSOLE_SCRIPT),
            f"--target={target}",
            f"--signature-type={signature_type}",
            f"--source={source}",
            f"--host={LOOPBACK}",
            f"--port={port}",
        ],
        log_path=log_dir / f"{target}.log",
        env={
            **os.environ,
            **PLATFORM_DEFAULTS,
            **platform_env(target, signature_type, port),
            # The deployment's own names (K_SERVICE is the service's name, not the target's).
            **env,
            "PORT": str(port),
            "XDG_RUNTIME_DIR": str(runtime_dir),
        },
        cwd=repo_root,
    ).start()
    if wait:
        try:
            process.wait_for_http(function_url(port), timeout)
        except BaseException:
            process.stop()
            raise
    return process
