"""Sizes in bytes, where the limits of Google's services and of browsers count them.

A limit in characters lets a value through that a limit in bytes then refuses, far from the
check and too late for a clear answer: a character takes up to four bytes in UTF-8, and up to
twelve once JSON escapes it. So input is measured here, in the unit the limit uses.
"""

from __future__ import annotations

PUBSUB_ATTRIBUTE_BYTES = 1024
"""Pub/Sub's limit on an attribute value (https://cloud.google.com/pubsub/quotas
#resource_limits)."""
COOKIE_BYTES = 4096
"""What a browser keeps of one cookie, name and value (RFC 6265 §6.1 asks for at least this;
browsers keep no more)."""


def utf8_length(value: str) -> int:
    """How many bytes ``value`` takes in UTF-8. A lone surrogate, which JSON can carry and UTF-8
    cannot, counts its three bytes; it is unprintable, so it is refused wherever text is read."""
    return len(value.encode("utf-8", "surrogatepass"))


def is_text(value: object, max_bytes: int) -> bool:
    """Whether ``value`` is printable text (no control characters, no lone surrogates) of at
    most ``max_bytes`` in UTF-8."""
    return isinstance(value, str) and value.isprintable() and utf8_length(value) <= max_bytes
