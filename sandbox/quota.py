"""Gmail's per-user rate limit as a sliding window of quota units.

https://developers.google.com/gmail/api/reference/quota: each method costs units
(messages.list 5, messages.get 5, history.list 2, watch 100, stop 1, getProfile 1; each call
inside a batch is charged on its own) and a user may spend a fixed number per minute. A refused
call spends nothing and learns how long until enough units have aged out of the window.
"""

from __future__ import annotations

import math
from collections import deque

WINDOW_SECONDS = 60.0


class SlidingQuota:
    """Units spent per key within the last `window` seconds. Not thread-safe on its own."""

    def __init__(self, window: float = WINDOW_SECONDS) -> None:
        self._window = window
        self._spent: dict[str, deque[tuple[float, int]]] = {}
        self._totals: dict[str, int] = {}

    def charge(
        self, key: str, units: int, limit: int, now: float, window: float | None = None
    ) -> int | None:
        """Spend `units` for `key` if the window (by default the constructor's) allows it.

        Returns:
            None when charged, else the whole seconds to wait before retrying (at least 1).
        """
        window = self._window if window is None else window
        spent = self._spent.setdefault(key, deque())
        total = self._totals.get(key, 0)
        while spent and spent[0][0] <= now - window:
            total -= spent.popleft()[1]
        self._totals[key] = total
        if total + units <= limit:
            spent.append((now, units))
            self._totals[key] = total + units
            return None
        excess, freed = total + units - limit, 0
        for when, amount in spent:
            freed += amount
            if freed >= excess:
                return max(1, math.ceil(when + window - now))
        return math.ceil(window)

    def reset(self) -> None:
        """Forget everything spent."""
        self._spent.clear()
        self._totals.clear()
