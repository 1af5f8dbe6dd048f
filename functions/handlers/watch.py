"""The ``watch`` and ``renew_watches`` entry points: Gmail push notifications, kept alive.

Both are internal: deploy them without unauthenticated access. ``watch`` takes
``POST {"user_id": ...}``; ``renew_watches`` is what Cloud Scheduler calls daily: it dispatches
one unit of work per user to ``upkeep_user`` (``pipeline.daily``), which keeps the user's grant
in hand (``grants.upkeep``) and renews their watch.
"""

from __future__ import annotations

import flask

from functions.handlers.http import serve_json, user_id_from
from functions.logging_setup import RequestSecrets
from functions.pipeline.daily import dispatch
from functions.pipeline.watch import start_watch
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
    """Dispatch the day's upkeep, one message per user (``pipeline.daily``); answer the run's
    ID and how many users were dispatched. The work itself is ``upkeep_user``'s."""
    services = services or get_services()

    def answer(_secrets: RequestSecrets) -> flask.Response:
        return json_response(dispatch(services).as_json())

    return serve_json(request, answer, services.settings)
