"""Serving the sandbox over real HTTP: in a background thread (tests) or the CLI.

Client libraries need a real socket. Werkzeug's default request log prints query strings, which
here can carry tokens (`/revoke?token=...`) and codes, so requests are logged by path only.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from urllib.parse import urlsplit

import flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

_log = logging.getLogger(__name__)
_POLL_SECONDS = 0.05  # how long shutdown() may wait for the serving loop to notice


class PathOnlyRequestHandler(WSGIRequestHandler):
    """Logs method, path and status; never the query string or headers.

    Speaks HTTP/1.1, so clients keep their connections alive as they do with Google: a
    benchmark of round trips then does not count a TCP handshake per call.
    """

    protocol_version = "HTTP/1.1"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """One line per request, without anything secret."""
        _log.info("%s %s %s", self.command, urlsplit(self.path).path, code)


class RunningServer:
    """A sandbox server running in a daemon thread; a context manager that shuts it down."""

    def __init__(self, server: BaseWSGIServer) -> None:
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": _POLL_SECONDS},
            name="sandbox-server",
            daemon=True,
        )
        self._thread.start()

    @property
    def port(self) -> int:
        """The bound port (useful with port=0)."""
        return self._server.server_port

    @property
    def base_url(self) -> str:
        """Root URL without a trailing slash, e.g. `http://127.0.0.1:54321`."""
        host = self._server.host
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def shutdown(self) -> None:
        """Stop serving, wait for the thread and close the socket."""
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown()


def serve_in_thread(app: flask.Flask, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve `app` on `host:port` (0 = any free port) from a background thread.

    Raises:
        OSError: the address cannot be bound (Werkzeug has printed why on stderr).
    """
    try:
        server = make_server(host, port, app, threaded=True, request_handler=PathOnlyRequestHandler)
    except SystemExit as exc:  # Werkzeug exits the process when it cannot bind
        raise OSError(f"cannot listen on {host}:{port}") from exc
    return RunningServer(server)
