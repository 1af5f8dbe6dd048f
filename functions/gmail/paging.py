"""Gmail list pages, fetched one ahead of the caller in a worker thread.

Page tokens chain, so pages cannot be fetched in parallel; what can overlap is the caller's work
on page N (publishing it) with the round trip for page N+1. The worker asks for the next page as
soon as it holds the current one's token, without waiting for the caller to hand it over, and
stops when it is ``AHEAD`` pages in front: memory stays bounded however large the mailbox.
The worker runs in a copy of the caller's context, so what it logs belongs to the caller's
request: the same trace and execution ID, and the same secrets redacted (a token it refreshes
included).
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable, Generator
from typing import Any

AHEAD = 1
"""Pages the worker may hold that the caller has not taken yet (besides the one in flight)."""
_POLL_SECONDS = 0.05

Pages = Generator[Any]
Fetch = Callable[[str | None, int | None], Any]
"""``fetch(page_token, remaining)`` → one ``users.messages.list`` response."""


def pages(fetch: Fetch, page_token: str | None, remaining: int | None) -> Pages:
    """Every response from ``page_token`` on, in order, until the last page or ``remaining``
    messages; an error from ``fetch`` is raised here, and closing the iterator stops the worker.
    """
    handoff: queue.Queue[tuple[Any, BaseException | None]] = queue.Queue(maxsize=AHEAD)
    stop = threading.Event()

    def offer(item: tuple[Any, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        token, left = page_token, remaining
        while True:
            try:
                response = fetch(token, left)
            except BaseException as error:  # handed to the caller, raised there
                offer((None, error))
                return
            if not offer((response, None)):
                return
            token, left = _after(response, left)
            if _finished(token, left):
                return

    worker = threading.Thread(
        target=contextvars.copy_context().run, args=(work,), name="gmail-pages", daemon=True
    )
    worker.start()
    try:
        left = remaining
        while True:
            response, error = handoff.get()
            if error is not None:
                raise error
            yield response
            token, left = _after(response, left)
            if _finished(token, left):
                return
    finally:
        stop.set()
        worker.join()


def pages_in_turn(fetch: Fetch, page_token: str | None, remaining: int | None) -> Pages:
    """The same pages as :func:`pages`, each fetched only when the caller asks for it (for
    callers that use the Gmail session themselves between pages)."""
    token, left = page_token, remaining
    while True:
        response = fetch(token, left)
        yield response
        token, left = _after(response, left)
        if _finished(token, left):
            return


def _after(response: Any, left: int | None) -> tuple[str | None, int | None]:
    """The next page's token, and how many messages are still wanted after this page."""
    token = response.get("nextPageToken") or None
    if left is not None:
        left -= len(response.get("messages", []))
    return token, left


def _finished(token: str | None, left: int | None) -> bool:
    return token is None or (left is not None and left <= 0)
