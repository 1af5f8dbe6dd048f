"""The ``watch`` and ``renew_watches`` entry points: Gmail push notifications, kept alive.

Both are internal: deploy them without unauthenticated access. ``watch`` takes
``POST {"user_id": ...}``; ``renew_watches`` is what Cloud Scheduler calls daily, and it also
keeps idle and time-limited grants in hand.
"""

from __future__ import annotations

import flask

from functions.errors import MethodNotAllowed
from functions.grant_upkeep import keep_grants_alive
from functions.handlers.json_body import user_id_from
from functions.http_responses import json_error_response, json_response, secure
from functions.logging_setup import request_context
from functions.services import Services, get_services
from functions.watch import renew_watches, start_watch


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
    """Keep grants alive (``functions.grant_upkeep``), then renew every active user's watch;
    answer how many were renewed, skipped, failed, and what the grants' upkeep did."""
    services = services or get_services()
    with request_context(request, services.settings.project):
        try:
            if request.method != "POST":
                raise MethodNotAllowed(f"{request.method} is not allowed")
            upkeep = keep_grants_alive(services)  # first: an ended grant renews no watch
            report = renew_watches(services)
            failed = report.failed or upkeep.failed
            response = json_response(
                {**report.as_json(), "grants": upkeep.as_json()}, 500 if failed else 200
            )
        except Exception as error:  # every failure becomes a JSON answer
            response = json_error_response(error)
        return secure(response, https=True)
