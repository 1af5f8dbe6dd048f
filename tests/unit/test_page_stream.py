"""Pages are fetched one ahead in a worker thread, in order, bounded, and stop when told."""

from __future__ import annotations

import threading
import time

import pytest

from functions.gmail import paging as page_stream


class Mailbox:
    """A fake ``users.messages.list``: ``total`` messages, ``size`` a page, calls recorded."""

    def __init__(self, total: int, size: int = 3, fail_on: int | None = None) -> None:
        self.total, self.size, self.fail_on = total, size, fail_on
        self.calls: list[tuple[str | None, int | None]] = []
        self.lock = threading.Lock()

    def __call__(self, token: str | None, remaining: int | None) -> dict[str, object]:
        with self.lock:
            self.calls.append((token, remaining))
        start = int(token or 0)
        if self.fail_on is not None and start // self.size == self.fail_on:
            raise RuntimeError("page failed")
        count = min(self.size, self.total - start, remaining or self.size)
        response: dict[str, object] = {"messages": [{"id": str(start + i)} for i in range(count)]}
        if start + count < self.total:
            response["nextPageToken"] = str(start + count)
        return response


def ids(responses) -> list[str]:
    return [m["id"] for r in responses for m in r["messages"]]


@pytest.mark.parametrize("stream", [page_stream.pages, page_stream.pages_in_turn])
def test_every_page_arrives_in_order_and_the_limit_stops_fetching(stream):
    assert ids(stream(Mailbox(10), None, None)) == [str(i) for i in range(10)]

    limited = Mailbox(100)
    assert ids(stream(limited, None, 7)) == [str(i) for i in range(7)]
    assert limited.calls == [(None, 7), ("3", 4), ("6", 1)]


def test_an_error_of_a_page_is_raised_to_the_caller_after_the_pages_before_it():
    stream = page_stream.pages(Mailbox(30, fail_on=2), None, None)

    assert ids([next(stream), next(stream)]) == [str(i) for i in range(6)]
    with pytest.raises(RuntimeError, match="page failed"):
        next(stream)


def test_a_slow_caller_holds_the_worker_at_most_a_page_ahead_and_closing_stops_it():
    mailbox = Mailbox(3000)
    stream = page_stream.pages(mailbox, None, None)

    next(stream)
    time.sleep(0.3)  # the worker would list all 1,000 pages by now if nothing held it back
    assert len(mailbox.calls) <= 1 + page_stream.AHEAD + 1
    stream.close()
    fetched = len(mailbox.calls)
    time.sleep(0.2)
    assert len(mailbox.calls) == fetched
    assert not [t for t in threading.enumerate() if t.name == "gmail-pages"]
