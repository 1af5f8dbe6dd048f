"""Local TCP ports: picking free ones, refusing taken ones, and waiting until a server answers."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Mapping

import requests

from devstack.errors import PortInUseError, StartupError

LOOPBACK = "127.0.0.1"
_POLL_INTERVAL = 0.2


def free_port(host: str = LOOPBACK) -> int:
    """A port the OS reports free right now; the caller should bind it soon (it may be reused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """Whether a server could bind ``host:port`` now (SO_REUSEADDR, as servers bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def ensure_ports_free(ports: Mapping[str, int], host: str = LOOPBACK) -> None:
    """Fail before starting anything, rather than leave half a stack when a bind fails later.

    Args:
        ports: what will listen (e.g. ``"Pub/Sub emulator"``) to the port it will bind.

    Raises:
        PortInUseError: naming the first taken port and what needed it.
    """
    for what, port in ports.items():
        if not port_is_free(port, host):
            raise PortInUseError(
                f"Port {port} (needed by the {what}) is already in use: stop whatever holds it "
                "(an earlier `make dev`?) or choose another port."
            )


def wait_for_http(
    url: str,
    timeout: float,
    what: str,
    *,
    expect_status: int | None = None,
    failed: Callable[[], str | None] | None = None,
) -> None:
    """Poll ``url`` until the server answers, so callers never race a server that is starting.

    Any HTTP response counts as an answer unless ``expect_status`` is given; redirects are not
    followed. Proxies from the environment are ignored: the URL is always local.

    Args:
        url: the URL to GET.
        timeout: seconds to wait in all.
        what: the server's name, for the error message.
        expect_status: the status that means "ready", if a particular one does.
        failed: says why the server cannot come up any more (e.g. "exited with status 1"),
            or None while it still might; lets the wait end early.

    Raises:
        StartupError: when the server has failed or does not answer in time.
    """
    deadline = time.monotonic() + timeout
    last = "no answer"
    with requests.Session() as session:
        session.trust_env = False
        while True:
            reason = failed() if failed is not None else None
            if reason is not None:
                raise StartupError(f"The {what} {reason} before answering at {url}.")
            try:
                response = session.get(url, timeout=2, allow_redirects=False)
            except requests.RequestException as exc:
                last = type(exc).__name__
            else:
                if expect_status is None or response.status_code == expect_status:
                    return
                last = f"HTTP {response.status_code}"
            if time.monotonic() >= deadline:
                raise StartupError(
                    f"The {what} did not answer at {url} within {timeout:g} s (last: {last})."
                )
            time.sleep(_POLL_INTERVAL)
