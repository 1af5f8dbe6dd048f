"""users.messages.list semantics: filtering, spam/trash exclusion and stable paging.

https://developers.google.com/gmail/api/reference/rest/v1/users.messages/list. A page token
records the sort key of the last message handed out, so each page starts right after it: listing
every page returns every match exactly once, even if the mailbox changes in between.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import re
import threading
from collections.abc import Collection, Hashable, Sequence
from typing import NotRequired, TypedDict

from sandbox.gmail_query import GmailQuery
from sandbox.mailbox import Message

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
_SPAM_TRASH = frozenset({"SPAM", "TRASH"})
_TOKEN_BODY = re.compile(r"^m1:(\d+):([0-9a-f]{16})$")
_CACHE_SIZE = 32
# Listing every page of a large mailbox filters it once, not once per page: benchmarks measure
# the product's round trips, not the stand-in's filtering.
_matches_cache: dict[Hashable, tuple[Sequence[Message], list[Message]]] = {}
_cache_lock = threading.Lock()


class MessageRef(TypedDict):
    """A message as messages.list names it."""

    id: str
    threadId: str


class ListResponse(TypedDict):
    """The JSON body of messages.list; `messages` is absent when nothing matches."""

    messages: NotRequired[list[MessageRef]]
    nextPageToken: NotRequired[str]
    resultSizeEstimate: int


class PageTokenError(ValueError):
    """The page token was not issued by this sandbox."""


def list_page(
    messages: Sequence[Message],
    query: GmailQuery,
    label_ids: Collection[str] = (),
    *,
    include_spam_trash: bool = False,
    max_results: int = DEFAULT_PAGE_SIZE,
    page_token: str | None = None,
    cache_key: Hashable | None = None,
) -> ListResponse:
    """One page of a messages.list answer, shaped as Gmail's JSON.

    Args:
        messages: the mailbox, newest first.
        query: the parsed `q`.
        label_ids: every one of these must be on a message.
        include_spam_trash: include SPAM and TRASH even when neither query nor labels name them.
        max_results: page size, clamped to 1..500 as Gmail does.
        page_token: the `nextPageToken` of the previous page.
        cache_key: names `query` (its text and time); equal keys over the same messages reuse
            the filtered list.

    Raises:
        PageTokenError: `page_token` is not one this function produced.
    """
    wanted = frozenset(label_ids)
    skip = frozenset() if include_spam_trash or query.names_spam_trash else _SPAM_TRASH - wanted
    key = None if cache_key is None else (id(messages), cache_key, wanted, skip)
    with _cache_lock:
        cached = _matches_cache.get(key) if key is not None else None
    if cached is not None and cached[0] is messages:
        matches = cached[1]
    else:
        matches = [
            m
            for m in messages
            if wanted <= m.label_ids and not (skip & m.label_ids) and query.matches(m)
        ]
        if key is not None:
            with _cache_lock:
                if len(_matches_cache) >= _CACHE_SIZE:
                    _matches_cache.clear()
                _matches_cache[key] = (messages, matches)
    start = 0
    if page_token:
        after = _decode(page_token)
        # Newest first: "sorts before the token" is False for a prefix, then True.
        start = bisect.bisect_left(matches, True, key=lambda m: (m.internal_date, m.id) < after)
    size = min(max(max_results, 1), MAX_PAGE_SIZE)
    page = matches[start : start + size]
    body: ListResponse = {"resultSizeEstimate": len(matches)}
    if page:
        body["messages"] = [{"id": m.id, "threadId": m.thread_id} for m in page]
    if start + size < len(matches):
        body["nextPageToken"] = _encode(page[-1])
    return body


def _encode(message: Message) -> str:
    raw = f"m1:{message.internal_date}:{message.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(token: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise PageTokenError("Invalid pageToken") from exc
    match = _TOKEN_BODY.match(raw)
    if match is None:
        raise PageTokenError("Invalid pageToken")
    return int(match[1]), match[2]
