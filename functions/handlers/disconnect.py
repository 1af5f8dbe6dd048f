"""The ``disconnect`` entry point: ``POST {"user_id": ...}`` revokes and deletes a user's grant.

Meant for trusted callers only: deploy it without unauthenticated access, so Cloud Run's IAM
check (``roles/run.invoker``) is the authentication. It answers JSON: 200 with what happened to
the revocation and the document; 202 when revocation failed and a tombstone waits for the daily
retry (``deleted: false``); 404 for an unknown user, 4xx for a malformed request.
"""

from __future__ import annotations

import flask

from functions.grants.disconnect import disconnect_user
from functions.handlers.http import serve_json, user_id_from
from functions.logging_setup import RequestSecrets
from functions.services import Services, get_services
from functions.web.responses import json_response


def handle_disconnect(request: flask.Request, services: Services | None = None) -> flask.Response:
    """Revoke then delete; the JSON says what happened to each."""
    services = services or get_services()

    def answer(_secrets: RequestSecrets) -> flask.Response:
        result = disconnect_user(services, user_id_from(request))
        status = 404 if not result.found else 202 if result.pending else 200
        return json_response(result.as_json(), status)

    return serve_json(request, answer, services.settings)
