"""The quota pacer against the sandbox's own per-user quota (a sliding window, as Gmail's minute
is modelled there), on a clock the test moves: no refusal, and close to the quota floor."""

from __future__ import annotations

import math

import pytest

from functions.errors import QuotaPaused
from functions.gmail.pacing import QUOTAS, Pacer
from sandbox.quota import PROFILES, SlidingQuota

USER = "pat@example.com"


class Clock:
    """Time that passes only when someone sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def read_metadata(
    pacer: Pacer, gmail: SlidingQuota, clock: Clock, profile: str, messages: int
) -> int:
    """List and describe ``messages`` as the session does (a list call, then batches of
    ``messages.get`` as large as the pacer allows), each part charged by the sandbox when sent;
    returns the refusals."""
    limit = PROFILES[profile].units_per_user_per_minute
    costs = {
        name: PROFILES[profile].cost(f"gmail.{name}") for name in ("messages.list", "messages.get")
    }
    refused = 0
    for page in range(math.ceil(messages / 500)):
        pacer.spend(costs["messages.list"])
        refused += gmail.charge(USER, costs["messages.list"], limit, clock()) is not None
        in_page = min(500, messages - page * 500)
        batch = min(50, pacer.calls_at_once("gmail.users.messages.get"))
        for start in range(0, in_page, batch):
            parts = min(batch, in_page - start)
            pacer.spend(parts * costs["messages.get"])
            for _ in range(parts):
                refused += gmail.charge(USER, costs["messages.get"], limit, clock()) is not None
            clock.sleep(0.05)  # the batch's round trip
    return refused


@pytest.mark.parametrize("profile", ["legacy", "2026"])
def test_a_paced_metadata_read_is_never_refused_and_ends_near_the_quota_floor(profile):
    # GIVEN a user whose quota nothing else spends, and the pacer for the project's profile
    clock, gmail = Clock(), SlidingQuota()
    pacer = Pacer(QUOTAS[profile], clock=clock, sleep=clock.sleep)
    started = clock()

    # WHEN 20,000 messages are listed and described
    refused = read_metadata(pacer, gmail, clock, profile, 20_000)

    # THEN Gmail refused nothing, and the read took about what the quota allows at best
    units = 40 * 5 + 20_000 * QUOTAS[profile].cost("messages.get")
    floor = units / QUOTAS[profile].units_per_second
    assert refused == 0
    assert floor * 0.95 <= clock() - started <= floor * 1.15


def test_a_new_instance_resuming_right_after_another_is_not_refused():
    # GIVEN one instance paced a read right up to the moment it stopped
    clock, gmail = Clock(), SlidingQuota()
    first = Pacer(QUOTAS["2026"], clock=clock, sleep=clock.sleep)
    assert read_metadata(first, gmail, clock, "2026", 2_000) == 0

    # WHEN a redelivery lands on a fresh instance at once, with a full bucket of its own
    second = Pacer(QUOTAS["2026"], clock=clock, sleep=clock.sleep)

    # THEN the spare headroom absorbs it: nothing is refused
    assert read_metadata(second, gmail, clock, "2026", 2_000) == 0


def test_a_refusal_waits_for_the_stated_time_and_slows_the_pace():
    clock = Clock()
    pacer = Pacer(QUOTAS["legacy"], clock=clock, sleep=clock.sleep)
    pace = pacer.rate

    # WHEN Gmail refuses a call for quota, saying to retry in 2 s
    pacer.refused(2.0)

    # THEN the next units wait at least that long, and come slower from then on
    before = clock()
    pacer.spend(5)
    assert clock() - before >= 2.0
    assert pacer.rate == pytest.approx(pace * 0.75)

    # AND a window without refusals gives some of the pace back
    clock.sleep(60)
    pacer.spend(5)
    assert pacer.rate == pytest.approx(pace * 0.85)


def test_a_page_the_budget_cannot_pay_for_is_not_begun():
    clock = Clock()
    pacer = Pacer(QUOTAS["2026"], clock=clock, sleep=clock.sleep)
    page = 500 * 20  # units of a page of metadata: about 105 s of the 2026 quota

    # a page that fits what is left of the budget may begin
    pacer.check(page, seconds_left=200, budget=240)
    # one that does not ends the invocation before any of its units are spent
    with pytest.raises(QuotaPaused):
        pacer.check(page, seconds_left=60, budget=240)
    assert clock() == 1000.0
    # one that not even a whole budget could pay for goes ahead: a redelivery would do no better
    pacer.check(page, seconds_left=60, budget=100)
