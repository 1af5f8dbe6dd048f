"""Round trips per mailbox request, the refresh storm, and the callback's latency breakdown."""

from __future__ import annotations

import collections
import contextlib
import functools
import statistics
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from bench.latency_proxy import sequential_round_trips
from bench.seed_style import seed_list
from bench.world import World
from functions.config import get_settings
from functions.pipeline import ledger
from functions.pipeline.mailbox import read_mailbox
from functions.pipeline.requests import MailboxRequest
from functions.services import Services

LATENCY_MS = 30
SIZES = (100, 2_000, 20_000)
STORM = 50
SMALL_RUNS = 5
"""Runs of the smallest mailbox, whose wall time is the median: a single one is all noise."""
STORAGE = ("emulators", "production")
"""Each round trip is measured twice: the emulators as they are, then through the latency
proxies (``production``: each Firestore and Pub/Sub round trip at its production latency)."""


@contextlib.contextmanager
def storage(world: World, kind: str) -> Iterator[None]:
    """Clients made within reach the emulators as they are, or at production latency."""
    if kind == "production":
        with world.production_latency():
            yield
    else:
        yield


def storage_floor_s(world: World, kind: str) -> float:
    """The storage part of a mailbox request's floor: one Firestore round trip and one publish."""
    if kind != "production":
        return 0.0
    rtt = {name: proxy.round_trip_ms for name, proxy in world.proxies.items()}
    return (rtt["FIRESTORE_EMULATOR_HOST"] + rtt["PUBSUB_EMULATOR_HOST"]) / 1000


class _Counting:
    """Counts calls of a store's methods: the Firestore operations a request makes."""

    def __init__(self, inner: Any, counts: collections.Counter[str]) -> None:
        self._inner, self._counts = inner, counts

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if not callable(attribute):
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self._counts[name] += 1
            return attribute(*args, **kwargs)

        return counted


class CountingServices(Services):
    """Services whose Firestore-backed stores count their operations."""

    def __init__(self, counts: collections.Counter[str], **kwargs: Any) -> None:
        super().__init__(get_settings(), **kwargs)
        self.counts = counts

    @functools.cached_property
    def token_store(self) -> Any:
        return _Counting(super().token_store, self.counts)

    @functools.cached_property
    def event_ledger(self) -> Any:
        return _Counting(super().event_ledger, self.counts)

    @functools.cached_property
    def refresh_lease(self) -> Any:
        return _Counting(super().refresh_lease, self.counts)


def _calls(world: World) -> dict[str, int]:
    calls = world.sandbox.call_counts()
    return {
        "gmail": calls.get("gmail.messages.list", 0),
        "token": calls.get("token.refresh_token", 0),
    }


def mailbox_round_trips(world: World, user_id: str, email: str) -> list[dict[str, Any]]:
    """Ours and the seed's, for each mailbox size, with ``LATENCY_MS`` on every Google call, first
    against the emulators as they are, then at production storage latency.

    Both run as a warm instance would: the Firestore and Pub/Sub clients already exist, and each
    approach has served one request before (so neither pays for first imports and connections).
    At production latency each row also counts the storage RPCs the proxies saw and how many of
    them the request waited for one after another.
    """
    rows: list[dict[str, Any]] = []
    world.sandbox.update_behaviour({"latency_ms": LATENCY_MS})
    try:
        for kind in STORAGE:
            with storage(world, kind):
                rows += _mailbox_rows(world, user_id, email, kind)
    finally:
        world.sandbox.update_behaviour({"latency_ms": 0})
    return rows


def _mailbox_rows(world: World, user_id: str, email: str, kind: str) -> list[dict[str, Any]]:
    from google.cloud import firestore

    from functions.services import make_publisher

    database = firestore.Client(project=world.env["GOOGLE_CLOUD_PROJECT"])
    publisher = make_publisher()

    def serve(approach: str, size: int, counts: collections.Counter[str]) -> None:
        services = CountingServices(counts, firestore_client=database, publisher=publisher)
        if approach == "ours":
            request = MailboxRequest(
                user_id=user_id, request_id=uuid.uuid4().hex, include_spam_trash=True
            )
            read_mailbox(services, "default", request, event_id=uuid.uuid4().hex)
        else:
            assert seed_list(services, user_id) == size

    rows = []
    world.sandbox.seed_mailbox(email, SIZES[0])
    for approach in ("ours", "seed"):
        serve(approach, SIZES[0], collections.Counter())
    for size in SIZES:
        world.sandbox.seed_mailbox(email, size)
        for approach in ("ours", "seed"):
            walls = []
            for _ in range(SMALL_RUNS if size == SIZES[0] else 1):
                counts: collections.Counter[str] = collections.Counter()
                world.sandbox.reset_calls()
                world.reset_rpcs()
                started = time.perf_counter()
                serve(approach, size, counts)
                walls.append(time.perf_counter() - started)
                ledger.settle()  # the done mark lands within this run's count, not the next's
            calls = _calls(world)
            rpcs = world.rpcs()
            rows.append(
                {
                    "storage": kind,
                    "approach": approach,
                    "messages": size,
                    "gmail_calls": calls["gmail"],
                    "token_calls": calls["token"],
                    "store_ops": sum(counts.values()),
                    "rpcs": collections.Counter(rpc.service for rpc in rpcs),
                    "connections": len({(rpc.service, rpc.connection) for rpc in rpcs}),
                    "sequential": sequential_round_trips(rpcs),
                    "wall_s": statistics.median(walls),
                    "floor_s": calls["gmail"] * LATENCY_MS / 1000 + storage_floor_s(world, kind),
                }
            )
    publisher.stop()
    return rows


def refresh_storm(world: World, user_id: str) -> dict[str, dict[str, int]]:
    """Token-endpoint calls when ``STORM`` requests for a user with an expired token arrive, by
    storage (emulators as they are, production latency) and approach."""
    result = {}
    for kind in STORAGE:
        with storage(world, kind):
            result[kind] = _storm(world, user_id)
    return result


def _storm(world: World, user_id: str) -> dict[str, int]:
    from google.cloud import firestore

    client = firestore.Client(project=world.env["GOOGLE_CLOUD_PROJECT"])
    result = {}
    for approach in ("ours", "seed"):
        client.collection("gmail_credentials").document(user_id).update(
            {"access_token_expires_at": datetime(2000, 1, 1, tzinfo=UTC)}
        )
        world.sandbox.reset_calls()

        def one(_: int, approach: str = approach) -> None:
            services = Services(get_settings(), firestore_client=client)
            if approach == "ours":
                request = MailboxRequest(
                    user_id=user_id, request_id=uuid.uuid4().hex, max_messages=5
                )
                read_mailbox(services, "default", request, event_id=uuid.uuid4().hex)
            else:
                seed_list(services, user_id, max_pages=1)

        with ThreadPoolExecutor(max_workers=STORM) as pool:
            list(pool.map(one, range(STORM)))
        result[approach] = _calls(world)["token"]
    return result


def callback_breakdown(world: World, runs: int = 5) -> dict[str, dict[str, float]]:
    """Median milliseconds of the callback's steps, with ``LATENCY_MS`` on every provider call,
    by storage (emulators as they are, production latency)."""
    result = {}
    for kind in STORAGE:
        with storage(world, kind):
            result[kind] = _callback_steps(world, runs)
    return result


def _callback_steps(world: World, runs: int) -> dict[str, float]:
    from functions.consent import pending as flow
    from functions.consent.exchange import exchange_code
    from functions.consent.identify import fetch_userinfo, user_from_id_token

    steps: dict[str, list[float]] = {
        "state_spend": [],
        "exchange": [],
        "identify": [],
        "firestore_write": [],
    }
    world.sandbox.update_behaviour({"latency_ms": LATENCY_MS})
    try:
        for n in range(runs):
            query, cookies = world.pending_callback(f"callback-{n}@example.com")
            params = dict(parse_qsl(query))
            jar = dict(item.split("=", 1) for item in cookies["Cookie"].split("; "))
            services = Services(get_settings())
            settings = services.settings
            pending = flow.open_flow(
                services.cookie_keys, jar, params["state"], secure=False, now=services.now()
            )
            started = time.perf_counter()
            services.state_store.spend(pending.state, pending.expires_at)
            t0 = time.perf_counter()
            tokens = exchange_code(
                services.oauth_client,
                pending,
                params["code"],
                settings.redirect_uri,
                services.http,
            )
            t1 = time.perf_counter()
            # As the callback does: the ID token names the user; userinfo only without one.
            user = user_from_id_token(
                tokens.id_token,
                client_id=services.oauth_client.client_id,
                token_uri=services.oauth_client.token_uri,
                now=services.now(),
            ) or fetch_userinfo(services.http, settings.userinfo_uri, tokens.access_token)
            t2 = time.perf_counter()
            services.token_store.save_grant(
                user_id=user.sub,
                email=user.email,
                refresh_token=tokens.refresh_token,
                scopes=tokens.granted_scopes,
                now=services.now(),
                access_token=tokens.access_token,
                access_token_expires_at=tokens.expires_at,
            )
            t3 = time.perf_counter()
            steps["state_spend"].append((t0 - started) * 1000)
            steps["exchange"].append((t1 - t0) * 1000)
            steps["identify"].append((t2 - t1) * 1000)
            steps["firestore_write"].append((t3 - t2) * 1000)
    finally:
        world.sandbox.update_behaviour({"latency_ms": 0})
    return {step: statistics.median(values) for step, values in steps.items()}
