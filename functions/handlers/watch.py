"""The ``watch`` and ``renew_watches`` entry points: Gmail push notifications, kept alive.

Both are internal: deploy them without unauthenticated access. ``watch`` takes
``POST {"user_id": ...}``; ``renew_watches`` is what Cloud Scheduler calls daily.
"""

from __future__ import annotations

import flask

from functions.errors import MethodNotAllowed
from functions.handlers.json_body import user_id_from
from functions.logging_setup import request_context
from functions.pipeline.watch import renew_watches, start_watch
from functions.services import Services, get_services
from functions.web.responses import json_error_response, json_response, secure


def handle_watch(request: flask.Request, services: Services | None = None) -> flask.Response:
    """Start (or renew) one user's watch; answer its position and expiry."""
    services = services or get_services()
    with request_context(request, services.settings.project):
        try:
            user_id = user_id_from(request)
            watch = start_watch(services, user_id)
            response = json_response(
                {
                    "user_id": user_id,
                    "history_id": watch.history_id,
                    "expiration": watch.expiration.isoformat(),
                }
            )
        except Exception as error:  # every failure becomes a JSON answer
            response = json_error_response(error)
        return secure(response, https=True)


def handle_renew_watches(
    request: flask.Request, services: Services | None = None
) -> flask.Response:
    """Renew every active user's watch; answer how many were renewed, skipped, failed."""
    services = services or get_services()
    with request_context(request, services.settings.project):
        try:
            if request.method != "POST":
                raise MethodNotAllowed(f"{request.method} is not allowed")
            report = renew_watches(services)
            response = json_response(report.as_json(), 200 if not report.failed else 500)
        except Exception as error:  # every failure becomes a JSON answer
            response = json_error_response(error)
        return secure(response, https=True)
