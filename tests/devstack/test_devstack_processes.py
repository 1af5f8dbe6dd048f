"""ManagedProcess: process groups are stopped whole, failures are reported with the log."""

from __future__ import annotations

import secrets
import subprocess
import time
from pathlib import Path

import pytest

from devstack.errors import MissingToolError, StartupError
from devstack.ports import free_port
from devstack.processes import ManagedProcess, group_alive


def processes_matching(pattern: str) -> list[str]:
    """Command lines of live processes matching the regex ``pattern`` (``pgrep -f``)."""
    found = subprocess.run(["pgrep", "-af", "--", pattern], capture_output=True, text=True)
    return [line for line in found.stdout.splitlines() if "pgrep" not in line]


def _unique_sleep() -> str:
    """A sleep length no other process is likely to use, so the sleeper can be found by name."""
    return str(100_000 + secrets.randbelow(900_000))


def _wait_until_running(pattern: str) -> None:
    deadline = time.monotonic() + 5
    while not processes_matching(pattern) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_matching(pattern), pattern


def test_stop_ends_grandchildren_too(tmp_path: Path) -> None:
    # GIVEN a wrapper that starts a long-lived child, as gcloud starts the emulator's Java
    sleeper = f"^sleep {_unique_sleep()}$"
    process = ManagedProcess(
        "wrapper", ["sh", "-c", f"{sleeper[1:-1]} & wait"], log_path=tmp_path / "w.log"
    ).start()
    _wait_until_running(sleeper)

    # WHEN it is stopped
    process.stop()

    # THEN the grandchild is gone as well, and the group is empty
    assert processes_matching(sleeper) == []
    assert process.pid is not None
    assert not group_alive(process.pid)


def test_stop_escalates_to_sigkill_when_sigterm_is_ignored(tmp_path: Path) -> None:
    # GIVEN a group that ignores SIGTERM (an ignored signal stays ignored in children)
    sleeper = f"^sleep {_unique_sleep()}$"
    process = ManagedProcess(
        "stubborn", ["sh", "-c", f"trap '' TERM; {sleeper[1:-1]} & wait"], log_path=tmp_path / "s"
    ).start()
    _wait_until_running(sleeper)

    # WHEN stopping with a short grace period
    began = time.monotonic()
    process.stop(timeout=0.5)

    # THEN SIGKILL ended it soon after the grace period
    assert time.monotonic() - began < 5
    assert processes_matching(sleeper) == []


def test_stop_is_idempotent_and_safe_before_start(tmp_path: Path) -> None:
    process = ManagedProcess("idle", ["sleep", "30"], log_path=tmp_path / "i.log")
    process.stop()
    with process:
        assert process.running
    process.stop()
    assert not process.running


def test_waiting_gives_up_at_once_when_the_process_exits_and_shows_its_log(tmp_path: Path) -> None:
    process = ManagedProcess(
        "doomed", ["sh", "-c", "echo 'config is broken' >&2; exit 3"], log_path=tmp_path / "d.log"
    ).start()
    began = time.monotonic()
    with pytest.raises(StartupError) as raised:
        process.wait_for_http(f"http://127.0.0.1:{free_port()}/", timeout=30)
    assert time.monotonic() - began < 5
    message = str(raised.value)
    assert "The doomed exited with status 3 before answering" in message
    assert "config is broken" in message
    process.stop()


def test_waiting_stops_early_on_a_fatal_log_line(tmp_path: Path) -> None:
    # GIVEN a server that, like the Java emulators, logs a bind failure and then hangs
    process = ManagedProcess(
        "hanger",
        ["sh", "-c", "echo 'java.net.BindException: Address already in use'; sleep 60"],
        log_path=tmp_path / "h.log",
        fatal_markers=("Address already in use",),
    ).start()
    with pytest.raises(StartupError, match="logged 'Address already in use'"):
        process.wait_for_http(f"http://127.0.0.1:{free_port()}/", timeout=30)
    process.stop()


def test_missing_program_is_one_sentence(tmp_path: Path) -> None:
    process = ManagedProcess("tool", ["no-such-program-devstack"], log_path=tmp_path / "t.log")
    with pytest.raises(MissingToolError, match="'no-such-program-devstack' was not found"):
        process.start()


def test_tail_returns_the_last_lines(tmp_path: Path) -> None:
    with ManagedProcess(
        "counter", ["sh", "-c", "seq 1 100; sleep 30"], log_path=tmp_path / "c.log"
    ) as process:
        deadline = time.monotonic() + 5
        while "100" not in process.tail(1) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.tail(3).splitlines() == ["98", "99", "100"]
