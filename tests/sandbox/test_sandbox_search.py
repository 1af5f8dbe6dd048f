"""The Gmail query subset and list paging as pure functions, on hand-made messages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sandbox.gmail_list import PageTokenError, list_page
from sandbox.gmail_message import rfc822_message_id
from sandbox.gmail_query import QueryError, parse
from sandbox.mailbox import Message

NOW = datetime(2025, 6, 15, 12, tzinfo=UTC).timestamp()
DAY = 86_400_000


def _message(n: int, days_ago: float, labels: set[str], **fields: str) -> Message:
    date = int(NOW * 1000 - days_ago * DAY)
    defaults = {"sender": "Ann <ann@example.com>", "to": "me@example.com", "subject": "Hello"}
    defaults.update(fields)
    return Message(
        id=f"{n:016x}",
        thread_id=f"{n:016x}",
        label_ids=frozenset(labels),
        internal_date=date,
        sender=defaults["sender"],
        to=defaults["to"],
        subject=defaults["subject"],
        snippet="a short snippet",
    )


MESSAGES = [
    _message(6, 0.5, {"INBOX", "UNREAD"}, subject="Quarterly report"),
    _message(5, 3, {"INBOX", "STARRED"}, sender="Bob Stone <bob@example.org>"),
    _message(4, 40, {"SPAM"}, subject="You won"),
    _message(3, 200, {"TRASH", "CATEGORY_PROMOTIONS"}),
    _message(2, 400, {"SENT"}, to="carol@example.net", subject="Re: plans"),
    _message(1, 800, {"INBOX", "CATEGORY_SOCIAL"}),
]


def _ids(q: str) -> list[int]:
    query = parse(q, NOW)
    return [int(m.id, 16) for m in MESSAGES if query.matches(m)]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("", [6, 5, 4, 3, 2, 1]),
        ("newer_than:7d", [6, 5]),
        ("older_than:1y", [2, 1]),
        ("newer_than:2m", [6, 5, 4]),
        ("after:2025/06/12", [6, 5]),
        ("before:2025-05-01", [3, 2, 1]),
        ("after:2024/01/01 before:2025/01/01", [3, 2]),
        (f"after:{int(NOW) - 86400}", [6]),
        ("from:bob", [5]),
        ('from:"bob stone"', [5]),
        ("-from:ann", [5]),
        ("to:carol", [2]),
        ("subject:report", [6]),
        ("QUARTERLY", [6]),
        ('"re: plans"', [2]),
        ("is:starred", [5]),
        ("-in:inbox", [4, 3, 2]),
        ("label:Category_Social", [1]),
        ("category:promotions", [3]),
        ("in:inbox AND is:unread", [6]),
        # OR, braces and groups (Gmail's "Search operators"): OR binds tighter than AND
        ("from:bob OR subject:report", [6, 5]),
        ("{from:bob subject:report}", [6, 5]),
        ("{from:bob OR subject:report}", [6, 5]),
        ("from:ann OR from:bob subject:report", [6]),
        ("from:{bob nobody}", [5]),
        ("subject:(quarterly report)", [6]),
        ("subject:(quarterly plans)", []),
        ("-(in:inbox OR in:spam)", [3, 2]),
        ("-{in:inbox in:spam} to:carol", [2]),
        ("(is:starred OR is:unread) -from:bob", [6]),
        # has:, sizes and Message-IDs
        ("has:attachment", []),
        ("-has:attachment", [6, 5, 4, 3, 2, 1]),
        ("has:userlabels", []),
        ("has:nouserlabels", [6, 5, 4, 3, 2, 1]),
        ("has:yellow-star", [5]),
        ("larger:10K", []),
        ("smaller:10k", [6, 5, 4, 3, 2, 1]),
        ("larger:100", [6, 5, 4, 3, 2, 1]),
        ("size:1M", []),
        (f"rfc822msgid:{rfc822_message_id(MESSAGES[1])}", [5]),
        (f"rfc822msgid:{rfc822_message_id(MESSAGES[1]).strip('<>')} in:inbox", [5]),
    ],
)
def test_query_terms(q, expected):
    assert _ids(q) == expected


@pytest.mark.parametrize(
    ("q", "names"),
    [
        ("in:spam", True),
        ("label:TRASH", True),
        ("in:anywhere", True),
        ("-in:spam", False),
        ("is:unread", False),
        ("in:spam OR in:inbox", True),
        ("-(in:spam OR in:trash)", False),
        ("-(-in:trash)", True),
    ],
)
def test_which_queries_lift_the_spam_and_trash_exclusion(q, names):
    assert parse(q, NOW).names_spam_trash is names


@pytest.mark.parametrize(
    "q",
    ['"unbalanced', "(a", "a)", "{a", "a}", "()", "{}", "OR a", "a OR", "AND a", "-",
     "x:y", "is:muted", "newer_than:3w", "after:yesterday", "category:nope", "ab\"c",
     "has:everything", "larger:big", "size:10G"],
)  # fmt: skip
def test_unsupported_syntax_is_rejected(q):
    with pytest.raises(QueryError):
        parse(q, NOW)


def test_list_excludes_spam_and_trash_unless_named_or_included():
    everything = parse("", NOW)

    default = list_page(MESSAGES, everything)
    included = list_page(MESSAGES, everything, include_spam_trash=True)
    by_label = list_page(MESSAGES, everything, ["TRASH"])

    assert default["resultSizeEstimate"] == 4
    assert included["resultSizeEstimate"] == 6
    assert by_label["messages"] == [{"id": f"{3:016x}", "threadId": f"{3:016x}"}]


def test_paging_is_stable_when_a_new_message_arrives_between_pages():
    everything = parse("", NOW)
    first = list_page(MESSAGES, everything, max_results=2, include_spam_trash=True)
    newer = [_message(7, 0.1, {"INBOX"}), *MESSAGES]

    second = list_page(
        newer,
        everything,
        max_results=10,
        include_spam_trash=True,
        page_token=first["nextPageToken"],
    )

    seen = [m["id"] for m in first["messages"]] + [m["id"] for m in second["messages"]]
    assert seen == [m.id for m in MESSAGES]
    assert "nextPageToken" not in second


def test_the_last_page_has_no_next_page_token():
    page = list_page(MESSAGES, parse("", NOW), max_results=4)

    assert len(page["messages"]) == 4
    assert "nextPageToken" not in page


@pytest.mark.parametrize("token", ["", "!!", "bTE6eDp5", "bTI6MToweDAwMDAwMDAwMDAwMDAwMDA"])
def test_forged_page_tokens_are_refused(token):
    if not token:
        assert list_page(MESSAGES, parse("", NOW), page_token=token)["resultSizeEstimate"] == 4
        return
    with pytest.raises(PageTokenError):
        list_page(MESSAGES, parse("", NOW), page_token=token)
