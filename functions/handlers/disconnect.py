"""The ``disconnect`` entry point: ``POST {"user_id": ...}`` revokes and deletes a user's grant.

Meant for trusted callers only: deploy it without unauthenticated access, so Cloud Run's IAM
check (``roles/run.invoker``) is the authentication. It answers JSON: 200 with what happened to
the revocation and the document, 404 for an unknown user, 4xx for a malformed request.
"""

from __future__ import annotations

import json

import flask

from functions.disconnect import disconnect_user
from functions.errors import BadRequest, MethodNotAllowed, PayloadTooLarge, UnsupportedMediaType
from functions.http_responses import json_error_response, json_response, secure
from functions.identify import is_user_id
from functions.logging_setup import request_context
from functions.services import Services, get_services

MAX_BODY_BYTES = 4096


def handle_disconnect(request: flask.Request, services: Services | None = None) -> flask.Response:
    """Revoke then delete; the JSON says what happened to each."""
    services = services or get_services()
    with request_context(request, services.settings.project):
        try:
            user_id = _user_id(request)
            result = disconnect_user(services, user_id)
            response = json_response(result.as_json(), 200 if result.found else 404)
        except Exception as error:  # every failure becomes a JSON answer
            response = json_error_response(error)
            if isinstance(error, MethodNotAllowed):
                response.headers["Allow"] = "POST"
        return secure(response, https=True)


def _user_id(request: flask.Request) -> str:
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
