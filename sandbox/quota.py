"""Gmail's per-user rate limit: quota units per user per minute, per-method costs, two profiles.

https://developers.google.com/workspace/gmail/api/reference/quota ("Usage limits", read
2026-11-29): each method costs units and a user may spend a fixed number per minute per project.
Its note: "As of May 1, 2026, the usage limits for this API were updated"; projects that used the
API between November 2025 and April 2026 keep their quotas (15,000 units per user per minute,
`userRateLimitExceeded` past it, and `messages.get` at 5 units in the table they were given),
and projects created since get 6,000 units per user per minute and pay 20 for `messages.get`.
Both profiles charge `messages.list` 5, `history.list` 2, `getProfile` 1, `watch` 100 and `stop`
1. Each call inside a batch is charged on its own. A refused call spends nothing and learns when
enough units will have aged out. The window slides: within any `window` seconds a user spends at
most the limit, the strictest reading of "per minute" (a client paced to it is also within a
fixed-minute count or a token bucket of the same rate)."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class QuotaProfile:
    """A project's Gmail quota: the per-user limit and what each method costs."""

    name: str
    units_per_user_per_minute: int
    costs: Mapping[str, int]

    def cost(self, method: str) -> int:
        """Units one call of `method` (a call-counter name such as `gmail.messages.get`) costs."""
        return self.costs[method]


_SHARED_COSTS = {
    "gmail.messages.list": 5,
    "gmail.history.list": 2,
    "gmail.getProfile": 1,
    "gmail.watch": 100,
    "gmail.stop": 1,
}
LEGACY = QuotaProfile("legacy", 15_000, {**_SHARED_COSTS, "gmail.messages.get": 5})
"""Projects that used the Gmail API before May 2026."""
PROFILE_2026 = QuotaProfile("2026", 6_000, {**_SHARED_COSTS, "gmail.messages.get": 20})
"""Projects created on or after May 1, 2026."""
PROFILES = {profile.name: profile for profile in (LEGACY, PROFILE_2026)}


class SlidingQuota:
    """Units spent per key within the last `window` seconds. Not thread-safe on its own."""

    def __init__(self, window: float = WINDOW_SECONDS) -> None:
        self._window = window
        self._spent: dict[str, deque[tuple[float, int]]] = {}
        self._totals: dict[str, int] = {}

    def charge(
        self, key: str, units: int, limit: int, now: float, window: float | None = None
    ) -> float | None:
        """Spend `units` for `key` if the window (by default the constructor's) allows it.

        Returns:
            None when charged, else the time (same clock as `now`) from which the same call
            fits again; `now + window` when it can never fit.
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
                return when + window
        return now + window

    def reset(self) -> None:
        """Forget everything spent."""
        self._spent.clear()
        self._totals.clear()


class ConcurrentCalls:
    """Calls in flight per key, refused past a limit. Not thread-safe on its own."""

    def __init__(self) -> None:
        self._open: dict[str, int] = {}

    def begin(self, key: str, limit: int) -> bool:
        """Count one more call for `key`; False (and nothing counted) when `limit` are open."""
        current = self._open.get(key, 0)
        if current >= limit:
            return False
        self._open[key] = current + 1
        return True

    def end(self, key: str) -> None:
        """One call for `key` finished."""
        current = self._open.get(key, 0)
        if current <= 1:
            self._open.pop(key, None)
        else:
            self._open[key] = current - 1

    def open(self, key: str) -> int:
        """How many calls for `key` are in flight."""
        return self._open.get(key, 0)
