"""Connections per request: a warm instance reaches Google over the connections it keeps.

Each request here is what a warm instance does with Google: a mailbox read (Gmail), a token
refresh (the token endpoint) and a revocation (refused, as for a token already gone; it is the
round trip that counts). They run ``REQUESTS`` times in each thread, through one instance (one
``Services``), and the sandbox counts the connections they came on. The baseline builds the
clients anew for every request, as a function without kept clients does: one connection, and
with Google a TCP and TLS handshake, per request and endpoint.

Goal (issue 17): one connection per endpoint per instance and thread, however many requests.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.world import World
from functions.config import get_settings
from functions.consent.revoke import revoke_token
from functions.grants.access import live_access_token
from functions.pipeline.mailbox import read_mailbox
from functions.pipeline.requests import MailboxRequest
from functions.services import Services, make_publisher

REQUESTS = 20
"""Warm requests per thread."""
MESSAGES = 100
VIEWS = {"gmail": "gmail.list_messages", "token": "oauth.token", "revoke": "oauth.revoke"}
"""The sandbox's views (``/_sandbox/connections``) for each endpoint, by column."""
RUNS = (("per request", 1), ("kept", 1), ("kept", 2))
"""(clients, threads): the baseline, then one instance serving from one and from two threads."""


def measure(world: World, user_id: str, email: str) -> list[dict[str, Any]]:
    """One row per run: the requests served and the connections they came on, per endpoint."""
    from google.cloud import firestore

    database = firestore.Client(project=world.env["GOOGLE_CLOUD_PROJECT"])
    publisher = make_publisher()
    world.sandbox.seed_mailbox(email, MESSAGES)
    rows = []
    try:
        for clients, threads in RUNS:
            world.sandbox.reset_calls()
            instance = Services(get_settings(), firestore_client=database, publisher=publisher)
            together = threading.Barrier(threads)  # each thread serves, none takes two turns

            def serve(
                _: int,
                clients: str = clients,
                instance: Services = instance,
                together: threading.Barrier = together,
            ) -> None:
                together.wait(timeout=60)
                for _ in range(REQUESTS):
                    services = instance
                    if clients == "per request":
                        services = Services(
                            get_settings(), firestore_client=database, publisher=publisher
                        )
                    _one_request(services, user_id)

            with ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(serve, range(threads)))
            seen = world.sandbox.connections()
            views = seen["views"]
            rows.append(
                {
                    "clients": clients,
                    "threads": threads,
                    "requests": REQUESTS * threads,
                    "connections": {
                        column: views.get(view, {}).get("connections", 0)
                        for column, view in VIEWS.items()
                    },
                    "opened": seen["opened"],
                    "calls": seen["requests"],
                }
            )
    finally:
        publisher.stop()
    return rows


def _one_request(services: Services, user_id: str) -> None:
    request = MailboxRequest(user_id=user_id, request_id=uuid.uuid4().hex, max_messages=MESSAGES)
    read_mailbox(services, "default", request, event_id=uuid.uuid4().hex)
    user = services.token_store.get(user_id)
    assert user is not None, f"{user_id} is not stored"
    live_access_token(services, user, force=True)
    revoke_token(
        services.http,
        services.settings.revoke_uri,
        f"gone-{uuid.uuid4().hex}",
        services.oauth_client,
    )


def report(rows: list[dict[str, Any]]) -> tuple[list[str], dict[str, bool]]:
    """The table and its goal: kept clients open one connection per endpoint and thread."""
    lines = [
        f"Connections to Google: {REQUESTS} warm requests per thread through one instance, each a"
        f" {MESSAGES}-message read (Gmail), a token refresh and a revocation;",
        "connections the sandbox saw per endpoint (token and revocation share one session), and"
        " new connections per Google call. Baseline: clients built per request.",
        f"{'clients':<13}{'threads':>8}{'requests':>10}{'gmail':>7}{'token':>7}{'revoke':>8}"
        f"{'opened':>8}{'per call':>10}",
    ]
    goals: dict[str, bool] = {}
    for row in rows:
        seen = row["connections"]
        lines.append(
            f"{row['clients']:<13}{row['threads']:>8}{row['requests']:>10}{seen['gmail']:>7}"
            f"{seen['token']:>7}{seen['revoke']:>8}{row['opened']:>8}"
            f"{row['opened'] / max(row['calls'], 1):>10.3f}"
        )
        if row["clients"] == "kept":
            goal = f"one connection per endpoint per instance, {row['threads']} thread(s)"
            goals[goal] = all(count == row["threads"] for count in seen.values())
    return lines, goals
