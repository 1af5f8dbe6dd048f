"""The one HTTP shell every HTTP entry point runs in.

It checks the method (a 405 names the allowed ones in ``Allow``), opens the request's logging
context (trace, execution ID, secrets to redact), turns any error into the entry point's kind of
answer (a page for browsers, JSON for IAM callers; each error carries its own status and
headers), and adds the security headers to whatever goes out.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import flask

from functions.config import Settings
from functions.consent.identify import is_user_id
from functions.errors import BadRequest, MethodNotAllowed, PayloadTooLarge, UnsupportedMediaType
from functions.logging_setup import RequestSecrets, request_context
from functions.web.responses import error_response, json_error_response, secure
from functions.web.site import NO_SITE, Site

MAX_BODY_BYTES = 4096

Answer = Callable[[RequestSecrets], flask.Response]


def serve(
    request: flask.Request,
    answer: Answer,
    *,
    methods: tuple[str, ...],
    project: str | None,
    https: bool,
    json_errors: bool = False,
    site: Site = NO_SITE,
    after: Callable[[flask.Response], flask.Response] | None = None,
) -> flask.Response:
    """Answer ``request`` with ``answer`` (given the request's secrets to redact), or its error.

    Args:
        methods: the methods the entry point answers.
        json_errors: errors become JSON (internal functions) instead of a page (browsers).
        site: what an error page shows of the service.
        after: a last step on the response, error or not, before the security headers.
    """
    with request_context(request, project) as secrets_:
        try:
            if request.method not in methods:
                raise MethodNotAllowed(request.method, allowed=methods)
            response = answer(secrets_)
        except Exception as error:  # every failure becomes an answer
            response = json_error_response(error) if json_errors else error_response(error, site)
        if after is not None:
            response = after(response)
        return secure(response, https=https)


def serve_page(
    request: flask.Request,
    answer: Answer,
    settings: Settings,
    *,
    after: Callable[[flask.Response], flask.Response] | None = None,
) -> flask.Response:
    """:func:`serve` for the browser-facing functions: GET only, errors as pages."""
    return serve(
        request,
        answer,
        methods=("GET",),
        project=settings.project,
        https=settings.secure_cookies,
        site=Site.of(settings),
        after=after,
    )


def serve_json(request: flask.Request, answer: Answer, settings: Settings) -> flask.Response:
    """:func:`serve` for the internal (IAM-invoked) functions: POST only, errors as JSON."""
    return serve(
        request, answer, methods=("POST",), project=settings.project, https=True, json_errors=True
    )


def user_id_from(request: flask.Request) -> str:
    """The ``user_id`` of a JSON body that is exactly ``{"user_id": ...}``.

    Raises:
        BadRequest: (or a subclass) for the wrong media type, size or shape.
    """
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
