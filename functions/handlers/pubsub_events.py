"""The one place where a Pub/Sub event's outcome becomes an acknowledgement or a redelivery.

Returning acknowledges the message; raising makes Pub/Sub redeliver it. Something that can never
succeed on a retry (a malformed message, an unknown user, a lost grant) is logged and
acknowledged; only errors marked ``retryable``, and surprises, are raised.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from functions.errors import AppError, MalformedRequest
from functions.pipeline.ledger import event_key

logger = logging.getLogger(__name__)


def handle_event[T](
    event: Any,
    parse: Callable[[Any], T],
    work: Callable[[T, str], object],
    describe: Callable[[T], dict[str, object]],
) -> None:
    """Parse ``event.data``, do the work once per event ID, and decide: acknowledge or retry.

    Args:
        event: the CloudEvent (``google.cloud.pubsub.topic.v1.messagePublished``).
        parse: reads the message; raises ``MalformedRequest`` for anything unusable.
        work: does it, given the parsed message and a stable ID of the event.
        describe: the log fields that identify the message (never its secrets).
    """
    message = event.data.get("message") if isinstance(event.data, dict) else None
    attributes = message.get("attributes") if isinstance(message, dict) else None
    event_id = event_key(event.get("source"), event.get("id"), attributes)
    try:
        parsed = parse(event.data)
    except MalformedRequest as error:
        logger.warning(
            "malformed message acknowledged",
            extra={"json_fields": {"reason": str(error), "event_id": event.get("id")}},
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
