"""The ``list_messages`` entry point: a Pub/Sub mailbox request in, results out.

Permanent failures were already reported on the results topic by ``read_mailbox``, refused
requests by ``refuse_request``; whether the message is acknowledged or redelivered is decided in
``pubsub_events``.
"""

from __future__ import annotations

from typing import Any

from functions.handlers.pubsub_events import handle_event
from functions.logging_setup import event_context
from functions.pipeline.mailbox import read_mailbox, refuse_request
from functions.pipeline.requests import MailboxRequest, parse_event
from functions.services import Services, get_services


def handle_list_messages(event: Any, services: Services | None = None) -> None:
    """Process one ``google.cloud.pubsub.topic.v1.messagePublished`` CloudEvent."""
    services = services or get_services()
    with event_context(event, services.settings.project):
        services.settings.results_topic_path()  # a missing RESULTS_TOPIC fails every delivery
        handle_event(
            event,
            parse_event,
            lambda request, event_id: read_mailbox(services, request, event_id),
            _describe,
            refused=lambda error: refuse_request(services, error),
        )


def _describe(request: MailboxRequest) -> dict[str, object]:
    return {"user_id": request.user_id, "request_id": request.request_id}
