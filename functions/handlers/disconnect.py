"""The ``disconnect`` entry point: ``POST {"user_id": ...}`` revokes and deletes a user's grant.

Meant for trusted callers only: deploy it without unauthenticated access, so Cloud Run's IAM
check (``roles/run.invoker``) is the authentication. It answers JSON: 200 with what happened to
the revocation and the document, 404 for an unknown user, 4xx for a malformed request.
"""

from __future__ import annotations

import flask

from functions.errors import MethodNotAllowed
from functions.grants.disconnect import disconnect_user
from functions.handlers.json_body import user_id_from
from functions.logging_setup import request_context
from functions.services import Services, get_services
from functions.web.responses import json_error_response, json_response, secure


def handle_disconnect(request: flask.Request, services: Services | None = None) -> flask.Response:
    """Revoke then delete; the JSON says what happened to each."""
    services = services or get_services()
    with request_context(request, services.settings.project):
        try:
            user_id = user_id_from(request)
            result = disconnect_user(services, user_id)
            response = json_response(result.as_json(), 200 if result.found else 404)
        except Exception as error:  # every failure becomes a JSON answer
            response = json_error_response(error)
            if isinstance(error, MethodNotAllowed):
                response.headers["Allow"] = "POST"
        return secure(response, https=True)
