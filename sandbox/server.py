"""Serving the sandbox over real HTTP: in a background thread (tests) or the CLI.

Client libraries need a real socket. Werkzeug's default request log prints query strings, which
here can carry tokens (`/revoke?token=...`) and codes, so requests are logged by path only.

Connections are kept alive, as Google's front ends keep them (HTTP/1.1, RFC 9112 §9.3), so that
the sandbox can show whether a client reuses its connections. Werkzeug's development server
cannot: it answers every request with `Connection: close`, because after a response it drains
the socket until the client stops sending, which on a kept connection would swallow the next
request. :class:`KeepAliveRequestHandler` reads exactly the request's body instead (its
`Content-Length`, or its chunks), and sends each answer with its length, errors included.
Each request's environ names the connection it came on (:data:`CONNECTION_KEY`) and whether it is
the connection's first (:data:`FIRST_ON_CONNECTION_KEY`), which the sandbox counts.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import socket
import threading
from collections.abc import Iterable
from types import TracebackType
from typing import IO, Any, cast
from urllib.parse import urlsplit

import flask
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wsgi import LimitedStream

_log = logging.getLogger(__name__)
_POLL_SECONDS = 0.05  # how long shutdown() may wait for the serving loop to notice

CONNECTION_KEY = "sandbox.connection"
"""The environ key of the number of the TCP connection a request came on (unique per process)."""
FIRST_ON_CONNECTION_KEY = "sandbox.first_on_connection"
"""The environ key that says a request is the first on its connection: a new connection."""
IDLE_SECONDS = 60.0
"""An idle kept connection is closed after this long (Google's front ends keep them minutes)."""

_connection_numbers = itertools.count(1)
_NO_BODY_STATUS = frozenset({204, 304})


class KeepAliveRequestHandler(WSGIRequestHandler):
    """HTTP/1.1 with kept connections; logs method, path and status, never the query string or
    headers."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_SECONDS
    disable_nagle_algorithm = True
    """Headers and body leave as they are written: with Nagle's algorithm on a kept connection,
    a second small write waits for the client's delayed acknowledgement (40 ms on Linux), which
    made every kept-connection answer 40 ms slower than Google's."""

    def setup(self) -> None:
        """Number the connection, as it is accepted."""
        super().setup()
        self.connection_number = next(_connection_numbers)
        self.requests_served = 0

    def make_environ(self) -> dict[str, Any]:
        """Werkzeug's environ, plus the connection and a body that ends where the request does."""
        environ = super().make_environ()
        environ[CONNECTION_KEY] = self.connection_number
        environ[FIRST_ON_CONNECTION_KEY] = self.requests_served == 0
        if not environ.get("wsgi.input_terminated"):  # chunked bodies are already delimited
            body = cast("IO[bytes]", self.rfile)
            environ["wsgi.input"] = LimitedStream(body, _content_length(environ))
            environ["wsgi.input_terminated"] = True
        self.requests_served += 1
        return environ

    def run_wsgi(self) -> None:
        """Serve one request, its answer buffered so that it goes out with its length."""
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        try:
            self.environ = environ = self.make_environ()
        except ValueError:  # an unreadable Content-Length: the next request cannot be found
            self.close_connection = True
            self._answer("400 Bad Request", [("Content-Type", "text/plain")], b"bad length")
            return
        try:
            status, headers, body = _call(self.server.app, environ)
        except Exception:
            _log.exception("the sandbox failed on %s %s", self.command, urlsplit(self.path).path)
            status, headers, body = "500 Internal Server Error", [], b"sandbox error"
        while environ["wsgi.input"].read(65536):  # what the app left unread of the body
            pass
        self._answer(status, headers, body)

    def _answer(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        code_text, _, reason = status.partition(" ")
        code = int(code_text)
        bodiless = self.command == "HEAD" or code < 200 or code in _NO_BODY_STATUS
        self.send_response(code, reason)
        for name, value in headers:
            lowered = name.lower()
            if lowered in ("transfer-encoding", "connection"):
                continue
            if lowered == "content-length" and not bodiless:
                continue
            self.send_header(name, value)
        if not bodiless:
            self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not bodiless:
            self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """One line per request, without anything secret."""
        _log.info("%s %s %s", self.command, urlsplit(self.path).path, code)

    def log_error(self, format: str, *args: Any) -> None:
        """An idle connection timing out is the normal end of a kept connection."""
        if format.startswith("Request timed out"):
            _log.debug("an idle connection was closed")
        else:
            super().log_error(format, *args)


def _content_length(environ: dict[str, Any]) -> int:
    """The request's body length; none is an empty body (RFC 9112 §6.3). Raises ValueError."""
    value = environ.get("CONTENT_LENGTH") or "0"
    length = int(value)
    if length < 0:
        raise ValueError("negative Content-Length")
    return length


def _call(app: Any, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    """Run the WSGI app; its status, headers and whole body."""
    started: list[Any] = []
    chunks: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started[:] = [status, headers]
        return chunks.append

    result: Iterable[bytes] = app(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    status, headers = started
    return status, list(headers), b"".join(chunks)


class _KeepAliveServer(ThreadedWSGIServer):
    """A thread per connection, and the open connections known, so that shutting down ends
    them rather than leaving their threads waiting for a next request."""

    def __init__(self, host: str, port: int, app: flask.Flask) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(host, port, app, handler=KeepAliveRequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End every kept connection."""
        with self._open_lock:
            open_now = list(self._open)
        for connection in open_now:
            with contextlib.suppress(OSError):  # already gone
                connection.shutdown(socket.SHUT_RDWR)


class RunningServer:
    """A sandbox server running in a daemon thread; a context manager that shuts it down."""

    def __init__(self, server: _KeepAliveServer) -> None:
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
        """Stop serving, end the kept connections, wait for the thread and close the socket."""
        self._server.shutdown()
        self._server.close_connections()
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
        server = _KeepAliveServer(host, port, app)
    except SystemExit as exc:  # Werkzeug exits the process when it cannot bind
        raise OSError(f"cannot listen on {host}:{port}") from exc
    return RunningServer(server)
