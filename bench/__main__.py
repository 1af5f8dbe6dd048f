"""``python -m bench`` (``make bench``): measure, print the table, write the plot and the report.

Every figure is a ratio against a baseline measured in the same run: a hello-world function and a
seed-style eager variant for cold starts, the seed's approach (fresh credentials refreshed on
every use, 100 IDs a page) for round trips and storms, one full vCPU for cold starts at a
deployed function's CPU share (``bench.sizing``).

Every round trip is measured twice: against the emulators as they are, and with production
latency, through a latency proxy in front of each emulator (``bench.latency_proxy``; the
defaults, ``--firestore-ms`` and ``--pubsub-ms``, and their sources are in ``bench.world``).
Cold starts are measured against the emulators as they are.

``python -m bench --only sizing`` runs only the cold starts at CPU shares and prints them;
``--only cold`` adds the unthrottled cold starts; ``--only trips`` runs only the round trips, the
storm, the callback and the critical path (``bench.critical_path``); ``--only quota`` only the
metadata read paced to Gmail's per-user quota (``bench.quota_pacing``); ``--only connections``
only the connections per request (``bench.connections``); ``--only daily`` only the daily job at
10,000 users (``bench.daily``); ``--only concurrency`` only the throughput of 8 requests at once
(``bench.concurrency``). Only a whole run writes the report.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import (
    cold_start,
    concurrency,
    connections,
    critical_path,
    daily,
    quota_pacing,
    round_trips,
    sizing,
)
from bench.world import FIRESTORE_ROUND_TRIP_MS, PUBSUB_ROUND_TRIP_MS, STORAGE_LABELS, local_world

DOCS = Path(__file__).resolve().parents[1] / "docs"
EMAIL = "bench@example.com"


def main(argv: Sequence[str] | None = None) -> int:
    """Run every measurement (or ``--only`` some); exit 1 if a goal of the issue is missed."""
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument(
        "--only",
        choices=("cold", "sizing", "trips", "quota", "connections", "daily", "concurrency"),
        help="measure only these parts",
    )
    parser.add_argument(
        "--firestore-ms",
        type=float,
        default=FIRESTORE_ROUND_TRIP_MS,
        help="production latency of a Firestore round trip (default %(default)s)",
    )
    parser.add_argument(
        "--pubsub-ms",
        type=float,
        default=PUBSUB_ROUND_TRIP_MS,
        help="production latency of a Pub/Sub round trip (default %(default)s)",
    )
    args = parser.parse_args(argv)
    with local_world(args.firestore_ms, args.pubsub_ms) as world:
        if args.only == "daily":
            return _finish(*daily.report(daily.measure(world)))
        if args.only == "concurrency":
            return _finish(*concurrency.report(concurrency.measure(world)))
        user_id = world.connect(EMAIL)
        if args.only == "quota":
            return _finish(*quota_pacing.report(quota_pacing.measure(world, user_id, EMAIL)))
        if args.only == "connections":
            return _finish(*connections.report(connections.measure(world, user_id, EMAIL)))
        if args.only == "trips":
            trips = round_trips.mailbox_round_trips(world, user_id, EMAIL)
            storm = round_trips.refresh_storm(world, user_id)
            callback = round_trips.callback_breakdown(world)
            lines, goals = _trip_lines(trips, storm, callback, args.firestore_ms, args.pubsub_ms)
            path_lines, path_goals = critical_path.report(
                critical_path.measure(world, user_id, EMAIL)
            )
            return _finish([*lines, "", *path_lines], {**goals, **path_goals})
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
        path = critical_path.report(critical_path.measure(world, user_id, EMAIL))
        paced = quota_pacing.measure(world, user_id, EMAIL)
        kept = connections.measure(world, user_id, EMAIL)
        daily_row = daily.measure(world)
        concurrent = concurrency.measure(world)
    lines, goals = _report(cold, shares, trips, storm, callback, args.firestore_ms, args.pubsub_ms)
    for part_lines, part_goals in (
        path,
        quota_pacing.report(paced),
        connections.report(kept),
        daily.report(daily_row),
        concurrency.report(concurrent),
    ):
        lines += ["", *part_lines]
        goals.update(part_goals)
    text = "\n".join(_with_goals(lines, goals))
    DOCS.mkdir(exist_ok=True)
    (DOCS / "benchmark.md").write_text(
        "# Benchmark\n\nWritten by `make bench` (python -m bench); figures are from one run on a"
        " 2-core machine shared with other work, so they are noisy: compare ranges over runs.\n\n"
        "```\n" + text + "\n```\n"
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
    storm: dict[str, dict[str, int]],
    callback: dict[str, dict[str, float]],
    firestore_ms: float,
    pubsub_ms: float,
) -> tuple[list[str], dict[str, bool]]:
    lines, goals = _cold_lines(cold)
    share_lines, share_goals = sizing.report(shares)
    lines += ["", *share_lines]
    goals.update(share_goals)
    trip_lines, trip_goals = _trip_lines(trips, storm, callback, firestore_ms, pubsub_ms)
    lines += ["", *trip_lines]
    goals.update(trip_goals)
    return lines, goals


def _trip_lines(
    trips: list[dict[str, Any]],
    storm: dict[str, dict[str, int]],
    callback: dict[str, dict[str, float]],
    firestore_ms: float,
    pubsub_ms: float,
) -> tuple[list[str], dict[str, bool]]:
    goals: dict[str, bool] = {}
    g = round_trips.LATENCY_MS
    lines = [
        f"Round trips per mailbox request, {g} ms injected per Google call; storage: the emulators"
        " as they are, then with production latency",
        f"(Firestore {firestore_ms:g} ms, Pub/Sub {pubsub_ms:g} ms a round trip, through"
        " bench.latency_proxy). floor = Gmail calls x Google latency, plus one Firestore round"
        " trip and one publish",
        f"at production latency. rpcs = storage RPCs (Firestore+Pub/Sub), seq = round trips waited"
        f" for one after another; {round_trips.SIZES[0]} messages: median of"
        f" {round_trips.SMALL_RUNS} runs.",
        f"{'storage':<11}{'approach':<9}{'messages':>9}{'gmail':>7}{'token':>7}{'store':>7}"
        f"{'rpcs':>7}{'seq':>5}{'wall s':>8}{'floor s':>9}{'wall/floor':>12}",
    ]
    for row in trips:
        ratio = row["wall_s"] / row["floor_s"] if row["floor_s"] else math.nan
        production = row["storage"] == "production"
        rpcs = f"{row['rpcs']['firestore']}+{row['rpcs']['pubsub']}" if production else "-"
        sequential = str(row["sequential"]) if production else "-"
        lines.append(
            f"{row['storage']:<11}{row['approach']:<9}{row['messages']:>9}{row['gmail_calls']:>7}"
            f"{row['token_calls']:>7}{row['store_ops']:>7}{rpcs:>7}{sequential:>5}"
            f"{row['wall_s']:>8.3f}{row['floor_s']:>9.3f}{ratio:>12.2f}"
        )
        if row["approach"] == "ours" and production:
            goals[f"{row['messages']} messages in ⌈N/500⌉ Gmail calls"] = row[
                "gmail_calls"
            ] == math.ceil(row["messages"] / 500)
            goals[f"{row['messages']} messages: no token call"] = row["token_calls"] == 0
    small = {
        r["storage"]: r
        for r in trips
        if r["approach"] == "ours" and r["messages"] == round_trips.SIZES[0]
    }
    path = small["production"]
    lines += [
        "",
        f"Warm {round_trips.SIZES[0]}-message request (ours) with production latency:"
        f" {path['sequential']} sequential storage round trips"
        f" ({path['rpcs']['firestore']} Firestore RPCs, {path['rpcs']['pubsub']} Pub/Sub,"
        f" on {path['connections']} connections);",
        f"  wall {path['wall_s']:.3f} s against a floor of {path['floor_s']:.3f} s"
        f" ({path['gmail_calls']} Gmail call x {g} ms + Firestore {firestore_ms:g} ms + publish"
        f" {pubsub_ms:g} ms) = {path['wall_s'] / path['floor_s']:.2f}x;"
        f" emulators as they are: {small['emulators']['wall_s']:.3f} s. The count includes the"
        " ledger's done mark, sent as the event is acknowledged; the goal is judged in the"
        " critical path below.",
    ]
    [big] = [
        r
        for r in trips
        if r["approach"] == "ours" and r["messages"] == 20_000 and r["storage"] == "production"
    ]
    goals["20,000 messages within 1.2x of its floor, at production latency"] = (
        big["wall_s"] <= 1.2 * big["floor_s"]
    )
    lines += [
        "",
        f"Refresh storm: {round_trips.STORM} concurrent requests, expired access token;"
        " token-endpoint calls",
    ]
    for kind, counts in storm.items():
        lines.append(f"  {STORAGE_LABELS[kind]:<26} ours {counts['ours']}, seed {counts['seed']}")
        goals[f"one token call in the storm, {STORAGE_LABELS[kind]}"] = counts["ours"] == 1
    lines += ["", f"Callback latency, median ms with {g} ms per provider call:"]
    for kind, steps in callback.items():
        lines.append(
            f"  {STORAGE_LABELS[kind]:<26} "
            + ", ".join(f"{step} {ms:.0f}" for step, ms in steps.items())
        )
        # The ID token of the token response names the user: no second call to the provider.
        goals[f"callback waits on the provider once, {STORAGE_LABELS[kind]}"] = (
            steps["identify"] < g / 2
        )
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
    lines.append("(ours/eager is information: the 0.6x goal was withdrawn, issue 17)")
    goals["authorize ≤ 1.3x hello-world"] = cold["authorize"]["ours"] <= 1.3 * hello
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
        for kind, style in (("emulators", ":"), ("production", "-")):
            rows = [r for r in trips if r["approach"] == approach and r["storage"] == kind]
            right.plot(
                [r["messages"] for r in rows],
                [r["wall_s"] for r in rows],
                marker=marker,
                linestyle=style,
                label=f"{approach} ({'500' if approach == 'ours' else '100'} a page),"
                f" {STORAGE_LABELS[kind]}",
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
