"""The ``watch`` and ``renew_watches`` entry points: Gmail push notifications, kept alive.

Both are internal: deploy them without unauthenticated access. ``watch`` takes
``POST {"user_id": ...}``; ``renew_watches`` is what Cloud Scheduler calls daily, and it also
keeps idle and time-limited grants in hand (``grants.upkeep``).
"""

from __future__ import annotations

import flask

from functions.grants.upkeep import keep_grants_alive
from functions.handlers.http import serve_json, user_id_from
from functions.logging_setup import RequestSecrets
from functions.pipeline.watch import renew_watches, start_watch
from functions.services import Services, get_services
from functions.web.responses import json_response


def handle_watch(request: flask.Request, services: Services | None = None) -> flask.Response:
    """Start (or renew) one user's watch; answer its position and expiry."""
    services = services or get_services()

    def answer(_secrets: RequestSecrets) -> flask.Response:
        user_id = user_id_from(request)
        watch = start_watch(services, user_id)
        return json_response(
            {
                "user_id": user_id,
                "history_id": watch.history_id,
                "expiration": watch.expiration.isoformat(),
            }
        )

    return serve_json(request, answer, services.settings)


def handle_renew_watches(
    request: flask.Request, services: Services | None = None
) -> flask.Response:
    """Keep grants alive (``grants.upkeep``), then renew every active user's watch; answer how
    many were renewed, skipped, failed, and what the grants' upkeep did (under ``grants``)."""
    services = services or get_services()

    def answer(_secrets: RequestSecrets) -> flask.Response:
        upkeep = keep_grants_alive(services)  # first: an ended grant renews no watch
        report = renew_watches(services)
        failed = report.failed or upkeep.failed
        return json_response(
            {**report.as_json(), "grants": upkeep.as_json()}, 500 if failed else 200
        )

    return serve_json(request, answer, services.settings)
