"""``python -m bench`` (``make bench``): measure, print the table, write the plot and the report.

Every figure is a ratio against a baseline measured in the same run: a hello-world function and a
seed-style eager variant for cold starts, the seed's approach (fresh credentials refreshed on
every use, 100 IDs a page) for round trips and storms, one full vCPU for cold starts at a
deployed function's CPU share (``bench.sizing``).

``python -m bench --only sizing`` runs only the cold starts at CPU shares and prints them;
``--only cold`` adds the unthrottled cold starts. Only a whole run writes the report.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import cold_start, round_trips, sizing
from bench.world import local_world

DOCS = Path(__file__).resolve().parents[1] / "docs"
EMAIL = "bench@example.com"


def main(argv: Sequence[str] | None = None) -> int:
    """Run every measurement (or ``--only`` some); exit 1 if a goal of the issue is missed."""
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--only", choices=("cold", "sizing"), help="measure only these parts")
    args = parser.parse_args(argv)
    with local_world() as world:
        user_id = world.connect(EMAIL)
        shares = sizing.measure(world, user_id, EMAIL)
        if args.only == "sizing":
            lines, goals = sizing.report(shares)
            return _finish(lines, goals)
        cold = cold_start.measure(world, user_id, EMAIL)
        if args.only == "cold":
            lines, goals = _cold_lines(cold)
            more, more_goals = sizing.report(shares)
            return _finish([*lines, "", *more], {**goals, **more_goals})
        trips = round_trips.mailbox_round_trips(world, user_id, EMAIL)
        storm = round_trips.refresh_storm(world, user_id)
        callback = round_trips.callback_breakdown(world)
    lines, goals = _report(cold, shares, trips, storm, callback)
    text = "\n".join(_with_goals(lines, goals))
    DOCS.mkdir(exist_ok=True)
    (DOCS / "benchmark.md").write_text(
        "# Benchmark\n\nWritten by `make bench` (python -m bench); figures are from one run on a"
        " 2-core machine.\n\n```\n" + text + "\n```\n"
    )
    _plot(cold, trips, DOCS / "benchmark.png")
    return _finish(lines, goals, f"\nwrote {DOCS / 'benchmark.md'} and {DOCS / 'benchmark.png'}")


def _with_goals(lines: list[str], goals: dict[str, bool]) -> list[str]:
    return [*lines, "", "Goals:"] + [f"  [{'x' if met else ' '}] {n}" for n, met in goals.items()]


def _finish(lines: list[str], goals: dict[str, bool], footer: str = "") -> int:
    """Print the report; 1 if a goal is missed."""
    print("\n".join(_with_goals(lines, goals)) + footer)
    missed = [name for name, met in goals.items() if not met]
    if missed:
        print("goals missed: " + "; ".join(missed), file=sys.stderr)
    return 1 if missed else 0


def _report(
    cold: dict[str, dict[str, float]],
    shares: sizing.Result,
    trips: list[dict[str, Any]],
    storm: dict[str, int],
    callback: dict[str, float],
) -> tuple[list[str], dict[str, bool]]:
    lines, goals = _cold_lines(cold)
    share_lines, share_goals = sizing.report(shares)
    lines += ["", *share_lines]
    goals.update(share_goals)
    lines += [
        "",
        f"Round trips per mailbox request, {round_trips.LATENCY_MS} ms injected per Google call",
        f"{'approach':<9}{'messages':>9}{'gmail':>7}{'token':>7}{'store':>7}"
        f"{'wall s':>8}{'floor s':>9}{'wall/floor':>12}",
    ]
    for row in trips:
        ratio = row["wall_s"] / row["floor_s"] if row["floor_s"] else math.nan
        lines.append(
            f"{row['approach']:<9}{row['messages']:>9}{row['gmail_calls']:>7}"
            f"{row['token_calls']:>7}{row['store_ops']:>7}{row['wall_s']:>8.2f}"
            f"{row['floor_s']:>9.2f}{ratio:>12.2f}"
        )
        if row["approach"] == "ours":
            goals[f"{row['messages']} messages in ⌈N/500⌉ Gmail calls"] = row[
                "gmail_calls"
            ] == math.ceil(row["messages"] / 500)
            goals[f"{row['messages']} messages: no token call"] = row["token_calls"] == 0
    [big] = [r for r in trips if r["approach"] == "ours" and r["messages"] == 20_000]
    goals["20,000 messages within 1.2x of calls x latency"] = big["wall_s"] <= 1.2 * big["floor_s"]

    lines += [
        "",
        f"Refresh storm: {round_trips.STORM} concurrent requests, expired access token",
        f"token-endpoint calls: ours {storm['ours']}, seed {storm['seed']}",
        "",
        f"Callback latency, median ms with {round_trips.LATENCY_MS} ms per provider call: "
        + ", ".join(f"{step} {ms:.0f}" for step, ms in callback.items()),
    ]
    goals["one token call in the storm"] = storm["ours"] == 1
    return lines, goals


def _cold_lines(cold: dict[str, dict[str, float]]) -> tuple[list[str], dict[str, bool]]:
    hello = cold["hello"]["ours"]
    goals: dict[str, bool] = {}
    lines = [
        f"Cold start, median of {cold_start.RUNS} fresh interpreters serving one real request (ms)",
        f"{'entry point':<16}{'ours':>8}{'eager':>8}{'ours/hello':>12}{'ours/eager':>12}",
        f"{'hello-world':<16}{hello:>8.0f}",
    ]
    for target in cold_start.KINDS:
        ours, eager = cold[target]["ours"], cold[target]["eager"]
        lines.append(
            f"{target:<16}{ours:>8.0f}{eager:>8.0f}{ours / hello:>12.2f}{ours / eager:>12.2f}"
        )
    with_client = cold["authorize"]["secret_manager"]
    lines.append(
        f"{'authorize, Secret Manager client imported (a lower bound)':<60}"
        f"{with_client:>8.0f} ms{with_client / hello:>7.2f}x hello"
    )
    goals["authorize ≤ 1.3x hello-world"] = cold["authorize"]["ours"] <= 1.3 * hello
    for target in ("oauth2callback", "list_messages"):
        goals[f"{target} ≤ 0.6x eager"] = cold[target]["ours"] <= 0.6 * cold[target]["eager"]

    return lines, goals


def _plot(cold: dict[str, dict[str, float]], trips: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(
        1, 2, figsize=(13, 4.6), gridspec_kw={"width_ratios": [1.5, 1]}
    )
    targets = list(cold_start.KINDS)
    positions = range(len(targets))
    left.bar([p - 0.2 for p in positions], [cold[t]["ours"] for t in targets], 0.4, label="ours")
    left.bar(
        [p + 0.2 for p in positions],
        [cold[t]["eager"] for t in targets],
        0.4,
        label="seed-style eager imports",
    )
    left.scatter(
        [-0.2],
        [cold["authorize"]["secret_manager"]],
        marker="x",
        color="black",
        zorder=3,
        label="authorize, Secret Manager client imported",
    )
    left.axhline(cold["hello"]["ours"], color="grey", linestyle="--", label="hello-world")
    left.set_xticks(list(positions), targets, rotation=25, ha="right")
    left.set_ylabel("cold start, ms (median)")
    left.legend(fontsize=8)
    for approach, marker in (("ours", "o"), ("seed", "s")):
        rows = [r for r in trips if r["approach"] == approach]
        right.plot(
            [r["messages"] for r in rows],
            [r["wall_s"] for r in rows],
            marker=marker,
            label=f"{approach}: {'500' if approach == 'ours' else '100'} a page",
        )
    right.set_xscale("log")
    right.set_yscale("log")
    right.set_xlabel("messages listed")
    right.set_ylabel(f"wall time, s ({round_trips.LATENCY_MS} ms per Google call)")
    right.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
