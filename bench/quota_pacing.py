"""A ``format=metadata`` read of a big mailbox, paced to Gmail's per-user quota (issue 17, item 6).

The sandbox charges each call what Gmail's usage limits say (``sandbox/quota.py``) within a
sliding window that stands in for Gmail's minute, shortened (:data:`WINDOWS`) so that the read
takes seconds: every duration scales with it, and the figures are given in windows, which are
minutes in production. The functions are told the same window. The work budget is scaled with it
(:data:`BUDGET_WINDOWS`, as 240 s is four minutes), so a long read spans several invocations, each
redelivery coming at once (Pub/Sub's backoff is not modelled).

The quota floor is the units the read must spend over the per-user limit: ⌈N/500⌉ listings at 5
units plus N ``messages.get`` at 5 (legacy) or 20 (2026) units, at 15,000 or 6,000 units a minute.
"""

from __future__ import annotations

import dataclasses
import math
import time
import uuid
from typing import Any

from bench.world import World
from functions.config import get_settings
from functions.errors import TransientError
from functions.gmail.api import PAGE_SIZE
from functions.gmail.pacing import QUOTAS
from functions.pipeline.mailbox import read_mailbox
from functions.pipeline.requests import MailboxRequest
from functions.services import Services

MESSAGES = 20_000
WINDOWS = {"legacy": 20.0, "2026": 3.0}
"""Seconds standing in for Gmail's minute, per profile: the 2026 read spends ten times the
windows the legacy one does, so its window is shorter. Neither is much shorter: the sandbox must
answer well ahead of the pace (here 140 ``messages.get`` a second in batches of 50, and 95 in
batches of 7; at twice that, on a shared machine, it fell behind), and what does not shrink with
the window (each invocation's own work: claiming the event, reading the token, building the
client; each batch's round trip) weighs more the shorter it is: at a 1.5 s window the 2026 read
took 1.21x its floor over 22 invocations."""
BUDGET_WINDOWS = 4.0
"""An invocation's work budget in windows (WORK_BUDGET_SECONDS, 240 s, is four minutes)."""
GOAL_RATIO = 1.15
GOAL_REFUSED = 0.01
REFUSED = "gmail.refused_for_quota"


def cost(profile: str, messages: int) -> tuple[int, int]:
    """(units, calls) a metadata read of ``messages`` spends under ``profile``."""
    quota = QUOTAS[profile]
    pages = max(1, math.ceil(messages / PAGE_SIZE))
    units = pages * quota.cost("messages.list") + messages * quota.cost("messages.get")
    return units, pages + messages


def floor_windows(profile: str, messages: int) -> float:
    """The quota floor of the read, in windows (minutes at Gmail's own window)."""
    return cost(profile, messages)[0] / QUOTAS[profile].units_per_window


def measure(world: World, user_id: str, email: str) -> list[dict[str, Any]]:
    """One metadata read of :data:`MESSAGES` messages under each profile."""
    from google.cloud import firestore

    from functions.services import make_publisher

    database = firestore.Client(project=world.env["GOOGLE_CLOUD_PROJECT"])
    publisher = make_publisher()
    world.sandbox.seed_mailbox(email, MESSAGES)
    rows = []
    try:
        for profile, window in WINDOWS.items():
            world.sandbox.update_behaviour(
                {
                    "quota_profile": profile,
                    "quota_window_seconds": window,
                    "concurrent_requests_per_user": 10,
                }
            )
            time.sleep(window)  # whatever was spent before has aged out
            settings = dataclasses.replace(
                get_settings(),
                gmail_quota_profile=profile,
                gmail_quota_window_seconds=window,
                work_budget_seconds=BUDGET_WINDOWS * window,
            )
            services = Services(settings, firestore_client=database, publisher=publisher)
            request = MailboxRequest(
                user_id=user_id,
                request_id=uuid.uuid4().hex,
                include_spam_trash=True,
                format="metadata",
            )
            event_id = uuid.uuid4().hex
            world.sandbox.reset_calls()
            deliveries = 0
            started = time.perf_counter()
            while True:
                deliveries += 1
                try:
                    read_mailbox(services, "default", request, event_id)
                    break
                except TransientError:
                    continue  # Pub/Sub redelivers; the next invocation resumes
            elapsed = time.perf_counter() - started
            calls = world.sandbox.call_counts()
            gmail_calls = sum(
                n for name, n in calls.items() if name.startswith("gmail.") and name != REFUSED
            ) - calls.get("gmail.batch", 0)
            units, needed = cost(profile, MESSAGES)
            rows.append(
                {
                    "profile": profile,
                    "window_s": window,
                    "messages": MESSAGES,
                    "units": units,
                    "calls": gmail_calls,
                    "needed": needed,
                    "refused": calls.get(REFUSED, 0),
                    "deliveries": deliveries,
                    "elapsed_windows": elapsed / window,
                    "floor_windows": floor_windows(profile, MESSAGES),
                }
            )
    finally:
        world.sandbox.update_behaviour(
            {
                "quota_profile": "legacy",
                "quota_window_seconds": 60,
                "quota_units_per_minute": 10**9,
                "concurrent_requests_per_user": 10**6,
            }
        )
        publisher.stop()
    return rows


def report(rows: list[dict[str, Any]]) -> tuple[list[str], dict[str, bool]]:
    """The table, and a goal per profile."""
    lines = [
        f"format=metadata read of {MESSAGES:,} messages paced to Gmail's per-user quota. The"
        " sandbox's quota window (Gmail's minute) is shortened to",
        "the seconds below, so every time is given in windows (= minutes in production);"
        f" invocations end at a {BUDGET_WINDOWS:g}-window budget and are redelivered at once.",
        "floor = units / the per-user limit; refused = calls refused for quota (403/429) / calls.",
        "profile  window s  units    calls  refused  refused %  invocations  elapsed  floor"
        "  elapsed/floor",
    ]
    goals: dict[str, bool] = {}
    for row in rows:
        ratio = row["elapsed_windows"] / row["floor_windows"]
        share = row["refused"] / max(1, row["calls"])
        lines.append(
            f"{row['profile']:<8} {row['window_s']:>8.2f}  {row['units']:<7,}  {row['calls']:<5,}"
            f"  {row['refused']:>7}  {share:>9.2%}  {row['deliveries']:>11}"
            f"  {row['elapsed_windows']:>7.2f}  {row['floor_windows']:>5.2f}  {ratio:>13.2f}"
        )
        name = f"{row['profile']} quota: {MESSAGES:,} metadata reads"
        goals[f"{name} within {GOAL_RATIO}x of the quota floor"] = ratio <= GOAL_RATIO
        goals[f"{name}, at most {GOAL_REFUSED:.0%} of calls refused"] = share <= GOAL_REFUSED
    lines.append("Per 1,000 messages (metadata; listing IDs alone costs 10 units, 2 calls):")
    for profile in WINDOWS:
        units, _ = cost(profile, 1000)
        minutes = floor_windows(profile, 1000)
        lines.append(
            f"  {profile:<7} {units:,} units, at least {minutes:.2f} min of the user's quota"
            f" ({minutes * 60:.0f} s)"
        )
    return lines, goals
