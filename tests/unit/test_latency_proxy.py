"""The benchmark's latency proxy: delay per round trip, bytes unchanged, RPCs counted, bounded."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from bench.latency_proxy import LatencyProxy, LatencyProxyProcess, Rpc, sequential_round_trips

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return len(payload).to_bytes(3) + bytes([kind, flags]) + stream.to_bytes(4) + payload


@pytest.fixture
def upstream() -> Iterator[Callable[[Callable[[socket.socket], None]], str]]:
    """A loopback server running ``handle`` on each connection; yields a starter of one."""
    listeners: list[socket.socket] = []

    def start(handle: Callable[[socket.socket], None]) -> str:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)

        def accept() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                threading.Thread(target=handle, args=(conn,), daemon=True).start()

        threading.Thread(target=accept, daemon=True).start()
        return f"127.0.0.1:{listener.getsockname()[1]}"

    yield start
    for listener in listeners:
        listener.close()


def echo(conn: socket.socket) -> None:
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)


def connect(proxy: LatencyProxy | LatencyProxyProcess) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as gRPC does: no Nagle delay
    return conn


def receive(conn: socket.socket, size: int) -> bytes:
    got = bytearray()
    while len(got) < size:
        chunk = conn.recv(65536)
        assert chunk, "connection closed early"
        got += chunk
    return bytes(got)


def test_a_round_trip_takes_at_least_the_configured_latency(upstream) -> None:
    with LatencyProxy("echo", upstream(echo), round_trip_ms=80) as proxy, connect(proxy) as conn:
        for _ in range(3):
            started = time.monotonic()
            conn.sendall(b"ping")
            assert receive(conn, 4) == b"ping"
            elapsed = time.monotonic() - started
            assert elapsed >= 0.080
            assert elapsed < 0.080 + 0.5  # once per round trip, not once per chunk or direction


def test_bytes_arrive_unchanged_in_both_directions(upstream) -> None:
    payload = os.urandom(3 * 1024 * 1024 + 17)  # more than the queue holds: backpressure
    with (
        LatencyProxy("echo", upstream(echo), round_trip_ms=10, max_queued_chunks=4) as proxy,
        connect(proxy) as conn,
    ):
        sender = threading.Thread(target=conn.sendall, args=(payload,))
        sender.start()
        assert receive(conn, len(payload)) == payload
        sender.join()


def test_a_burst_of_chunks_is_delayed_once(upstream) -> None:
    def answer_in_pieces(conn: socket.socket) -> None:
        with conn:
            conn.recv(16)
            for _ in range(5):
                conn.sendall(b"x" * 10)
                time.sleep(0.005)

    with (
        LatencyProxy("pieces", upstream(answer_in_pieces), round_trip_ms=100) as proxy,
        connect(proxy) as conn,
    ):
        started = time.monotonic()
        conn.sendall(b"go")
        assert receive(conn, 50) == b"x" * 50
        assert 0.1 <= time.monotonic() - started < 0.1 + 0.1


def fake_grpc_server(conn: socket.socket) -> None:
    """Answers each request stream with response HEADERS, DATA and trailers ending the stream."""
    with conn:
        buffer = b""
        while data := conn.recv(65536):
            buffer += data
            if buffer.startswith(PREFACE):
                buffer = buffer[len(PREFACE) :]
            while len(buffer) >= 9 and len(buffer) >= 9 + int.from_bytes(buffer[:3]):
                length, kind = int.from_bytes(buffer[:3]), buffer[3]
                stream = int.from_bytes(buffer[5:9])
                buffer = buffer[9 + length :]
                if kind == 0x0:  # the request's DATA: answer
                    conn.sendall(
                        frame(0x1, 0x4, stream, b"h")
                        + frame(0x0, 0x0, stream, b"body")
                        + frame(0x1, 0x5, stream, b"t")
                    )


def test_it_counts_each_stream_as_an_rpc_and_sequential_ones_apart(upstream) -> None:
    with (
        LatencyProxy("grpc", upstream(fake_grpc_server), round_trip_ms=20) as proxy,
        connect(proxy) as conn,
    ):
        conn.sendall(PREFACE + frame(0x4, 0x0, 0))  # preface and SETTINGS
        for stream in (1, 3):  # two calls, one after the other
            conn.sendall(frame(0x1, 0x4, stream, b"hdr") + frame(0x0, 0x1, stream, b"req"))
            receive(conn, 3 * 9 + 6)
        conn.sendall(frame(0x1, 0x4, 5, b"hdr") + frame(0x0, 0x1, 5, b"req"))  # two at once
        conn.sendall(frame(0x1, 0x4, 7, b"hdr") + frame(0x0, 0x1, 7, b"req"))
        receive(conn, 2 * (3 * 9 + 6))
        time.sleep(0.05)
        rpcs = proxy.rpcs()
    assert sorted(r.stream for r in rpcs) == [1, 3, 5, 7]
    assert {r.connection for r in rpcs} == {1}
    assert all(r.closed is not None and r.closed - r.opened >= 0.020 for r in rpcs)
    assert sequential_round_trips(rpcs) == 3


def test_sequential_round_trips_merges_overlapping_calls() -> None:
    def rpc(opened: float, closed: float | None) -> Rpc:
        return Rpc("s", 1, 1, opened, closed)

    assert sequential_round_trips([]) == 0
    assert sequential_round_trips([rpc(0, 1), rpc(0.5, 2), rpc(2, 3)]) == 2
    assert sequential_round_trips([rpc(0, None), rpc(5, 6)]) == 1


def test_it_refuses_connections_beyond_its_bound(upstream) -> None:
    with (
        LatencyProxy("echo", upstream(echo), round_trip_ms=0, max_connections=1) as proxy,
        connect(proxy) as first,
    ):
        first.sendall(b"a")
        assert receive(first, 1) == b"a"
        with connect(proxy) as second:
            assert second.recv(1) == b""
        assert proxy.refused == 1


def test_it_forwards_to_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        LatencyProxy("far", "192.0.2.1:443", round_trip_ms=0)


def test_stopping_closes_connections_and_ends_the_thread(upstream) -> None:
    proxy = LatencyProxy("echo", upstream(echo), round_trip_ms=0).start()
    conn = connect(proxy)
    conn.sendall(b"a")
    assert receive(conn, 1) == b"a"
    proxy.stop()
    assert conn.recv(1) == b""
    conn.close()
    assert not any(t.name == "latency-proxy-echo" for t in threading.enumerate())


def test_a_proxy_in_its_own_process_delays_and_records_on_the_callers_clock(upstream) -> None:
    proxy = LatencyProxyProcess("grpc", upstream(fake_grpc_server), round_trip_ms=40).start()
    try:
        assert not any(t.name.startswith("latency-proxy") for t in threading.enumerate())
        with connect(proxy) as conn:
            conn.sendall(PREFACE + frame(0x4, 0x0, 0))
            conn.sendall(frame(0x1, 0x4, 1, b"hdr") + frame(0x0, 0x1, 1, b"req"))
            receive(conn, 3 * 9 + 6)
            proxy.reset()  # the first call is forgotten
            before = time.monotonic()
            conn.sendall(frame(0x1, 0x4, 3, b"hdr") + frame(0x0, 0x1, 3, b"req"))
            receive(conn, 3 * 9 + 6)
            after = time.monotonic()
            time.sleep(0.05)
            [rpc] = proxy.rpcs()
        assert after - before >= 0.040
        assert rpc.stream == 3
        assert rpc.closed is not None
        assert before <= rpc.opened < rpc.closed <= after
    finally:
        proxy.stop()
    with pytest.raises(RuntimeError, match="not running"):
        proxy.rpcs()
