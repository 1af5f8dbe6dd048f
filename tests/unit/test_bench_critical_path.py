"""The critical-path report prints the floor and judges the 1.3x goal against it."""

from __future__ import annotations

from typing import Any

from bench import critical_path

BARE = {"firestore": 0.02, "pubsub": 0.03, "gmail": 0.035}


def _rows(wall: float) -> dict[str, dict[str, Any]]:
    row = {
        "wall_s": wall,
        "sequential": 2,
        "in_all": 3,
        "rpcs": {"firestore": 3, "pubsub": 1},
        "gmail_calls": 1,
        "floor_s": 0.085,
        "nominal_floor_s": 0.072,
        "bare": BARE,
    }
    return {"mailbox": row, "push": {**row, "sequential": 6, "in_all": 7}}


def test_a_request_within_1_3x_of_its_floor_meets_the_goal() -> None:
    lines, goals = critical_path.report(_rows(0.11))
    assert list(goals.values()) == [True]
    assert any("0.085" in line and "1.29" in line for line in lines)  # floor and ratio printed


def test_a_request_beyond_1_3x_of_its_floor_misses_the_goal() -> None:
    _, goals = critical_path.report(_rows(0.111))
    assert list(goals.values()) == [False]
