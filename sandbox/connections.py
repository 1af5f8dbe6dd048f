"""Which connections the sandbox's answers went out on: what shows a client keeping its own.

A client that keeps its connection alive opens one per host and per thread and sends every
request over it; one that does not opens one per request. The server numbers connections and
marks a connection's first request (``sandbox.server``); this log counts, per view, the requests,
the connections they came on, and how many of those were new.
"""

from __future__ import annotations

import threading
from collections import Counter


class ConnectionLog:
    """Requests and connections per view (Flask endpoint, e.g. ``gmail.list_messages``), since
    the last reset. Thread-safe: the server serves each connection from its own thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._new: Counter[str] = Counter()
        self._seen: dict[str, set[int]] = {}

    def record(self, view: str, connection: int, *, first: bool) -> None:
        """One request of ``view`` on ``connection`` (``first``: the connection is new)."""
        with self._lock:
            self._requests[view] += 1
            self._new[view] += first
            self._seen.setdefault(view, set()).add(connection)

    def snapshot(self) -> dict[str, object]:
        """``opened``: new connections; ``requests``; and both per view, with the number of
        distinct connections each view was served on."""
        with self._lock:
            views = {
                view: {
                    "requests": count,
                    "new_connections": self._new[view],
                    "connections": len(self._seen[view]),
                }
                for view, count in sorted(self._requests.items())
            }
            return {
                "opened": sum(self._new.values()),
                "requests": sum(self._requests.values()),
                "views": views,
            }

    def reset(self) -> None:
        """Forget everything so far (kept connections serving again count as not new)."""
        with self._lock:
            self._requests.clear()
            self._new.clear()
            self._seen.clear()
