"""Calling Google within a time budget: honour ``Retry-After``, else back off with full jitter.

Transient failures (429, 5xx, timeouts; see ``google_errors``) are retried inside one invocation
while the budget allows, which rides out short rate-limit storms without a Pub/Sub round trip;
past the budget the classified error goes up and Pub/Sub redelivers later. The delay follows
Google's guidance for Gmail (truncated exponential backoff) and AWS's "full jitter", so many
instances backing off at once do not retry in lockstep.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from functions import google_errors

BASE_DELAY_SECONDS = 0.5
MAX_DELAY_SECONDS = 32.0


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
) -> T:
    """Run ``action``, retrying transient Google failures while ``budget`` allows.

    Raises:
        AppError: the classified failure (retryable ones once the budget is spent).
        Exception: anything ``google_errors`` does not recognise, unchanged.
    """
    attempt = 0
    while True:
        try:
            return action()
        except Exception as error:
            classified = google_errors.classify(error)
            if classified is None:
                raise
            if not classified.retryable:
                raise classified from None
            delay = retry_after(error)
            if delay is None:
                delay = jitter(0.0, min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2**attempt))
            if delay > budget.left():
                raise classified from None
            sleep(delay)
            attempt += 1


def retry_after(error: BaseException) -> float | None:
    """The delay a 429/503 asks for (``Retry-After`` in seconds or as an HTTP date), if any."""
    response = getattr(error, "resp", None)
    value = response.get("retry-after") if isinstance(response, dict) else None
    if not value:
        return None
    value = str(value).strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
