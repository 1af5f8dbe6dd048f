"""``python -m devstack`` (``make dev``): the whole local stack until Ctrl-C.

    python -m devstack            # up on the fixed ports, prints the URL to open, waits
    python -m devstack --check    # up, every part answers, banner, down; exit 0 (used by a test)

Setting ``OAUTH_CLIENT_SECRETS`` and ``OAUTH_REDIRECT_URI`` (or ``--client-secrets`` and
``--redirect-uri``) runs against real Google instead of the sandbox.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path
from types import FrameType

from devstack.banner import render_banner
from devstack.emulators import DEFAULT_PROJECT
from devstack.envfile import write_env_file
from devstack.errors import DevStackError
from devstack.function_env import (
    OAUTH_CLIENT_SECRETS,
    OAUTH_REDIRECT_URI,
    real_google_from_env,
)
from devstack.health import check_stack
from devstack.paths import DEFAULT_STATE_DIR, REPO_ROOT
from devstack.stack import LocalStack, StackPorts

log = logging.getLogger("devstack")

_WATCH_INTERVAL = 1.0


class _Shutdown:
    """Signal handler: the first signal unwinds into a clean stop, later ones are ignored.

    Ignoring repeats keeps an impatient second Ctrl-C from interrupting the stop itself, which
    would orphan the emulators' Java processes.
    """

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            return
        self.requested = True
        log.info("Stopping (%s)...", signal.Signals(signum).name)
        raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run the stack; the exit status is 0 after a clean stop, 1 when something failed."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="devstack: %(message)s", stream=sys.stderr)
    handler = _Shutdown()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # HUP: the terminal closed
        signal.signal(signum, handler)
    try:
        stack = _stack(args)
        with stack:
            env_file = write_env_file(stack.state_dir / "env", stack.cli_env)
            if args.check:
                statuses = check_stack(stack)
                log.info("Check passed: %s.", ", ".join(f"{k} {v}" for k, v in statuses.items()))
            print(render_banner(stack, env_file, sys.executable), flush=True)
            if args.check:
                return 0
            return _watch(stack)
    except KeyboardInterrupt:
        return 0
    except DevStackError as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 1


def _stack(args: argparse.Namespace) -> LocalStack:
    real_google = real_google_from_env(
        {
            OAUTH_CLIENT_SECRETS: args.client_secrets or "",
            OAUTH_REDIRECT_URI: args.redirect_uri or "",
        }
    )
    base = StackPorts.any_free() if args.free_ports else StackPorts()
    chosen = {
        field.name: getattr(args, f"{field.name}_port")
        for field in fields(StackPorts)
        if getattr(args, f"{field.name}_port") is not None
    }
    return LocalStack(
        ports=replace(base, **chosen),
        state_dir=args.state_dir,
        repo_root=args.repo_root,
        project=args.project,
        real_google=real_google,
        timeout=args.timeout,
    )


def _watch(stack: LocalStack) -> int:
    """Wait for Ctrl-C; if a part dies meanwhile, say which and where its log is, and give up."""
    while True:
        time.sleep(_WATCH_INTERVAL)
        for process in stack.processes:
            if not process.running:
                print(
                    f"devstack: the {process.name} stopped unexpectedly "
                    f"(exit status {process.returncode}); log {process.log_path}, last lines:\n"
                    f"{process.tail()}",
                    file=sys.stderr,
                )
                return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devstack",
        description="Run the emulators, the Google sandbox and the functions locally.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="start everything, check every part answers, print the banner, stop, exit 0",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help="logs, client JSON and env file (default: .dev/ in the repository)",
    )
    parser.add_argument(
        "--repo-root",
        type=Path,
        default=REPO_ROOT,
        help="where main.py and the sandbox package are (default: this checkout)",
    )
    parser.add_argument("--project", default=DEFAULT_PROJECT, help="emulator project ID")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds each part may take")
    parser.add_argument(
        "--client-secrets",
        default=os.environ.get(OAUTH_CLIENT_SECRETS),
        help=f"real Google: your OAuth client JSON (default: ${OAUTH_CLIENT_SECRETS})",
    )
    parser.add_argument(
        "--redirect-uri",
        default=os.environ.get(OAUTH_REDIRECT_URI),
        help=f"real Google: its registered callback URL (default: ${OAUTH_REDIRECT_URI})",
    )
    parser.add_argument(
        "--free-ports", action="store_true", help="let the OS choose every port (port flags win)"
    )
    for field in fields(StackPorts):
        parser.add_argument(
            f"--{field.name.replace('_', '-')}-port",
            type=int,
            metavar="PORT",
            help=f"default {field.default}; 0 picks a free one",
        )
    return parser


if __name__ == "__main__":
    sys.exit(main())
