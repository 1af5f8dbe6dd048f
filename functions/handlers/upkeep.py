"""The ``upkeep_user`` entry point: one user's share of the daily job (``pipeline.daily``).

Whether the message is acknowledged or redelivered is decided in ``pubsub_events``.
"""

from __future__ import annotations

from typing import Any

from functions.handlers.pubsub_events import handle_event
from functions.logging_setup import event_context
from functions.pipeline.daily import UnitOfWork, parse_unit, upkeep_user
from functions.services import Services, get_services


def handle_upkeep_user(event: Any, services: Services | None = None) -> None:
    """Process one daily unit of work CloudEvent."""
    services = services or get_services()
    with event_context(event, services.settings.project):
        handle_event(
            event,
            parse_unit,
            lambda unit, _event_id: upkeep_user(services, unit),
            _describe,
        )


def _describe(unit: UnitOfWork) -> dict[str, object]:
    return {"user_id": unit.user_id, "run_id": unit.run_id}
