"""A deployed function's CPU share, reproduced here with a cgroup v1 CPU quota.

Cloud Run functions gives an instance a fraction of a vCPU (by its memory, or ``--cpu``); the
kernel's CFS bandwidth control caps a group of processes the same way: at most
``cpu.cfs_quota_us`` of CPU time every ``cpu.cfs_period_us`` (kernel docs, scheduler/sched-bwc).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path("/sys/fs/cgroup/cpu")
PERIOD_US = 100_000


def unavailable(root: Path = ROOT) -> str | None:
    """Why CPU quotas cannot be set under ``root``, or ``None`` if they can."""
    if not (root / "cpu.cfs_quota_us").is_file():
        return f"no cgroup v1 cpu controller at {root} (cgroup v2 only, or not mounted)"
    if not os.access(root, os.W_OK):
        return f"{root} is not writable (cgroups need root)"
    return None


@contextmanager
def cpu_quota(vcpu: float, root: Path = ROOT) -> Iterator[Path]:
    """A new cgroup capped at ``vcpu`` CPUs; yields its ``cgroup.procs`` for a process to join.

    The group is removed afterwards, even on error; a process still in it goes back to ``root``.
    """
    group = root / f"bench-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    group.mkdir()
    try:
        (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
        (group / "cpu.cfs_quota_us").write_text(str(int(vcpu * PERIOD_US)))
        yield group / "cgroup.procs"
    finally:
        for pid in (group / "cgroup.procs").read_text().split():
            with contextlib.suppress(OSError):  # it may have exited meanwhile
                (root / "cgroup.procs").write_text(pid)
        group.rmdir()


def command(procs: Path, argv: list[str]) -> list[str]:
    """``argv`` run inside the group: a shell joins it, then ``exec``s ``argv`` (same PID).

    The whole of the child's life, interpreter start included, runs under the quota.
    """
    return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(procs), *argv]
