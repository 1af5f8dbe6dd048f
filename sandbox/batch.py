"""Google's batch wire format: a multipart/mixed body of application/http parts (RFC 2046 §5.1).

https://developers.google.com/workspace/gmail/api/guides/batch: each part embeds one HTTP request
(request line, headers, optional body) and carries a Content-ID; the answer has one part per
request, in order, with `Content-ID: <response-ID>` and the embedded HTTP response. Written out
with CRLF line ends, which googleapiclient's BatchHttpRequest needs to split headers from body.
"""

from __future__ import annotations

import email.message
import email.parser
import email.policy
import http
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

_BLANK_LINE = re.compile(rb"\r?\n\r?\n")


class BatchFormatError(ValueError):
    """The body is not a multipart/mixed batch of application/http requests."""


@dataclass(frozen=True)
class PartRequest:
    """One request embedded in a batch."""

    content_id: str | None
    method: str
    target: str  # path and query, e.g. /gmail/v1/users/me/messages/abc?format=minimal
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True)
class PartResponse:
    """One response to embed in the batch answer."""

    content_id: str | None
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def parse(content_type: str, body: bytes) -> list[PartRequest]:
    """The requests in a batch body, in order.

    Raises:
        BatchFormatError: not multipart/mixed, a part that is not application/http, or an
            embedded request without a request line.
    """
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace")
    message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(head + body)
    if message.get_content_type() != "multipart/mixed" or not message.is_multipart():
        raise BatchFormatError("A batch must be multipart/mixed")
    requests = []
    for part in message.get_payload():
        if not isinstance(part, email.message.Message):
            raise BatchFormatError("A batch must be multipart/mixed")
        if part.get_content_type() != "application/http":
            raise BatchFormatError("Every part of a batch must be application/http")
        raw = part.get_payload(decode=True)
        requests.append(_request(part.get("Content-ID"), raw if isinstance(raw, bytes) else b""))
    return requests


def render(responses: Sequence[PartResponse]) -> tuple[str, bytes]:
    """(Content-Type, body) of the batch answer, with a fresh boundary."""
    boundary = "batch_" + secrets.token_hex(16)
    out = bytearray()
    for response in responses:
        out += f"--{boundary}\r\nContent-Type: application/http\r\n".encode()
        if response.content_id:
            out += f"Content-ID: {response_id(response.content_id)}\r\n".encode()
        out += f"\r\nHTTP/1.1 {response.status} {_phrase(response.status)}\r\n".encode()
        for name, value in response.headers:
            out += f"{name}: {value}\r\n".encode("latin-1", "replace")
        out += b"\r\n" + response.body + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return f"multipart/mixed; boundary={boundary}", bytes(out)


def response_id(content_id: str) -> str:
    """Google's answer to `Content-ID: <x>`: `<response-x>`."""
    inner = content_id.strip()
    if inner.startswith("<") and inner.endswith(">"):
        inner = inner[1:-1]
    return f"<response-{inner}>"


def _request(content_id: str | None, raw: bytes) -> PartRequest:
    """Parse one embedded `METHOD target HTTP/1.1` request with its headers and body."""
    raw = raw.lstrip(b"\r\n")
    split = _BLANK_LINE.search(raw)
    head, body = (raw[: split.start()], raw[split.end() :]) if split else (raw, b"")
    lines = head.decode("latin-1").splitlines()
    words = lines[0].split() if lines else []
    if len(words) not in (2, 3):
        raise BatchFormatError("Every part must hold an HTTP request line")
    target = urlsplit(words[1])
    if not target.path.startswith("/"):
        raise BatchFormatError(f"Invalid request target: {words[1]}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # obsolete line folding (RFC 7230 §3.2.4)
            name, value = headers.pop()
            headers.append((name, f"{value} {line.strip()}"))
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise BatchFormatError(f"Invalid header line in a batch part: {line!r}")
        headers.append((name.strip(), value.strip()))
    query = f"?{target.query}" if target.query else ""
    return PartRequest(content_id, words[0].upper(), target.path + query, tuple(headers), body)


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
