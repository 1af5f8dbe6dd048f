"""users.history.list semantics: records after a history id, filtered, paged, or 404 when stale.

https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.history/list and the
guide "Synchronizing clients with Gmail": a client stores a historyId, later asks for the changes
after it, and falls back to a full sync on 404. A page token holds the id of the last record
handed out, so paging stays exact while new mail arrives.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import re
from collections.abc import Collection
from typing import NotRequired, TypedDict

from sandbox.gmail_list import MessageRef, PageTokenError
from sandbox.mailbox import HistoryRecord, Mailbox

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
#: The documented historyTypes; the sandbox only ever records messageAdded.
HISTORY_TYPES = frozenset({"messageAdded", "messageDeleted", "labelAdded", "labelRemoved"})
_TOKEN_BODY = re.compile(r"^h1:(\d{1,20})$")


class AddedMessage(TypedDict):
    """A message as a messagesAdded entry shows it."""

    id: str
    threadId: str
    labelIds: list[str]


class MessageAdded(TypedDict):
    """One entry of a record's `messagesAdded`."""

    message: AddedMessage


class HistoryEntry(TypedDict):
    """One History resource."""

    id: str
    messages: list[MessageRef]
    messagesAdded: NotRequired[list[MessageAdded]]


class HistoryResponse(TypedDict):
    """The JSON body of history.list; `history` is absent when nothing changed."""

    history: NotRequired[list[HistoryEntry]]
    nextPageToken: NotRequired[str]
    historyId: str


class HistoryExpired(LookupError):
    """The start id is older than the mailbox's retained history (Gmail answers 404)."""


def history_type(value: str) -> str | None:
    """The canonical historyTypes value for `value` (`messageAdded`, `MESSAGE_ADDED`…), or None."""
    wanted = value.replace("_", "").lower()
    return next((t for t in HISTORY_TYPES if t.lower() == wanted), None)


def history_page(
    box: Mailbox,
    start_history_id: int,
    *,
    history_types: Collection[str] = (),
    label_id: str | None = None,
    max_results: int = DEFAULT_PAGE_SIZE,
    page_token: str | None = None,
) -> HistoryResponse:
    """One page of a history.list answer, shaped as Gmail's JSON.

    Args:
        box: the mailbox.
        start_history_id: only records with a greater id are returned.
        history_types: canonical types to keep; all when empty.
        label_id: keep only records whose message has this label.
        max_results: page size, clamped to 1..500.
        page_token: the `nextPageToken` of the previous page.

    Raises:
        HistoryExpired: `start_history_id` is below the mailbox's `history_floor`.
        PageTokenError: `page_token` is not one this function produced.
    """
    if start_history_id < box.history_floor:
        raise HistoryExpired(start_history_id)
    after = max(start_history_id, _decode(page_token)) if page_token else start_history_id
    kinds = frozenset(history_types) or HISTORY_TYPES
    size = min(max(max_results, 1), MAX_PAGE_SIZE)
    first = bisect.bisect_right(box.history, after, key=lambda r: r.id)
    page: list[HistoryRecord] = []
    more = False
    for record in box.history[first:]:
        if record.kind in kinds and (label_id is None or label_id in record.message.label_ids):
            if len(page) == size:
                more = True
                break
            page.append(record)
    current = str(box.history_id)
    if not page:
        return {"historyId": current}
    history = [_entry(r) for r in page]
    if more:
        return {"history": history, "nextPageToken": _encode(page[-1].id), "historyId": current}
    return {"history": history, "historyId": current}


def _entry(record: HistoryRecord) -> HistoryEntry:
    message = record.message
    return {
        "id": str(record.id),
        "messages": [{"id": message.id, "threadId": message.thread_id}],
        "messagesAdded": [
            {
                "message": {
                    "id": message.id,
                    "threadId": message.thread_id,
                    "labelIds": sorted(message.label_ids),
                }
            }
        ],
    }


def _encode(history_id: int) -> str:
    return base64.urlsafe_b64encode(f"h1:{history_id}".encode()).decode().rstrip("=")


def _decode(token: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise PageTokenError("Invalid pageToken") from exc
    match = _TOKEN_BODY.match(raw)
    if match is None:
        raise PageTokenError("Invalid pageToken")
    return int(match[1])
