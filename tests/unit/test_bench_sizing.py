"""The benchmark's CPU quota leaves no cgroup behind, and its cost formula is Google's billing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench import cpu_quota, sizing


def test_cost_bills_time_rounded_up_to_100_ms_plus_the_request_fee():
    # GIVEN 1 vCPU and 0.5 GiB for 101 ms, billed as 200 ms
    cost = sizing.cost_per_million(1.0, 0.5, 101)
    # THEN a million requests cost 0.2 s x (vCPU-s + 0.5 GiB-s) each, plus $0.40
    assert cost == pytest.approx(1e6 * 0.2 * (0.000024 + 0.5 * 0.0000025) + 0.40)
    assert sizing.billed_seconds(100) == pytest.approx(0.1)


def test_sizing_units():
    assert sizing.vcpu("1") == 1.0
    assert sizing.vcpu("0.583") == pytest.approx(0.583)
    assert sizing.vcpu("500m") == pytest.approx(0.5)
    assert sizing.gib("512Mi") == 0.5
    assert sizing.gib("2Gi") == 2.0


def test_quota_unavailable_names_the_reason(tmp_path: Path):
    assert "no cgroup v1 cpu controller" in (cpu_quota.unavailable(tmp_path) or "")


def test_skipped_rows_are_printed_not_a_crash():
    result = sizing.Result({}, {}, skipped="no cgroup v1 cpu controller at /x")
    lines, goals = sizing.report(result)
    assert "skipped" in lines[-1]
    assert goals == {}


def _measure_then_fail(groups: list[Path]) -> None:
    """A measurement inside a quota that checks where its child ran, then fails."""
    with cpu_quota.cpu_quota(0.5) as procs:
        group = procs.parent
        groups.append(group)
        assert (group / "cpu.cfs_quota_us").read_text().strip() == "50000"
        argv = [sys.executable, "-c", "print(open('/proc/self/cgroup').read())"]
        seen = subprocess.run(
            cpu_quota.command(procs, argv), capture_output=True, text=True, check=True
        ).stdout
        assert f":/{group.name}" in seen
        raise RuntimeError("the measurement failed")


@pytest.mark.skipif(cpu_quota.unavailable() is not None, reason="needs a writable cgroup v1 cpu")
def test_the_child_runs_in_the_group_which_is_removed_even_on_error():
    groups: list[Path] = []
    with pytest.raises(RuntimeError, match="the measurement failed"):
        _measure_then_fail(groups)
    [group] = groups
    assert not group.exists()
