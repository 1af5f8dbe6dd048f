"""Publishing listing results to ``RESULTS_TOPIC`` (docs/design.md §3).

Each request produces ``messages`` batches (one per Gmail page) and then exactly one closing
message, ``complete`` with the total or ``error`` with a reason, so a consumer always knows when a
request is finished. Every message carries the ``type``, ``user_id``, ``request_id`` and
``result_id`` attributes. ``result_id`` is deterministic (``<request_id>:<page>``,
``<request_id>:complete``, ``<request_id>:error``): a page published again after an interrupted
run has the same ID, so consumers drop duplicates.

A refused request (``invalid_request``) may name no user, or a user or request ID that is not
valid; the body repeats what it named, and an attribute whose value would pass Pub/Sub's limit
of 1,024 bytes (https://cloud.google.com/pubsub/quotas#resource_limits) is left out rather than
cut, since a cut ID would match nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent import futures
from typing import TYPE_CHECKING, Any

from functions.errors import TransientError
from functions.sizes import PUBSUB_ATTRIBUTE_BYTES, utf8_length

if TYPE_CHECKING:
    from google.cloud.pubsub_v1 import PublisherClient

PUBLISH_TIMEOUT_SECONDS = 60.0


class ResultPublisher:
    """Publishes the results of one mailbox request."""

    def __init__(
        self, publisher: PublisherClient, topic: str, user_id: str | None, request_id: str
    ) -> None:
        self._publisher = publisher
        self._topic = topic
        self._user_id = user_id
        self._request_id = request_id
        self._pending: list[futures.Future[str]] = []

    def batch(self, page: int, messages: Sequence[dict[str, str]]) -> None:
        """Publish page ``page`` (numbered from 1) of message references, without waiting."""
        self._send("messages", str(page), {"page": page, "messages": list(messages)})

    def complete(self, *, total: int, pages: int, truncated: bool, wait: bool = True) -> None:
        """Publish the completion message with the total, and wait until all is accepted
        (unless ``wait`` is false: the caller flushes, after sending more elsewhere).

        Pub/Sub does not keep order without ordering keys, so the completion is not held back
        behind the batches: consumers count against ``total`` and de-duplicate by result ID.
        """
        self._send("complete", "complete", {"total": total, "pages": pages, "truncated": truncated})
        if wait:
            self.flush()

    def error(self, code: str, message: str, *, reason: str | None = None) -> None:
        """Close the request with an error the pipeline can act on.

        Args:
            code: what went wrong, one of the README's list (``invalid_request``, ...).
            message: our sentence about it.
            reason: the specific cause, when known: what was wrong with the request, Gmail's
                own message, why the grant was lost.
        """
        self._send("error", "error", {"error": code, "message": message, "reason": reason})
        self.flush()

    def flush(self) -> None:
        """Wait until everything sent so far is accepted by Pub/Sub.

        Raises:
            TransientError: a publish failed; the request will be redelivered and resumed.
        """
        pending, self._pending = self._pending, []
        try:
            for future in pending:
                future.result(timeout=PUBLISH_TIMEOUT_SECONDS)
        except Exception as error:
            raise TransientError(f"publishing results failed: {type(error).__name__}") from None

    def _send(self, kind: str, part: str, fields: dict[str, Any]) -> None:
        result_id = f"{self._request_id}:{part}"
        body = {
            "type": kind,
            "user_id": self._user_id,
            "request_id": self._request_id,
            "result_id": result_id,
            **fields,
        }
        if self._user_id is None:
            del body["user_id"]
        data = json.dumps(body, separators=(",", ":")).encode()
        attributes = {
            name: value
            for name, value in (
                ("type", kind),
                ("user_id", self._user_id),
                ("request_id", self._request_id),
                ("result_id", result_id),
            )
            if _fits_attribute(value)
        }
        self._pending.append(self._publisher.publish(self._topic, data, **attributes))


def _fits_attribute(value: str | None) -> bool:
    """Whether ``value`` can be a Pub/Sub attribute value: non-empty UTF-8 within the limit (a
    refused request may name a lone surrogate, which JSON allows and UTF-8 does not)."""
    if not value:
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return utf8_length(value) <= PUBSUB_ATTRIBUTE_BYTES
