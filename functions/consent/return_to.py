"""Where the browser may be sent after success: only under an ``ALLOWED_RETURN_TO`` prefix.

The check compares parsed URLs, not strings (OWASP's unvalidated-redirects guidance): scheme and
host must be equal, the port too, and the path must be under the prefix's path at a segment
boundary. Userinfo, backslashes, control characters and scheme-relative URLs never pass, so
``https://allowed@evil``, ``//evil`` and ``https://allowed.evil`` are refused.

A URL is ASCII (RFC 3986 §2: anything else is percent-encoded), and this one travels sealed in
the flow cookie and again, percent-encoded, in the "Try again" link of the outcome cookie: a
browser keeps no cookie over 4,096 bytes (RFC 6265 §6.1), and a dropped flow cookie fails the
sign-in as an expired link. So only ASCII passes, and at most :data:`MAX_LENGTH` of it.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit

from functions.errors import ReturnToNotAllowed

MAX_LENGTH = 512
"""The longest ``return_to``, in characters (so bytes: it is ASCII)."""

# Encoded dots, slashes and backslashes let a path climb out of its prefix once decoded.
_DOT_OR_ENCODED_SEPARATOR = re.compile(r"%(2e|2f|5c)", re.IGNORECASE)


def check_return_to(value: str, allowed_prefixes: tuple[str, ...]) -> str:
    """Return ``value`` if it is an allowed destination.

    Raises:
        ReturnToNotAllowed: no prefix allows it, or it is not a plain absolute URL.
    """
    target = _parse(value)
    if target is not None:
        for prefix in allowed_prefixes:
            allowed = _parse(prefix)
            if allowed is not None and _is_under(target, allowed):
                return value
    raise ReturnToNotAllowed("return_to is not an allowed destination")


def _parse(url: str) -> SplitResult | None:
    if len(url) > MAX_LENGTH or not url.isascii() or not url.isprintable():
        return None
    if "\\" in url or " " in url:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return None
    if parts.scheme not in ("https", "http") or not parts.hostname or "@" in parts.netloc:
        return None
    if "%" in parts.netloc or _DOT_OR_ENCODED_SEPARATOR.search(parts.path):
        return None
    if any(segment in (".", "..") for segment in parts.path.split("/")):
        return None
    return parts


def _port(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)


def _is_under(target: SplitResult, prefix: SplitResult) -> bool:
    if (target.scheme, target.hostname, _port(target)) != (
        prefix.scheme,
        prefix.hostname,
        _port(prefix),
    ):
        return False
    base = prefix.path or "/"
    path = target.path or "/"
    if base.endswith("/"):
        return path.startswith(base)
    return path == base or path.startswith(base + "/")
