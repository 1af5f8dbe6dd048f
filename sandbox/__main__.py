"""`python -m sandbox`: run the Google sandbox for the local dev stack.

Registers one OAuth client, writes its console-style JSON (mode 0600: it holds the client
secret), prints where it listens and serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from sandbox.app import create_app
from sandbox.server import serve_in_thread
from sandbox.state import SandboxState

_log = logging.getLogger("sandbox")


class _JsonLines(logging.Formatter):
    """One JSON object per line with `severity` and `message`, as Cloud Logging reads them."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {"severity": record.levelname, "message": record.getMessage(), "logger": record.name}
        )


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind")
    parser.add_argument("--port", type=int, default=8090, help="port to bind (0: any free port)")
    parser.add_argument(
        "--redirect-uri",
        action="append",
        required=True,
        help="redirect URI to register for the client (repeatable)",
    )
    parser.add_argument("--write-client-json", metavar="PATH", help="where to write client JSON")
    parser.add_argument("--client-id", help="client ID (random when omitted)")
    parser.add_argument("--client-secret", help="client secret (random when omitted)")
    parser.add_argument(
        "--public-url", help="base URL to put in the client JSON (default: where it listens)"
    )
    parser.add_argument(
        "--project", default="sandbox", help="Cloud project ID of the client (default: sandbox)"
    )
    parser.add_argument(
        "--gmail-push-topic",
        action="append",
        default=[],
        metavar="projects/P/topics/T",
        help="a topic Gmail may publish push notifications to (repeatable): the stand-in for "
        "granting it to gmail-api-push@system.gserviceaccount.com",
    )
    parser.add_argument(
        "--pubsub-emulator-host",
        default="",
        metavar="HOST:PORT",
        help="Pub/Sub emulator to publish Gmail push notifications to (default: none)",
    )
    return parser.parse_args(argv)


def _write_private(path: str, content: str) -> None:
    """Write `content` so that only the owner can read it, even if the file existed."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    """Run until a signal arrives; returns the process exit code."""
    args = _parse(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonLines())
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    state = SandboxState()
    try:
        state.update_behaviour({"pubsub_emulator_host": args.pubsub_emulator_host})
    except ValueError as exc:
        print(f"--pubsub-emulator-host: {exc}", file=sys.stderr)
        return 2
    try:
        client = state.register_client(
            args.redirect_uri, args.client_id, args.client_secret, args.project
        )
        for topic in args.gmail_push_topic:
            state.grant_push_publisher(topic)
    except ValueError as exc:
        print(f"--project or --gmail-push-topic: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    if not _is_loopback(args.host):
        _log.warning(
            "The /_sandbox/ hooks are unauthenticated; %s is reachable by others.", args.host
        )
    try:
        running = serve_in_thread(create_app(state), args.host, args.port)
    except OSError as exc:
        print(f"The Google sandbox {exc}.", file=sys.stderr)
        return 1
    with running as server:
        base_url = (args.public_url or server.base_url).rstrip("/")
        if args.write_client_json:
            config = state.client_config(client, base_url)
            _write_private(args.write_client_json, json.dumps(config, indent=2) + "\n")
        print(f"Google sandbox listening on {server.base_url}", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
