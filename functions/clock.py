"""The one place the flow asks for the time, so tests can pass a clock they move."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (Firestore stores it as a timestamp)."""
    return datetime.now(UTC)
