"""A loopback TCP proxy that gives an emulator production's round-trip time, and counts its RPCs.

The Firestore and Pub/Sub emulators answer in a few milliseconds; in production each round trip
takes tens. :class:`LatencyProxy` sits between a client and one emulator and delays every chunk by
half the configured round trip in each direction, as a network link would: each chunk is held
until its own arrival time plus the one-way delay, so a burst of chunks is delayed once, not once
per chunk. A unary gRPC call (the request's HEADERS and DATA out, the response's HEADERS, DATA and
trailers back) therefore pays one injected round trip, and a call that waits on an earlier answer
pays another.

Both emulators speak gRPC over cleartext HTTP/2, so the proxy can also read the frame headers
(never the payloads) going by: every stream the client opens is one RPC. :meth:`LatencyProxy.rpcs`
lists them with the time the request reached the proxy and the time the end of the response was
handed back to the client; :func:`sequential_round_trips` turns the RPCs of several proxies into
the number of round trips a caller waited for one after another.

Bounded: at most ``max_connections`` connections (more are closed at once and counted), and at
most ``max_queued_chunks`` chunks of up to 64 KiB held per direction (then reading pauses).
Loopback only: it listens on 127.0.0.1 and refuses an upstream that is not a loopback address.
It runs an asyncio loop in one daemon thread; :meth:`LatencyProxy.stop` (or leaving the ``with``
block) closes every connection and ends the thread. :class:`LatencyProxyProcess` runs one in a
process of its own, so that the proxy's work (the network's, in production) does not take the
CPU and the GIL of the instance being measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import multiprocessing
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from types import TracebackType
from typing import cast

CHUNK = 64 * 1024
_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_DATA, _HEADERS, _RST_STREAM = 0x0, 0x1, 0x3
_END_STREAM = 0x1


@dataclass(frozen=True)
class Rpc:
    """One HTTP/2 stream the client opened: one gRPC call.

    ``opened`` and ``closed`` are :func:`time.monotonic` seconds: when the request's first frame
    reached the proxy, and when the end of the response (or a reset) was handed to the client
    (``None`` while the call is open).
    """

    service: str
    connection: int
    stream: int
    opened: float
    closed: float | None


def sequential_round_trips(rpcs: Iterable[Rpc]) -> int:
    """How many round trips the caller waited for one after another.

    Calls whose lifetimes overlap count once together: the number of separate busy periods, with
    a call still open counting to the end of time.
    """
    periods = 0
    busy_until = -1.0
    for rpc in sorted(rpcs, key=lambda r: r.opened):
        closed = rpc.closed if rpc.closed is not None else float("inf")
        if rpc.opened >= busy_until:
            periods += 1
            busy_until = closed
        else:
            busy_until = max(busy_until, closed)
    return periods


class _Frames:
    """Reads HTTP/2 frame headers out of one direction of a connection, chunk by chunk.

    Calls ``on_frame(type, flags, stream_id)`` per frame. Anything that is not HTTP/2 with prior
    knowledge (a wrong preface) switches the reader off: the bytes are forwarded all the same.
    """

    def __init__(self, on_frame: Callable[[int, int, int], None], *, preface: bool) -> None:
        self._on_frame = on_frame
        self._buffer = b""
        self._skip = 0
        self._awaiting_preface = preface
        self.broken = False

    def feed(self, chunk: bytes) -> None:
        if self.broken:
            return
        self._buffer += chunk
        if self._awaiting_preface:
            if len(self._buffer) < len(_PREFACE):
                if not _PREFACE.startswith(self._buffer):
                    self.broken = True
                return
            if not self._buffer.startswith(_PREFACE):
                self.broken = True
                return
            self._buffer = self._buffer[len(_PREFACE) :]
            self._awaiting_preface = False
        while True:
            if self._skip:
                skipped = min(self._skip, len(self._buffer))
                self._buffer = self._buffer[skipped:]
                self._skip -= skipped
                if self._skip:
                    return
            if len(self._buffer) < 9:
                return
            header = self._buffer[:9]
            length = int.from_bytes(header[:3])
            stream = int.from_bytes(header[5:9]) & 0x7FFFFFFF
            self._on_frame(header[3], header[4], stream)
            self._buffer = self._buffer[9:]
            self._skip = length


class _Connection:
    """The RPC bookkeeping of one proxied connection."""

    def __init__(self, proxy: LatencyProxy, number: int) -> None:
        self._proxy, self.number = proxy, number
        self._open: dict[int, float] = {}
        self.requests = _Frames(self._client_frame, preface=True)
        self.responses = _Frames(self._server_frame, preface=False)

    def _client_frame(self, kind: int, flags: int, stream: int) -> None:
        del flags
        now = time.monotonic()
        if kind == _HEADERS and stream % 2 == 1 and stream not in self._open:
            self._open[stream] = now
        elif kind == _RST_STREAM:
            self._close(stream, now)

    def _server_frame(self, kind: int, flags: int, stream: int) -> None:
        if (kind in (_DATA, _HEADERS) and flags & _END_STREAM) or kind == _RST_STREAM:
            self._close(stream, time.monotonic())

    def _close(self, stream: int, now: float) -> None:
        opened = self._open.pop(stream, None)
        if opened is not None:
            self._proxy._record(Rpc(self._proxy.name, self.number, stream, opened, now))

    def still_open(self) -> list[Rpc]:
        return [
            Rpc(self._proxy.name, self.number, s, t, None) for s, t in sorted(self._open.items())
        ]


class LatencyProxy:
    """Forwards ``127.0.0.1:<port>`` to ``upstream``, adding ``round_trip_ms`` per round trip.

    Args:
        name: what the proxy stands in front of (``firestore``, ``pubsub``), for its records.
        upstream: ``host:port`` of the emulator; must be a loopback address.
        round_trip_ms: the round-trip time to add; may be changed while running (it applies to
            chunks read from then on).
        max_connections: connections served at once; more are closed at once.
        max_queued_chunks: chunks held per direction before reading pauses.
    """

    def __init__(
        self,
        name: str,
        upstream: str,
        round_trip_ms: float,
        *,
        max_connections: int = 64,
        max_queued_chunks: int = 64,
    ) -> None:
        host, _, port = upstream.rpartition(":")
        address = ipaddress.ip_address(socket.gethostbyname(host))
        if not address.is_loopback:
            raise ValueError(f"{name}: upstream {upstream} is not a loopback address")
        self.name = name
        self.round_trip_ms = round_trip_ms
        self._upstream = (str(address), int(port))
        self._max_connections = max_connections
        self._max_queued = max_queued_chunks
        self._lock = threading.Lock()
        self._rpcs: list[Rpc] = []
        self._connections: dict[int, _Connection] = {}
        self._numbered = 0
        self.refused = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def host_port(self) -> str:
        """Where clients connect: the value for ``*_EMULATOR_HOST``."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> LatencyProxy:
        """Listen on a free loopback port; return once connections are accepted."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=loop.run_forever, name=f"latency-proxy-{self.name}", daemon=True
        )
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), loop)
        try:
            future.result(timeout=10)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Close the listener and every connection, then end the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if loop.is_running():
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> LatencyProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget the RPCs recorded so far (calls still open stay open)."""
        with self._lock:
            self._rpcs.clear()

    def rpcs(self) -> list[Rpc]:
        """The RPCs since the last :meth:`reset`, finished ones first, then those still open."""
        with self._lock:
            return [
                *self._rpcs,
                *(rpc for c in self._connections.values() for rpc in c.still_open()),
            ]

    def _record(self, rpc: Rpc) -> None:
        with self._lock:
            self._rpcs.append(rpc)

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        with self._lock:
            full = len(self._connections) >= self._max_connections
            if full:
                self.refused += 1
            else:
                self._numbered += 1
                connection = _Connection(self, self._numbered)
                self._connections[connection.number] = connection
        if full or task is None:
            client_out.close()
            return
        self._tasks.add(task)
        server_out: asyncio.StreamWriter | None = None
        try:
            server_in, server_out = await asyncio.open_connection(*self._upstream)
            async with asyncio.TaskGroup() as group:
                group.create_task(self._pipe(client_in, server_out, connection.requests.feed, None))
                group.create_task(
                    self._pipe(server_in, client_out, None, connection.responses.feed)
                )
        except* OSError:  # a side reset or refused: the connection ends, as it would unproxied
            pass
        finally:
            for writer in (client_out, server_out):
                if writer is not None:
                    writer.close()
            with self._lock:
                self._connections.pop(connection.number, None)
            self._tasks.discard(task)

    async def _pipe(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        on_read: Callable[[bytes], None] | None,
        on_deliver: Callable[[bytes], None] | None,
    ) -> None:
        """Copy ``source`` to ``sink``, each chunk delivered half a round trip after it was read."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(self._max_queued)

        async def read() -> None:
            while chunk := await source.read(CHUNK):
                if on_read is not None:
                    on_read(chunk)
                await queue.put((loop.time() + self.round_trip_ms / 2000, chunk))
            await queue.put(None)

        async def write() -> None:
            while (item := await queue.get()) is not None:
                due, chunk = item
                while (wait := due - loop.time()) > 0:
                    await asyncio.sleep(wait)
                if on_deliver is not None:  # first, so a caller woken by it sees the record
                    on_deliver(chunk)
                sink.write(chunk)
                await sink.drain()
            if sink.can_write_eof():
                sink.write_eof()

        async with asyncio.TaskGroup() as group:  # one side failing ends the other
            group.create_task(read())
            group.create_task(write())


class LatencyProxyProcess:
    """A :class:`LatencyProxy` served by a process of its own, with the same records.

    Its times are :func:`time.monotonic` seconds too, one clock for every process of the
    machine, so they compare with the caller's. The process ends with :meth:`stop`, or when
    the caller's end of the pipe closes.
    """

    def __init__(self, name: str, upstream: str, round_trip_ms: float) -> None:
        self.name = name
        self.round_trip_ms = round_trip_ms
        self._upstream = upstream
        self._pipe: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self.port = 0

    @property
    def host_port(self) -> str:
        """Where clients connect: the value for ``*_EMULATOR_HOST``."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> LatencyProxyProcess:
        """Start the process; return once its proxy accepts connections."""
        context = multiprocessing.get_context("spawn")  # no copy of the caller's gRPC threads
        ours, theirs = context.Pipe()
        self._process = context.Process(
            target=_serve,
            args=(theirs, self.name, self._upstream, self.round_trip_ms),
            name=f"latency-proxy-{self.name}",
            daemon=True,
        )
        self._process.start()
        theirs.close()
        self._pipe = ours
        try:
            if not ours.poll(30):
                raise TimeoutError(f"{self.name}: the latency proxy did not start")
            self.port = ours.recv()
        except (TimeoutError, EOFError) as error:
            code = self._process.exitcode
            self.stop()
            raise RuntimeError(f"{self.name}: the latency proxy did not start ({code})") from error
        return self

    def stop(self) -> None:
        """Close the proxy's connections and end its process."""
        if self._pipe is not None:
            with contextlib.suppress(EOFError, OSError):
                self._ask("stop")
            self._pipe.close()
            self._pipe = None
        if self._process is not None:
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.kill()
            self._process = None

    def reset(self) -> None:
        """See :meth:`LatencyProxy.reset`."""
        self._ask("reset")

    def rpcs(self) -> list[Rpc]:
        """See :meth:`LatencyProxy.rpcs`."""
        return cast("list[Rpc]", self._ask("rpcs"))

    def _ask(self, command: str) -> object:
        if self._pipe is None:
            raise RuntimeError(f"{self.name}: the latency proxy is not running")
        self._pipe.send(command)
        return self._pipe.recv()


def _serve(pipe: Connection, name: str, upstream: str, round_trip_ms: float) -> None:
    """A :class:`LatencyProxyProcess`'s process: the proxy, and its answers on ``pipe``."""
    with LatencyProxy(name, upstream, round_trip_ms) as proxy:
        pipe.send(proxy.port)
        answers: dict[str, Callable[[], object]] = {
            "rpcs": proxy.rpcs,
            "reset": proxy.reset,
            "stop": lambda: None,
        }
        while True:
            try:
                command = pipe.recv()
            except (EOFError, OSError):
                return
            pipe.send(answers[command]())
            if command == "stop":
                return
