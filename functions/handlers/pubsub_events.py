"""The one place where a Pub/Sub event's outcome becomes an acknowledgement or a redelivery.

Returning acknowledges the message; raising makes Pub/Sub redeliver it. Something that can never
succeed on a retry (a malformed message, an unknown user, a lost grant) is logged and
acknowledged, a malformed one after its sender was told (``refused``) where that is possible;
only errors marked ``retryable``, and surprises, are raised.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from functions.errors import AppError, MalformedRequest
from functions.pipeline.ledger import event_key

logger = logging.getLogger(__name__)

_LOGGED_ID_LENGTH = 128
"""What a log line keeps of an event ID (a malformed one may be of any length)."""


def handle_event[T](
    event: Any,
    parse: Callable[[Any], T],
    work: Callable[[T, str], object],
    describe: Callable[[T], dict[str, object]],
    refused: Callable[[MalformedRequest], object] | None = None,
) -> None:
    """Parse ``event.data``, do the work once per event ID, and decide: acknowledge or retry.

    Args:
        event: the CloudEvent (``google.cloud.pubsub.topic.v1.messagePublished``).
        parse: reads the message; raises ``MalformedRequest`` for anything unusable.
        work: does it, given the parsed message and a stable ID of the event.
        describe: the log fields that identify the message (never its secrets).
        refused: tells the sender why a malformed message was refused; a retryable error it
            raises has the message redelivered.
    """
    message = event.data.get("message") if isinstance(event.data, dict) else None
    attributes = message.get("attributes") if isinstance(message, dict) else None
    try:
        event_id = event_key(event.get("source"), event.get("id"), attributes)
        parsed = parse(event.data)
    except MalformedRequest as error:
        if refused is not None:
            refused(error)
        logger.warning(
            "malformed message acknowledged",
            extra={
                "json_fields": {
                    "reason": str(error),
                    "event_id": str(event.get("id"))[:_LOGGED_ID_LENGTH],
                    "reported": refused is not None and error.names_a_request,
                }
            },
        )
        return
    try:
        work(parsed, event_id)
    except AppError as error:
        fields = {**describe(parsed), "error": error.code, "reason": str(error)}
        if error.retryable:
            logger.warning("message will be redelivered", extra={"json_fields": fields})
            raise
        logger.warning(
            "message failed for good and was acknowledged", extra={"json_fields": fields}
        )
