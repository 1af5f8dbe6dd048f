"""The ``security_events`` entry point: Google's Cross-Account Protection receiver.

RFC 8935 push delivery: the body of a ``POST`` is one security event token
(``application/secevent+jwt``). A valid token is answered ``202 Accepted`` (a redelivered one
too: it changes nothing more); an invalid one ``400`` with ``{"err", "description"}`` and changes
nothing; a failure worth a retry 5xx, so Google redelivers. Public, as Google posts without
credentials: the token's signature is the authentication.
"""

from __future__ import annotations

import functools
import logging

import flask

from functions.errors import MethodNotAllowed, PayloadTooLarge, SecurityEventRejected
from functions.http_responses import json_error_response, json_response, secure
from functions.logging_setup import request_context
from functions.security_events import MAX_TOKEN_BYTES, TokenValidator, receive, validator_for
from functions.services import Services, get_services

logger = logging.getLogger(__name__)


def handle_security_events(
    request: flask.Request, services: Services | None = None
) -> flask.Response:
    """``POST`` one security event token → 202, or 400 ``{"err", "description"}``."""
    services = services or get_services()
    with request_context(request, services.settings.project) as secrets_:
        try:
            if request.method != "POST":
                raise MethodNotAllowed(f"{request.method} is not allowed")
            if (request.content_length or 0) > MAX_TOKEN_BYTES:
                raise PayloadTooLarge(f"the body must be at most {MAX_TOKEN_BYTES} bytes")
            raw = request.stream.read(MAX_TOKEN_BYTES + 1)
            if len(raw) > MAX_TOKEN_BYTES:
                raise PayloadTooLarge(f"the body must be at most {MAX_TOKEN_BYTES} bytes")
            token = raw.decode("ascii", errors="replace").strip()
            secrets_.add(token)
            outcome = receive(services, _validator(services), token)
            logger.info("security event accepted", extra={"json_fields": {"outcome": outcome}})
            response = flask.Response(status=202)
        except SecurityEventRejected as rejected:
            logger.warning(
                "security event rejected",
                extra={"json_fields": {"err": rejected.err, "reason": str(rejected)}},
            )
            response = json_response({"err": rejected.err, "description": str(rejected)}, 400)
        except Exception as error:  # every other failure becomes a JSON answer
            response = json_error_response(error)
            if isinstance(error, MethodNotAllowed):
                response.headers["Allow"] = "POST"
        return secure(response, https=True)


@functools.cache
def _validator(services: Services) -> TokenValidator:
    """One validator per instance, so the configuration and keys are fetched once an hour."""
    return validator_for(services)
