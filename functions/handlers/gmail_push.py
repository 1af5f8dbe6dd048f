"""The ``gmail_push`` entry point: Gmail's change notifications in, new message IDs out.

As for ``list_messages``, the ack-or-retry decision is made here: malformed notifications and
lost grants are acknowledged; only retryable errors are raised for Pub/Sub to redeliver.
"""

from __future__ import annotations

import logging
from typing import Any

from functions.errors import AppError, MalformedRequest
from functions.push import parse_notification, read_changes
from functions.services import Services, get_services

logger = logging.getLogger(__name__)


def handle_gmail_push(event: Any, services: Services | None = None) -> None:
    """Process one Gmail push notification CloudEvent."""
    services = services or get_services()
    services.settings.results_topic_path()  # a missing RESULTS_TOPIC fails every delivery
    try:
        notification = parse_notification(event.data)
    except MalformedRequest as error:
        logger.warning(
            "malformed Gmail notification acknowledged",
            extra={"json_fields": {"reason": str(error), "event_id": event.get("id")}},
        )
        return
    try:
        read_changes(services, notification, event_id=f"{event.get('source')}#{event.get('id')}")
    except AppError as error:
        fields = {"history_id": notification.history_id, "error": error.code}
        if error.retryable:
            logger.warning("notification will be retried", extra={"json_fields": fields})
            raise
        logger.warning("notification failed for good", extra={"json_fields": fields})
