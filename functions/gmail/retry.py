"""Calling Google within a time budget: wait as long as Google says, else back off with jitter.

Transient failures (429, 5xx, 403 rate limits, timeouts; see ``google_errors``) are retried
inside one invocation while the budget allows, which rides out short rate-limit storms without a
Pub/Sub round trip; past the budget the classified error goes up and Pub/Sub redelivers later.

How long to wait comes from Google's own signals where it gives one. Gmail states the retry time
in the error message ("User-rate limit exceeded.  Retry after 2026-11-29T17:00:00.000Z") and
documents no ``Retry-After`` header for its rate limits
(https://developers.google.com/workspace/gmail/api/guides/handle-errors); other Google APIs put
a ``google.rpc.RetryInfo`` in the error details (https://google.aip.dev/194), and some front ends
send ``Retry-After`` (RFC 9110 §10.2.3). Any of them is honoured: a request repeated before the
stated time is refused again and spends the budget for nothing. Without one, the delay follows
Google's guidance for Gmail (truncated exponential backoff) with AWS's "full jitter", so many
instances backing off at once do not retry in lockstep.
"""

from __future__ import annotations

import email.utils
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from functions import google_errors
from functions.errors import AppError

BASE_DELAY_SECONDS = 0.5
MAX_DELAY_SECONDS = 32.0
STATED_JITTER_SECONDS = 0.25
"""Added at random to a stated wait, so instances told the same time do not all arrive at once."""
_RETRY_AFTER_TEXT = re.compile(
    r"Retry after (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d))"
)
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)s$")
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


@dataclass
class Budget:
    """Seconds left for this invocation's work."""

    seconds: float
    started: float = field(default_factory=time.monotonic)

    def left(self) -> float:
        """Seconds remaining, never negative."""
        return max(0.0, self.seconds - (time.monotonic() - self.started))


def call[T](
    action: Callable[[], T],
    *,
    budget: Budget,
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[float, float], float] = random.uniform,
    now: Callable[[], datetime] | None = None,
) -> T:
    """Run ``action``, retrying transient Google failures while ``budget`` allows.

    Args:
        action: the call to make.
        budget: the time this invocation may still spend.
        sleep, jitter, now: injectable for tests (``now`` reads a stated retry time).

    Raises:
        AppError: the classified failure (retryable ones once the budget is spent, or at once
            when Google's stated retry time is beyond it).
        Exception: anything ``google_errors`` does not recognise, unchanged.
    """
    attempt = 0
    while True:
        try:
            with google_errors.mapped():
                return action()
        except AppError as error:
            if not error.retryable:
                raise
            delay = stated_delay(google_errors.origin(error), (now or _utcnow)())
            if delay is None:
                delay = jitter(0.0, min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2**attempt))
            else:
                delay += jitter(0.0, STATED_JITTER_SECONDS)
            if delay > budget.left():
                raise
            sleep(delay)
            attempt += 1


def stated_delay(error: BaseException, now: datetime) -> float | None:
    """Seconds from ``now`` until the time Google said a retry may succeed, if it said one.

    Looks at, in turn: a ``Retry-After`` header (seconds or an HTTP date), a
    ``google.rpc.RetryInfo`` detail (``retryDelay`` such as ``"2.5s"``) and a "Retry after
    <RFC 3339 time>" in the error's messages. Never negative.
    """
    response = getattr(error, "resp", None)
    header = response.get("retry-after") if isinstance(response, dict) else None
    if header:
        return _header_delay(str(header).strip(), now)
    body = google_errors.error_body(getattr(error, "content", b""))
    for detail in _dicts(body.get("details")):
        match = _DURATION.match(str(detail.get("retryDelay", "")))
        if detail.get("@type") == _RETRY_INFO and match:
            return float(match[1])
    messages = [body.get("message"), *(item.get("message") for item in _dicts(body.get("errors")))]
    for message in messages:
        found = _RETRY_AFTER_TEXT.search(message) if isinstance(message, str) else None
        if found:
            when = datetime.fromisoformat(found[1])
            return max(0.0, (when - now).total_seconds())
    return None


def _header_delay(value: str, now: datetime) -> float | None:
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _dicts(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _utcnow() -> datetime:
    return datetime.now(UTC)
