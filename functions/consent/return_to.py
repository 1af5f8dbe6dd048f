"""Where the browser may be sent after success: only under an ``ALLOWED_RETURN_TO`` prefix.

The check compares parsed URLs, not strings (OWASP's unvalidated-redirects guidance): scheme and
host must be equal, the port too, and the path must be under the prefix's path at a segment
boundary. Userinfo, backslashes, control characters and scheme-relative URLs never pass, so
``https://allowed@evil``, ``//evil`` and ``https://allowed.evil`` are refused.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit

from functions.errors import ReturnToNotAllowed

MAX_LENGTH = 2048

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
    if len(url) > MAX_LENGTH or "\\" in url or not url.isprintable() or " " in url:
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
