"""The ``gmail_push`` entry point: Gmail's change notifications in, new message IDs out.

Whether the message is acknowledged or redelivered is decided in ``pubsub_events``.
"""

from __future__ import annotations

from typing import Any

from functions.handlers.pubsub_events import handle_event
from functions.logging_setup import event_context
from functions.pipeline.push import Notification, parse_notification, read_changes
from functions.services import Services, get_services


def handle_gmail_push(event: Any, services: Services | None = None) -> None:
    """Process one Gmail push notification CloudEvent."""
    services = services or get_services()
    with event_context(event, services.settings.project):
        for pipeline in services.settings.pipelines:  # a missing RESULTS_TOPIC fails them all
            services.settings.results_topic_path(pipeline)
        handle_event(
            event,
            parse_notification,
            lambda notification, event_id: read_changes(services, notification, event_id),
            _describe,
        )


def _describe(notification: Notification) -> dict[str, object]:
    return {"history_id": notification.history_id}
