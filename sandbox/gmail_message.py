"""users.messages.get: a sandbox message as Gmail's Message resource, in each `format`.

https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.messages/get and
.../rest/v1/users.messages#Message. Every sandbox message is a single text/plain part whose body
is its snippet, so `full` and `raw` are cheap to render exactly.
"""

from __future__ import annotations

import base64
from collections.abc import Collection
from datetime import UTC, datetime
from email.utils import format_datetime

from sandbox.mailbox import Message

FORMATS = frozenset({"minimal", "metadata", "full", "raw"})
#: Formats the gmail.metadata scope may not ask for (Gmail answers 403).
BODY_FORMATS = frozenset({"full", "raw"})

Header = dict[str, str]


def headers(message: Message) -> list[Header]:
    """From, To, Subject, an RFC 2822 Date derived from internalDate, and a Message-ID."""
    date = datetime.fromtimestamp(message.internal_date / 1000, UTC)
    return [
        {"name": "From", "value": message.sender},
        {"name": "To", "value": message.to},
        {"name": "Subject", "value": message.subject},
        {"name": "Date", "value": format_datetime(date)},
        {"name": "Message-ID", "value": rfc822_message_id(message)},
    ]


def rfc822_message_id(message: Message) -> str:
    """The message's RFC 5322 Message-ID (what the `rfc822msgid:` search operator matches)."""
    return f"<{message.id}.{message.thread_id}@mail.sandbox.example>"


def rfc822(message: Message) -> bytes:
    """The message as RFC 5322 text, the source of `raw` and `sizeEstimate`."""
    head = "".join(f"{h['name']}: {h['value']}\r\n" for h in headers(message))
    return (head + "Content-Type: text/plain; charset=UTF-8\r\n\r\n" + _body(message)).encode()


def render(
    message: Message, fmt: str = "full", metadata_headers: Collection[str] = ()
) -> dict[str, object]:
    """The Message resource in `fmt` (one of FORMATS, lower case).

    Args:
        message: the sandbox message.
        fmt: `minimal` (no payload), `metadata` (headers), `full` (headers and body) or `raw`.
        metadata_headers: for `metadata` only, the header names to keep (case-insensitive).
    """
    resource: dict[str, object] = {
        "id": message.id,
        "threadId": message.thread_id,
        "labelIds": sorted(message.label_ids),
        "snippet": message.snippet,
    }
    source = rfc822(message)
    if fmt == "raw":
        resource["raw"] = base64.urlsafe_b64encode(source).decode("ascii")
    elif fmt in ("metadata", "full"):
        names = {name.lower() for name in metadata_headers} if fmt == "metadata" else set()
        kept = [h for h in headers(message) if not names or h["name"].lower() in names]
        payload: dict[str, object] = {"mimeType": "text/plain", "headers": kept}
        if fmt == "full":
            body = _body(message).encode()
            payload = {
                "partId": "",
                **payload,
                "filename": "",
                "body": {"size": len(body), "data": base64.urlsafe_b64encode(body).decode()},
            }
        resource["payload"] = payload
    resource["sizeEstimate"] = len(source)
    resource["historyId"] = str(message.history_id)
    resource["internalDate"] = str(message.internal_date)
    return resource


def _body(message: Message) -> str:
    return message.snippet + "\r\n"
