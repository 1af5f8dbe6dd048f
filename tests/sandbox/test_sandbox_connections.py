"""The sandbox keeps connections alive, as Google does, and counts them.

Werkzeug's development server closes every connection; the sandbox's server reads each request
to its length and sends each answer with its own, so one socket carries request after request,
bodies, errors and redirects included, and ``/_sandbox/connections`` shows it.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import BinaryIO

import httplib2
import requests

from sandbox import RunningServer, SandboxState, create_app, serve_in_thread


def _read_response(stream: BinaryIO) -> tuple[int, dict[str, str], bytes]:
    status = int(stream.readline().split()[1])
    headers = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    body = stream.read(int(headers.get("content-length", 0)))
    return status, headers, body


def test_one_socket_carries_requests_with_bodies_errors_and_redirects(live):
    server, state = live
    host, port = server.base_url.removeprefix("http://").split(":")
    form = b"grant_type=refresh_token&refresh_token=" + b"x" * 20_000  # unread by the app: a 401
    requests_sent = [
        b"POST /token HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: %d\r\n\r\n" % len(form) + form,
        b"GET /nowhere HTTP/1.1\r\nHost: h\r\n\r\n",
        b"POST /revoke HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n\r\n9\r\ntoken=abc\r\n0\r\n\r\n",
        b"GET /o/oauth2/v2/auth HTTP/1.1\r\nHost: h\r\n\r\n",
        b"HEAD /_sandbox/health HTTP/1.1\r\nHost: h\r\n\r\n",
    ]
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        # WHEN every request goes out at once on one connection (pipelined)
        connection.sendall(b"".join(requests_sent))
        stream = connection.makefile("rb")
        answers = [_read_response(stream) for _ in requests_sent[:-1]]
        head_status = int(stream.readline().split()[1])

    # THEN each is answered in turn, with its length and without closing the connection
    assert [status for status, _, _ in answers] == [401, 404, 400, 400]
    assert head_status == 200
    for _, headers, body in answers:
        assert headers["content-length"] == str(len(body))
        assert "close" not in headers.get("connection", "")
    snapshot = state.connections.snapshot()
    assert snapshot["opened"] == 1
    assert snapshot["views"]["oauth.token"] == {
        "requests": 1,
        "new_connections": 1,
        "connections": 1,
    }


def test_kept_clients_show_as_one_connection_each_and_fresh_ones_as_one_per_request(live):
    server, state = live
    kept_requests, kept_httplib2 = requests.Session(), httplib2.Http()

    for _ in range(4):
        kept_requests.post(f"{server.base_url}/revoke", data={"token": "t"}, timeout=10)
        kept_httplib2.request(f"{server.base_url}/gmail/v1/users/me/messages")
        requests.post(f"{server.base_url}/token", data={}, timeout=10)  # a session per call

    views = state.connections.snapshot()["views"]
    assert views["oauth.revoke"] == {"requests": 4, "new_connections": 1, "connections": 1}
    assert views["gmail.list_messages"] == {"requests": 4, "new_connections": 1, "connections": 1}
    assert views["oauth.token"] == {"requests": 4, "new_connections": 4, "connections": 4}
    response = requests.get(f"{server.base_url}/_sandbox/connections", timeout=10)
    assert response.json()["opened"] == 6  # the hooks themselves are not counted
    requests.post(f"{server.base_url}/_sandbox/calls/reset", timeout=10)
    assert state.connections.snapshot() == {"opened": 0, "requests": 0, "views": {}}


def test_shutting_down_ends_kept_connections():
    # Only this server's threads: other servers of the session may hold kept connections too.
    before = set(threading.enumerate())
    server: RunningServer = serve_in_thread(create_app(SandboxState()))
    session = requests.Session()
    assert session.get(f"{server.base_url}/_sandbox/health", timeout=10).status_code == 200
    waiting = [
        t for t in threading.enumerate() if t not in before and "process_request_thread" in t.name
    ]
    assert waiting  # the kept connection's thread, waiting for a next request

    server.shutdown()

    for thread in waiting:
        thread.join(timeout=5)
    assert not [thread for thread in waiting if thread.is_alive()]


def test_answers_on_a_kept_connection_are_not_held_back_for_an_acknowledgement(live):
    # GIVEN a client that, like httplib2 and requests, sends each request in more than one write
    server, _ = live
    session = requests.Session()
    session.get(f"{server.base_url}/_sandbox/health", timeout=10)

    # WHEN it sends twenty requests one after another over its kept connection
    started = time.perf_counter()
    for _ in range(20):
        assert session.get(f"{server.base_url}/_sandbox/health", timeout=10).ok
    each = (time.perf_counter() - started) / 20

    # THEN none waited for a delayed acknowledgement (40 ms on Linux, with Nagle's algorithm on
    # for an answer written as headers, then body)
    assert each < 0.02, f"{each * 1000:.0f} ms a request"
