"""Strict reading of query parameters from the browser.

A parameter appears at most once (a second copy is how parameter-pollution attacks slip a value
past one parser and into another), is bounded in size, and holds printable text only. The bound
is in UTF-8 bytes, not characters: the value may end up in a cookie, a Firestore field or a
Pub/Sub attribute, and each of those limits bytes (a character may take four).
"""

from __future__ import annotations

from werkzeug.datastructures import MultiDict

from functions.errors import BadRequest
from functions.sizes import utf8_length


def single(args: MultiDict[str, str], name: str, *, max_length: int) -> str | None:
    """The one value of ``name``, or ``None`` when absent or empty.

    Args:
        max_length: the most UTF-8 bytes the value may take.

    Raises:
        BadRequest: the parameter is repeated, too long, or holds control characters.
    """
    values = args.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        raise BadRequest(f"parameter {name} is repeated")
    value = values[0]
    if utf8_length(value) > max_length:
        raise BadRequest(f"parameter {name} is longer than {max_length} bytes")
    if not value.isprintable():
        raise BadRequest(f"parameter {name} holds control characters")
    return value or None


def required(args: MultiDict[str, str], name: str, *, max_length: int) -> str:
    """Like :func:`single`, but absence is an error too."""
    value = single(args, name, max_length=max_length)
    if value is None:
        raise BadRequest(f"parameter {name} is missing")
    return value
