"""The ``security_events`` entry point: Google's Cross-Account Protection receiver.

RFC 8935 push delivery: the body of a ``POST`` is one security event token
(``application/secevent+jwt``). A valid token is answered ``202 Accepted`` (a redelivered one
too: it changes nothing more); an invalid one ``400`` with ``{"err", "description"}`` (RFC 8935
§2.3) and changes nothing; a failure worth a retry 5xx, so Google redelivers. Public, as Google
posts without credentials: the token's signature is the authentication. Runs in the HTTP shell
(``handlers.http``) as the internal functions do: POST only, every other error as JSON.
"""

from __future__ import annotations

import functools
import logging

import flask

from functions.errors import PayloadTooLarge, SecurityEventRejected
from functions.grants.security_events import (
    MAX_TOKEN_BYTES,
    TokenValidator,
    receive,
    validator_for,
)
from functions.handlers.http import serve_json
from functions.logging_setup import RequestSecrets
from functions.services import Services, get_services
from functions.web.responses import json_response

logger = logging.getLogger(__name__)


def handle_security_events(
    request: flask.Request, services: Services | None = None
) -> flask.Response:
    """``POST`` one security event token → 202, or 400 ``{"err", "description"}``."""
    services = services or get_services()

    def answer(secrets_: RequestSecrets) -> flask.Response:
        if (request.content_length or 0) > MAX_TOKEN_BYTES:
            raise PayloadTooLarge(f"the body must be at most {MAX_TOKEN_BYTES} bytes")
        raw = request.stream.read(MAX_TOKEN_BYTES + 1)
        if len(raw) > MAX_TOKEN_BYTES:
            raise PayloadTooLarge(f"the body must be at most {MAX_TOKEN_BYTES} bytes")
        token = raw.decode("ascii", errors="replace").strip()
        secrets_.add(token)
        try:
            outcome = receive(services, _validator(services), token)
        except SecurityEventRejected as rejected:
            logger.warning(
                "security event rejected",
                extra={"json_fields": {"err": rejected.err, "reason": str(rejected)}},
            )
            return json_response({"err": rejected.err, "description": str(rejected)}, 400)
        logger.info("security event accepted", extra={"json_fields": {"outcome": outcome}})
        return flask.Response(status=202)

    return serve_json(request, answer, services.settings)


@functools.cache
def _validator(services: Services) -> TokenValidator:
    """One validator per instance, so the configuration and keys are fetched once an hour."""
    return validator_for(services)
