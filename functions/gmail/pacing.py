"""Spending a user's Gmail quota at the pace Gmail allows, instead of bouncing off its refusals.

Gmail's usage limits (https://developers.google.com/workspace/gmail/api/reference/quota) give each
user of a project a number of quota units per minute and price each method in units; each call
inside a batch is charged on its own. Projects that used the API before May 1, 2026 keep 15,000
units per user per minute and pay 5 for ``messages.get``; projects created since get 6,000 and pay
20. Both pay 5 for ``messages.list``, 2 for ``history.list``, 1 for ``getProfile`` and ``stop``,
and 100 for ``watch``. Listing IDs is the cheap path: 5 units buy up to 500 IDs, where metadata
costs 5 or 20 units a message.

A :class:`Pacer` per user and instance is a token bucket that holds :data:`BURST` of the limit and
refills at the limit less twice that per window. Such a bucket spends at most ``BURST`` plus the
refill in any window, a :data:`BURST` short of the limit, whether Gmail counts a sliding minute,
fixed minutes or a bucket of its own; the spare :data:`BURST` absorbs calls that reach Gmail later
than they were paced, and a new invocation that starts with a full bucket right after another one
spent at the same pace. Bursts larger than the bucket would break that bound, so a batch
carries no more calls than the bucket holds units for (:meth:`Pacer.calls_at_once`).

A call waits for its units before it is sent. A page of metadata is begun only if its units come
within the invocation's budget (a redelivery resumes at a page, so what was read of a cut page
would be read again); otherwise the invocation ends there with a ``QuotaPaused``, and the rest
goes on from the last checkpoint: in a continuation message when this invocation made progress
(``functions.pipeline.mailbox``), else in Pub/Sub's redelivery.

Someone else may spend the same user's quota (another instance, a push notification): a refusal
with a stated retry time empties the bucket until then and lowers the pace by
:data:`SLOW_DOWN`; each window without a refusal gives back :data:`RECOVER` of it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from functions.errors import QuotaPaused

WINDOW_SECONDS = 60.0
"""Gmail counts units per user per minute."""
BURST = 0.025
"""The bucket's size, as a share of the window's units."""
SLOW_DOWN = 0.75
"""The pace is multiplied by this after a refusal..."""
MIN_PACE = 0.25
"""...down to this share of the configured pace."""
RECOVER = 0.1
"""Share of the configured pace given back after each window without a refusal."""

_SHARED_COSTS = {
    "messages.list": 5,
    "history.list": 2,
    "getProfile": 1,
    "watch": 100,
    "stop": 1,
}


@dataclass(frozen=True)
class Quota:
    """A project's per-user Gmail quota: units per window and what each method costs."""

    profile: str
    units_per_window: int
    costs: Mapping[str, int] = field(hash=False, compare=True)
    window_seconds: float = WINDOW_SECONDS

    def cost(self, method_id: str) -> int:
        """Units one call costs; ``method_id`` as googleapiclient names it
        (``gmail.users.messages.get``). A method not in the table is priced as a message read."""
        name = method_id.removeprefix("gmail.users.")
        return self.costs.get(name, self.costs["messages.get"])

    @property
    def units_per_second(self) -> float:
        """The configured limit as a rate (250 or 100 units a second for Gmail's minute)."""
        return self.units_per_window / self.window_seconds


QUOTAS = {
    "legacy": Quota("legacy", 15_000, {**_SHARED_COSTS, "messages.get": 5}),
    "2026": Quota("2026", 6_000, {**_SHARED_COSTS, "messages.get": 20}),
}
"""By ``GMAIL_QUOTA_PROFILE``: projects that used the API before May 2026, and projects created
since."""


class Pacer:
    """The token bucket of one user's quota units; thread-safe, so the calls of every request an
    instance serves for the user share it."""

    def __init__(
        self,
        quota: Quota,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.quota = quota
        self._clock, self._sleep = clock, sleep
        self._capacity = BURST * quota.units_per_window
        self._full_rate = (1 - 2 * BURST) * quota.units_per_second
        self._pace = 1.0
        self._lock = threading.Lock()
        self._tokens = self._capacity
        self._updated = self._last_change = clock()

    @property
    def rate(self) -> float:
        """Units per second the bucket refills at now."""
        return self._full_rate * self._pace

    def spend(self, units: int) -> None:
        """Wait until ``units`` may be spent, then spend them. The wait is not held against the
        budget here: :meth:`check` decides, before a page, whether the budget allows it."""
        with self._lock:
            self._refill()
            self._tokens -= units
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)

    def calls_at_once(self, method_id: str) -> int:
        """How many calls of ``method_id`` one batch may carry: a batch reaches Gmail as a burst,
        which the bucket bounds only if it fits in it (7 ``messages.get`` at 2026 prices)."""
        return max(1, int(self._capacity // self.quota.cost(method_id)))

    def check(self, units: int, seconds_left: float, budget: float) -> None:
        """Raise now if ``units`` could not all be spent within ``seconds_left`` (spending
        nothing), unless not even a whole ``budget`` could: then they are left to come as they
        may, since a later invocation could not do better.

        Raises:
            QuotaPaused: as said.
        """
        with self._lock:
            self._refill()
            wait = max(0.0, units - self._tokens) / self.rate
        if seconds_left < wait <= budget:
            raise QuotaPaused(
                f"Gmail's per-user quota allows {units} units in {wait:.1f} s, past this"
                " invocation's budget; the rest is left to a later invocation"
            )

    def refused(self, retry_in: float) -> None:
        """Gmail refused a call for quota and said when to retry: spend nothing until then, and
        slow down."""
        with self._lock:
            self._refill()
            self._pace = max(MIN_PACE, self._pace * SLOW_DOWN)
            self._last_change = self._updated
            self._tokens = min(self._tokens, 0.0) - retry_in * self.rate

    def _refill(self) -> None:
        now = self._clock()
        if self._pace < 1.0 and now - self._last_change >= self.quota.window_seconds:
            self._pace = min(1.0, self._pace + RECOVER)
            self._last_change = now
        self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now


_lock = threading.Lock()
_pacers: dict[str, Pacer] = {}


def pacer_for(user_id: str, quota: Quota) -> Pacer:
    """The instance's pacer for ``user_id`` under ``quota`` (a new one if the quota changed)."""
    with _lock:
        pacer = _pacers.get(user_id)
        if pacer is None or pacer.quota != quota:
            pacer = _pacers[user_id] = Pacer(quota)
        return pacer


__all__ = ["QUOTAS", "WINDOW_SECONDS", "Pacer", "Quota", "pacer_for"]
