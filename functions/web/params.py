"""Strict reading of query parameters from the browser.

A parameter appears at most once (a second copy is how parameter-pollution attacks slip a value
past one parser and into another), is bounded in length, and holds printable text only.
"""

from __future__ import annotations

from werkzeug.datastructures import MultiDict

from functions.errors import BadRequest


def single(args: MultiDict[str, str], name: str, *, max_length: int) -> str | None:
    """The one value of ``name``, or ``None`` when absent or empty.

    Raises:
        BadRequest: the parameter is repeated, too long, or holds control characters.
    """
    values = args.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        raise BadRequest(f"parameter {name} is repeated")
    value = values[0]
    if len(value) > max_length:
        raise BadRequest(f"parameter {name} is longer than {max_length} characters")
    if not value.isprintable():
        raise BadRequest(f"parameter {name} holds control characters")
    return value or None


def required(args: MultiDict[str, str], name: str, *, max_length: int) -> str:
    """Like :func:`single`, but absence is an error too."""
    value = single(args, name, max_length=max_length)
    if value is None:
        raise BadRequest(f"parameter {name} is missing")
    return value
