"""The ``list_messages`` entry point: a Pub/Sub mailbox request in, results out.

The ack-or-retry decision is made here and only here. Returning acknowledges the message; raising
makes Pub/Sub redeliver it. A malformed request, an unknown user or a lost grant can never succeed
on a retry, so they are logged (and, where the request can be addressed, reported on the results
topic) and acknowledged. Only errors marked ``retryable`` are raised.
"""

from __future__ import annotations

import logging
from typing import Any

from functions.errors import AppError, MalformedRequest
from functions.mailbox import read_mailbox
from functions.mailbox_request import parse_event
from functions.services import Services, get_services

logger = logging.getLogger(__name__)


def handle_list_messages(event: Any, services: Services | None = None) -> None:
    """Process one ``google.cloud.pubsub.topic.v1.messagePublished`` CloudEvent."""
    services = services or get_services()
    services.settings.results_topic_path()  # a missing RESULTS_TOPIC fails every delivery
    try:
        request = parse_event(event.data)
    except MalformedRequest as error:
        logger.warning(
            "malformed mailbox request acknowledged",
            extra={"json_fields": {"reason": str(error), "event_id": event.get("id")}},
        )
        return
    fields = {"user_id": request.user_id, "request_id": request.request_id}
    try:
        read_mailbox(services, request, event_id=f"{event.get('source')}#{event.get('id')}")
    except AppError as error:
        if error.retryable:
            logger.warning(
                "mailbox request will be retried",
                extra={"json_fields": {**fields, "reason": str(error)}},
            )
            raise
        logger.warning(
            "mailbox request failed for good and was acknowledged",
            extra={"json_fields": {**fields, "error": error.code, "reason": str(error)}},
        )
