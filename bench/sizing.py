"""Cold starts at the CPU share a deployed function gets, and what each sizing costs.

Cloud Run functions gives an instance a share of a vCPU by its memory (Google's table, "Configure
memory and vCPU limits": 128 MiB→0.083, 256 MiB→0.167, 512 MiB→0.333, 1 GiB→0.583, 2 GiB→1) or
the share set with ``--cpu``. Start-up is single-threaded, so past one vCPU more buys nothing: each
HTTP entry point's cold start at its shipped share (``infra/functions.json``) is held within
``GOAL`` of the same at one full vCPU. Prices are Cloud Run's Tier 1 request-based billing
(https://cloud.google.com/run/pricing), which bills a request's time rounded up to 100 ms.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from bench import cold_start, cpu_quota
from bench.world import World
from devstack import deployment

GOAL = 1.25
SWEEP_TARGETS = ("authorize", "oauth2callback")
GOOGLE_SHARES = {0.083: "128Mi", 0.167: "256Mi", 0.333: "512Mi", 0.583: "1Gi", 1.0: "2Gi"}
"""Each memory size's CPU share on Cloud Run functions, cheapest first."""

VCPU_SECOND = 0.000024
GIB_SECOND = 0.0000025
PER_MILLION_REQUESTS = 0.40
"""USD, Tier 1 regions, request-based billing, beyond the free tier."""


def vcpu(cpu: str) -> float:
    """A sizing's ``cpu`` ("1", "0.583", "500m") as a number of vCPUs."""
    return float(cpu[:-1]) / 1000 if cpu.endswith("m") else float(cpu)


def gib(memory: str) -> float:
    """A sizing's ``memory`` ("128Mi", "1Gi") in GiB."""
    if memory.endswith("Gi"):
        return float(memory[:-2])
    if memory.endswith("Mi"):
        return float(memory[:-2]) / 1024
    raise ValueError(f"memory {memory!r} is neither Mi nor Gi")


def billed_seconds(ms: float) -> float:
    """A request's billed time: its time rounded up to the next 100 ms."""
    return math.ceil(ms / 100) / 10


def cost_per_million(vcpus: float, memory_gib: float, ms: float) -> float:
    """USD for a million requests of ``ms`` each on an instance of ``vcpus`` and ``memory_gib``."""
    per_second = vcpus * VCPU_SECOND + memory_gib * GIB_SECOND
    return 1e6 * billed_seconds(ms) * per_second + PER_MILLION_REQUESTS


@dataclass(frozen=True)
class Figures:
    """Medians over the runs of one entry point at one CPU share."""

    cold_ms: float
    warm_ms: float
    cpu_ms: float
    maxrss_mib: float


@dataclass(frozen=True)
class Result:
    """What ``measure`` found: figures per (entry point, vCPU), or why it could not."""

    figures: dict[tuple[str, float], Figures]
    deployed: dict[str, deployment.Sizing]
    skipped: str | None = None


def _plan(deployed: dict[str, deployment.Sizing]) -> list[tuple[str, float]]:
    pairs = {(target, share) for target in SWEEP_TARGETS for share in GOOGLE_SHARES}
    for target, sizing in deployed.items():
        pairs |= {(target, vcpu(sizing.cpu)), (target, 1.0)}
    order = list(cold_start.KINDS)
    return sorted(pairs, key=lambda pair: (order.index(pair[0]), pair[1]))


def measure(world: World, user_id: str, email: str) -> Result:
    """Cold starts, each in a fresh cgroup capped at its share, interleaved over the runs.

    Each child serves two requests: the first cold, the second warm (what a request is billed).
    """
    functions = deployment.load().functions
    deployed = {key: f.sizing for key, f in functions.items() if f.trigger == "http"}
    reason = cpu_quota.unavailable()
    if reason:
        return Result({}, deployed, skipped=reason)
    plan = _plan(deployed)
    runs: dict[tuple[str, float], list[cold_start.ChildRun]] = {pair: [] for pair in plan}
    for _ in range(cold_start.RUNS):
        plan.reverse()  # no pair always goes first
        for target, share in plan:
            requests = [cold_start.request_for(world, target, user_id, email) for _ in range(2)]
            with cpu_quota.cpu_quota(share) as procs:
                run = cold_start.run_child(
                    world, target, "main.py", cold_start.KINDS[target], requests, procs
                )
            runs[target, share].append(run)
    figures = {
        pair: Figures(
            statistics.median(r.wall_ms for r in samples),
            statistics.median(r.requests_ms[1] for r in samples),
            statistics.median(r.cpu_ms for r in samples),
            max(r.maxrss_mib for r in samples),
        )
        for pair, samples in runs.items()
    }
    return Result(figures, deployed)


def report(result: Result) -> tuple[list[str], dict[str, bool]]:
    """The tables for the benchmark report, and the goal of each HTTP entry point."""
    lines = [
        f"Cold start at the deployed CPU share (a cgroup v1 CPU quota), median of {cold_start.RUNS}"
    ]
    if result.skipped:
        lines.append(f"  skipped, CPU quotas unavailable: {result.skipped}")
        return lines, {}
    figures = result.figures
    goals: dict[str, bool] = {}
    lines.append(
        f"{'entry point':<16}{'sizing':>16}{'deployed ms':>13}{'1 vCPU ms':>11}{'ratio':>7}"
        f"   goal ≤ {GOAL}"
    )
    for target, sizing in result.deployed.items():
        share = vcpu(sizing.cpu)
        at_share, full = figures[target, share].cold_ms, figures[target, 1.0].cold_ms
        ratio = at_share / full
        met = ratio <= GOAL
        same = " (same share: one set of samples)" if share == 1.0 else ""
        lines.append(
            f"{target:<16}{f'{sizing.memory}/{share:g} vCPU':>16}{at_share:>13.0f}{full:>11.0f}"
            f"{ratio:>7.2f}   {'met' if met else 'MISSED'}{same}"
        )
        goals[f"{target} cold start at its deployed CPU share ≤ {GOAL}x at 1 vCPU"] = met

    lines += [
        "",
        "At each of Google's CPU shares: cold start (ms), the child's CPU time (ms, both requests),"
        " the warm request (ms), peak RSS (MiB)",
        f"{'vCPU':<7}{'memory':<8}"
        + "".join(f"{t + ' cold':>21}{'CPU':>6}{'warm':>6}{'RSS':>5}" for t in SWEEP_TARGETS)
        + f"{'cold/1 vCPU':>24}",
    ]
    for share, memory in GOOGLE_SHARES.items():
        row = f"{share:<7g}{memory:<8}"
        for target in SWEEP_TARGETS:
            f = figures[target, share]
            row += f"{f.cold_ms:>21.0f}{f.cpu_ms:>6.0f}{f.warm_ms:>6.0f}{f.maxrss_mib:>5.0f}"
        ratios = [figures[t, share].cold_ms / figures[t, 1.0].cold_ms for t in SWEEP_TARGETS]
        lines.append(row + f"{' / '.join(f'{r:.2f}' for r in ratios):>24}")

    lines += [
        "",
        f"USD per million requests, Tier 1 request-based billing (${VCPU_SECOND}/vCPU-s,"
        f" ${GIB_SECOND}/GiB-s, ${PER_MILLION_REQUESTS:.2f}/million requests):",
        "warm = the warm request measured above, cold = the whole cold start, each rounded up to"
        " 100 ms",
        f"{'sizing':<22}" + "".join(f"{t + ' warm':>21}{'cold':>8}" for t in SWEEP_TARGETS),
    ]
    sizings = [(share, memory, "") for share, memory in GOOGLE_SHARES.items()]
    shipped = {(vcpu(s.cpu), s.memory) for s in result.deployed.values()}
    sizings += [(share, memory, " (shipped)") for share, memory in sorted(shipped)]
    for share, memory, note in sizings:
        row = f"{f'{memory}/{share:g} vCPU{note}':<22}"
        for target in SWEEP_TARGETS:
            f = figures[target, share]
            warm = cost_per_million(share, gib(memory), f.warm_ms)
            cold = cost_per_million(share, gib(memory), f.cold_ms)
            row += f"{warm:>21.2f}{cold:>8.2f}"
        lines.append(row)
    return lines, goals
