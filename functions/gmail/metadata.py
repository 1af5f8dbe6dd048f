"""Message metadata on request (``"format": "metadata"``): From, Subject, Date and snippet.

Gmail has no "list with headers" call, so each listed message costs one ``messages.get`` with
``format=metadata`` (no body is transferred): 5 quota units, or 20 for projects created since May
2026, whose users get 6,000 units a minute instead of 15,000 (Gmail's usage limits). They travel
in batch requests of at most 50 calls (Gmail accepts 100 but documents that larger batches
trigger rate limiting), and fewer where the pace asks (7 at 2026 prices). The session paces
them to the user's quota (``functions.gmail.pacing``); a page is begun only if the quota lets all
of it be read within the invocation's budget.
"""

from __future__ import annotations

import functools
from typing import Any

from functions.gmail.api import GmailApi, MessageRef
from functions.gmail.session import GmailSession

BATCH_SIZE = 50
HEADERS = ("From", "Subject", "Date")


def describe(session: GmailSession, refs: list[MessageRef]) -> list[dict[str, str]]:
    """``refs`` with ``from``, ``subject``, ``date`` and ``snippet`` added, in the same order.

    Messages deleted since they were listed are left out.

    Raises:
        TransientError: the quota would not let every message be read within the budget left.
    """
    session.expect("messages.get", len(refs))
    size = min(BATCH_SIZE, session.calls_per_batch("messages.get"))
    described: list[dict[str, str]] = []
    for start in range(0, len(refs), size):
        chunk = refs[start : start + size]
        responses = session.execute_batch(
            {ref["id"]: functools.partial(_get, message_id=ref["id"]) for ref in chunk}
        )
        for ref in chunk:
            response = responses.get(ref["id"])
            if response is not None:
                described.append({**ref, **_summary(response)})
    return described


def _get(api: GmailApi, message_id: str) -> Any:
    return api.messages.get(
        userId="me", id=message_id, format="metadata", metadataHeaders=list(HEADERS)
    )


def _summary(message: dict[str, Any]) -> dict[str, str]:
    headers = {
        str(header.get("name", "")).lower(): str(header.get("value", ""))
        for header in message.get("payload", {}).get("headers", [])
    }
    return {
        "from": headers.get("from", ""),
        "subject": headers.get("subject", ""),
        "date": headers.get("date", ""),
        "snippet": str(message.get("snippet", "")),
    }
