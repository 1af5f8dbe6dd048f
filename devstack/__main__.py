"""``python -m devstack`` (``make dev``): the whole local stack until Ctrl-C.

    python -m devstack                # up on the fixed ports, prints the URLs, waits
    python -m devstack --ports free   # any free ports (make dev DEV_PORTS=free)
    python -m devstack --data memory  # keep no Firestore data (make dev DEV_DATA=memory)
    python -m devstack --reset        # delete the kept data (make dev-reset)
    python -m devstack --check        # up, every part answers, banner, down; exit 0 (tests)

Firestore's data is kept in ``.dev/data/`` across restarts by default (see
:mod:`devstack.kept_data`).

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
from devstack.envfile import current_venv, write_env_file
from devstack.errors import DevStackError
from devstack.function_env import (
    OAUTH_CLIENT_SECRETS,
    OAUTH_REDIRECT_URI,
    real_google_from_env,
)
from devstack.health import check_stack
from devstack.kept_data import KeptData
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
        if args.reset:
            return _reset(args.state_dir)
        stack = _stack(args)
        with _PidFile(args.state_dir), stack:
            venv = current_venv()
            env_file = write_env_file(stack.state_dir / "env", stack.cli_env, venv)
            if args.check:
                statuses = check_stack(stack)
                log.info("Check passed: %s.", ", ".join(f"{k} {v}" for k, v in statuses.items()))
            print(render_banner(stack, env_file, sys.executable, venv), flush=True)
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
    free, named = parse_ports(args.ports)
    base = StackPorts.any_free() if args.free_ports or free else StackPorts()
    chosen = {
        **named,
        **{
            field.name: getattr(args, f"{field.name}_port")
            for field in fields(StackPorts)
            if getattr(args, f"{field.name}_port") is not None
        },
    }
    return LocalStack(
        ports=replace(base, **chosen),
        data_dir=_data_dir(args.state_dir) if args.data == "keep" else None,
        state_dir=args.state_dir,
        repo_root=args.repo_root,
        project=args.project,
        real_google=real_google,
        timeout=args.timeout,
    )


def parse_ports(spec: str) -> tuple[bool, dict[str, int]]:
    """``DEV_PORTS``: empty (the fixed ports), ``free``, and/or ``NAME=PORT`` words.

    Returns:
        Whether ``free`` was given, and the ports named.

    Raises:
        DevStackError: for a word that is neither, naming the ports there are.
    """
    names = [field.name for field in fields(StackPorts)]
    free = False
    named: dict[str, int] = {}
    for word in spec.replace(",", " ").split():
        name, _, port = word.partition("=")
        if word == "free":
            free = True
        elif name.replace("-", "_") in names and port.isdigit() and int(port) < 65536:
            named[name.replace("-", "_")] = int(port)
        else:
            raise DevStackError(
                f"DEV_PORTS: {word!r} is neither `free` nor NAME=PORT with NAME one of "
                f"{', '.join(names)} (e.g. DEV_PORTS=free, DEV_PORTS='sandbox=9090')."
            )
    return free, named


def _data_dir(state_dir: Path) -> Path:
    return state_dir / "data"


def _reset(state_dir: Path) -> int:
    """Delete the kept data of ``state_dir``, unless a stack using it runs (it would save again)."""
    running = _PidFile(state_dir).running()
    if running is not None:
        raise DevStackError(
            f"make dev is running (pid {running}) and saves its data again when it stops: "
            "stop it (Ctrl-C) first, then reset."
        )
    kept = KeptData(_data_dir(state_dir))
    relative = os.path.relpath(kept.directory)
    shown = kept.directory if relative.startswith("..") else relative
    if kept.reset():
        print(f"Deleted the kept emulator data ({shown}/): the next `make dev` starts empty.")
    else:
        print(f"No emulator data was kept ({shown}/ is empty): nothing to delete.")
    return 0


class _PidFile:
    """``<state dir>/devstack.pid`` while a stack runs, so ``--reset`` can refuse meanwhile."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "devstack.pid"

    def running(self) -> int | None:
        """The pid of a live stack using this state directory, if one is."""
        try:
            pid = int(self.path.read_text())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def __enter__(self) -> _PidFile:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(f"{os.getpid()}\n")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.path.unlink(missing_ok=True)


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
        "--ports",
        default="",
        metavar="SPEC",
        help="`free` (any free ports) and/or NAME=PORT words, e.g. 'free sandbox=9090'; "
        "empty: the fixed ports (make dev DEV_PORTS=...)",
    )
    parser.add_argument(
        "--data",
        choices=("keep", "memory"),
        default="keep",
        help="keep: load Firestore's data from <state dir>/data/ and save it there on stop "
        "(default); memory: start empty, save nothing (make dev DEV_DATA=...)",
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help="delete the kept data in <state dir>/data/ and exit (make dev-reset)",
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
