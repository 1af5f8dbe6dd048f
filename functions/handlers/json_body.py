"""Reading the small JSON bodies of the internal (IAM-invoked) functions, strictly."""

from __future__ import annotations

import json

import flask

from functions.consent.identify import is_user_id
from functions.errors import BadRequest, MethodNotAllowed, PayloadTooLarge, UnsupportedMediaType

MAX_BODY_BYTES = 4096


def user_id_from(request: flask.Request) -> str:
    """The ``user_id`` of a ``POST`` whose JSON body is exactly ``{"user_id": ...}``.

    Raises:
        BadRequest: (or a subclass) for the wrong method, media type, size or shape.
    """
    if request.method != "POST":
        raise MethodNotAllowed(f"{request.method} is not allowed")
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("the body must be application/json")
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body must be at most {MAX_BODY_BYTES} bytes")
    raw = request.stream.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body must be at most {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the body is not JSON") from None
    if not isinstance(body, dict) or set(body) != {"user_id"} or not is_user_id(body["user_id"]):
        raise BadRequest('the body must be {"user_id": "<the user\'s ID>"}')
    return str(body["user_id"])
