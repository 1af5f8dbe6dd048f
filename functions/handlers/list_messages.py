"""The ``list_messages`` entry point: a Pub/Sub mailbox request in, results out.

The requesting pipeline is the one whose requests topic the delivery came through: the push
subscription's endpoint path names the topic, and functions-framework makes it the CloudEvent's
``source``. A pipeline can publish only to its own requests topic (topic-level IAM, infra/), and
only the push subscriptions' account may invoke this function, so the payload never decides whose
request it is. A delivery from any other topic is logged and acknowledged.

Permanent failures were already reported on the results topic by ``read_mailbox``, refused
requests by ``refuse_request``; whether the message is acknowledged or redelivered is decided in
``pubsub_events``. A read paused for Gmail's quota after progress is continued by a new message
on the same requests topic (``continue_paused``) and acknowledged.
"""

from __future__ import annotations

import logging
from typing import Any

from functions.errors import QuotaPaused
from functions.handlers.pubsub_events import handle_event
from functions.logging_setup import event_context
from functions.pipeline.mailbox import continue_paused, read_mailbox, refuse_request
from functions.pipeline.requests import MailboxRequest, parse_event
from functions.services import Services, get_services

logger = logging.getLogger(__name__)
SOURCE_PREFIX = "//pubsub.googleapis.com/"


def handle_list_messages(event: Any, services: Services | None = None) -> None:
    """Process one ``google.cloud.pubsub.topic.v1.messagePublished`` CloudEvent."""
    services = services or get_services()
    with event_context(event, services.settings.project):
        pipeline = _pipeline(services, event.get("source"))
        if pipeline is None:
            return
        # a missing RESULTS_TOPIC fails every delivery
        services.settings.results_topic_path(pipeline)
        topic = str(event.get("source")).removeprefix(SOURCE_PREFIX)

        def work(request: MailboxRequest, event_id: str) -> None:
            try:
                read_mailbox(services, pipeline, request, event_id)
            except QuotaPaused as pause:
                continue_paused(services.publisher, topic, event.data["message"], pause)

        handle_event(
            event,
            parse_event,
            work,
            _describe,
            refused=lambda error: refuse_request(services, pipeline, error),
        )


def _pipeline(services: Services, source: object) -> str | None:
    """The pipeline whose requests topic ``source`` names; ``None`` (logged) for any other."""
    topic = source.removeprefix(SOURCE_PREFIX) if isinstance(source, str) else ""
    pipeline = services.settings.pipeline_of_topic(topic)
    if pipeline is None:
        logger.error(
            "delivery from a topic that is no pipeline's requests topic acknowledged",
            extra={"json_fields": {"source": str(source)[:300]}},
        )
    return pipeline


def _describe(request: MailboxRequest) -> dict[str, object]:
    return {"user_id": request.user_id, "request_id": request.request_id}
