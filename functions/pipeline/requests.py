"""The mailbox request a pipeline publishes (docs/design.md §3), parsed strictly.

Only ``user_id`` is required. Unknown keys are refused rather than ignored, so a typo such as
``lable_ids`` is reported instead of silently listing the whole mailbox. A refused request that
named a user or a request ID says so in its :class:`MalformedRequest`, so its sender can be told
why on the results topic; one that named neither can only be logged.

Sizes are in UTF-8 bytes, as the limits downstream count them: ``request_id`` becomes the
``request_id`` attribute and the ``<request_id>:<part>`` ``result_id`` of every result, and
Pub/Sub refuses an attribute over 1,024 bytes, so an ID over :data:`MAX_REQUEST_ID_BYTES` is
refused here rather than failing every publish of its results.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from functions.consent.identify import is_user_id
from functions.errors import MalformedRequest
from functions.pipeline.ledger import REPLAY_OF
from functions.sizes import is_text, utf8_length

MAX_QUERY_BYTES = 2048
MAX_REQUEST_ID_BYTES = 256
"""The longest ``request_id``: with the longest suffix a result ID adds (``:complete``), far
within Pub/Sub's attribute limit."""
MAX_LABEL_ID_BYTES = 256
MAX_LABELS = 100
_NAMED_BYTES = 64 * 1024
"""The longest ID a refused request's error repeats."""
MAX_MESSAGES_CAP = 1_000_000
_KEYS = frozenset(
    {"user_id", "query", "label_ids", "max_messages", "include_spam_trash", "request_id", "format"}
)
FORMATS = ("minimal", "metadata")
"""``minimal``: message and thread IDs only; ``metadata``: also From, Subject, Date, snippet."""


@dataclass(frozen=True)
class MailboxRequest:
    """What to list, for whom."""

    user_id: str
    request_id: str
    query: str | None = None
    label_ids: tuple[str, ...] = ()
    max_messages: int | None = None
    include_spam_trash: bool = False
    format: str = "minimal"


def parse_event(event_data: Any) -> MailboxRequest:
    """Read a mailbox request out of a Pub/Sub ``messagePublished`` CloudEvent's data.

    The Pub/Sub ``messageId`` is the default ``request_id``: it is the same on every
    redelivery, so consumers can match results to requests even when the caller set none. A
    continuation of a paused read or a dead-letter replay has a new ID and names the original in
    ``ledger.REPLAY_OF``: that original ID is the default then, so its results keep their IDs.

    Raises:
        MalformedRequest: the envelope or the request is unusable.
    """
    message = event_data.get("message") if isinstance(event_data, dict) else None
    if not isinstance(message, dict) or not isinstance(message.get("data"), str):
        raise MalformedRequest("the event carries no Pub/Sub message data")
    try:
        payload = base64.b64decode(message["data"], validate=True)
    except (binascii.Error, ValueError):
        raise MalformedRequest("the message data is not base64") from None
    attributes = message.get("attributes")
    original = attributes.get(REPLAY_OF) if isinstance(attributes, dict) else None
    message_id = original or message.get("messageId") or message.get("message_id")
    return parse_request(payload, default_request_id=str(message_id or "") or None)


def parse_request(payload: bytes, *, default_request_id: str | None = None) -> MailboxRequest:
    """Validate a mailbox request's JSON.

    Raises:
        MalformedRequest: naming the first field that is missing or wrong.
    """
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise MalformedRequest("the message data is not JSON") from None
    if not isinstance(body, dict):
        raise MalformedRequest("the request must be a JSON object")
    try:
        return _validated(body, default_request_id)
    except MalformedRequest as error:
        user_id, request_id = _named(body, "user_id"), _named(body, "request_id")
        if user_id is not None or request_id is not None:
            error.user_id, error.request_id = user_id, request_id or default_request_id
        raise


def _validated(body: dict[str, Any], default_request_id: str | None) -> MailboxRequest:
    unknown = sorted(set(body) - _KEYS)
    if unknown:
        raise MalformedRequest(f"unknown field(s): {', '.join(map(str, unknown))[:200]}")
    user_id = body.get("user_id")
    if not is_user_id(user_id):
        raise MalformedRequest("user_id must be the user's ID (a non-empty string without '/')")
    request_id = _optional_text(body, "request_id", MAX_REQUEST_ID_BYTES) or default_request_id
    if not request_id:
        raise MalformedRequest("request_id is missing and the message has no messageId")
    return MailboxRequest(
        user_id=user_id,
        request_id=request_id,
        query=_optional_text(body, "query", MAX_QUERY_BYTES),
        label_ids=_labels(body.get("label_ids")),
        max_messages=_max_messages(body.get("max_messages")),
        include_spam_trash=_flag(body.get("include_spam_trash")),
        format=_format(body.get("format")),
    )


def _named(body: dict[str, Any], key: str) -> str | None:
    """What a refused request gave as ``key``, if it is a non-empty string (valid or not) of at
    most :data:`_NAMED_BYTES`: the error repeats it, and a huge one (JSON escapes a character to
    up to three times its UTF-8 size) could pass Pub/Sub's 10 MB message limit and fail to
    publish on every delivery."""
    value = body.get(key)
    if isinstance(value, str) and value and utf8_length(value) <= _NAMED_BYTES:
        return value
    return None


def _format(value: Any) -> str:
    if value is None:
        return "minimal"
    if value not in FORMATS:
        raise MalformedRequest(f"format must be one of {', '.join(FORMATS)}")
    return str(value)


def _optional_text(body: dict[str, Any], key: str, max_bytes: int) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not is_text(value, max_bytes):
        raise MalformedRequest(f"{key} must be a printable string of at most {max_bytes} bytes")
    return str(value) or None


def _labels(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if (
        not isinstance(value, list)
        or len(value) > MAX_LABELS
        or not all(label and is_text(label, MAX_LABEL_ID_BYTES) for label in value)
    ):
        raise MalformedRequest(f"label_ids must be a list of at most {MAX_LABELS} label IDs")
    return tuple(value)


def _max_messages(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_MESSAGES_CAP:
        raise MalformedRequest(f"max_messages must be an integer from 1 to {MAX_MESSAGES_CAP}")
    return value


def _flag(value: Any) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise MalformedRequest("include_spam_trash must be true or false")
    return value
