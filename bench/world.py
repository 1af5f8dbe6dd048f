"""The local world a benchmark runs in: emulators, the sandbox, a connected user, each process
separate as Google and the databases are."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from bench.latency_proxy import LatencyProxyProcess, Rpc
from devstack.consent_browser import ConsentBrowser, query_of
from devstack.emulators import DEFAULT_PROJECT, start_emulators
from devstack.google_sandbox import sandbox_url, start_sandbox, wait_for_sandbox
from devstack.ports import free_port
from devstack.processes import stop_together
from devstack.pubsub_setup import (
    ensure_pull_subscription,
    ensure_topic,
    publisher_client,
    subscriber_client,
)
from devstack.token_keys import key_files

if TYPE_CHECKING:
    from functions.services import Services

REDIRECT_URI = "http://localhost:8082/"
RESULTS_TOPIC = "bench-results"
UPKEEP_TOPIC = "bench-upkeep"
"""Where renew_watches dispatches its units in the cold starts (nobody reads them there)."""

FIRESTORE_ROUND_TRIP_MS = 17.0
"""Median of 10,000 single-document gets from Cloud Shell (googleapis/nodejs-firestore#1994,
2024-02-04): p50 17 ms, p99 about 32 ms."""
PUBSUB_ROUND_TRIP_MS = 25.0
"""A publish: Google's Pub/Sub team puts it between 10 and 100 ms, synchronous replication across
zones making it over 10 (googleapis/nodejs-pubsub#93, 2018-12-06); 20-30 ms observed from GKE
(googleapis/google-cloud-go#1961, 2020-04-29)."""
STORAGE_LABELS = {"emulators": "emulators as they are", "production": "with production latency"}
"""How a figure names the world it was measured in."""


class RemoteSandbox:
    """The sandbox in its own process, as Google is: driven through its ``/_sandbox/`` hooks."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._http = requests.Session()

    def seed_mailbox(self, email: str, count: int) -> None:
        """Replace the user's mailbox with ``count`` messages."""
        self._post(f"/_sandbox/mailboxes/{email}", {"count": count})

    def deliver(self, email: str, count: int) -> str:
        """New mail for the user; returns the mailbox's history ID after it."""
        response = self._http.post(
            f"{self.base_url}/_sandbox/mailboxes/{email}/deliveries",
            json={"count": count},
            timeout=30,
        )
        response.raise_for_status()
        return str(response.json()["historyId"])

    def update_behaviour(self, knobs: dict[str, object]) -> None:
        """Set behaviour knobs (latency, quota, ...)."""
        self._post("/_sandbox/behaviour", knobs)

    def reset_calls(self) -> None:
        """Zero the call counters."""
        self._post("/_sandbox/calls/reset", {})

    def call_counts(self) -> dict[str, int]:
        """Calls per endpoint since the last reset."""
        response = self._http.get(f"{self.base_url}/_sandbox/calls", timeout=10)
        response.raise_for_status()
        return dict(response.json())

    def connections(self) -> dict[str, Any]:
        """Requests and the connections they came on, per view, since the last reset."""
        response = self._http.get(f"{self.base_url}/_sandbox/connections", timeout=10)
        response.raise_for_status()
        return dict(response.json())

    def _post(self, path: str, body: dict[str, object]) -> None:
        self._http.post(f"{self.base_url}{path}", json=body, timeout=30).raise_for_status()


@dataclass
class World:
    """Everything a measurement needs to reach."""

    sandbox: RemoteSandbox
    sandbox_url: str
    env: dict[str, str]
    """The functions' configuration (as ``make dev`` would set it)."""
    proxies: dict[str, LatencyProxyProcess]
    """The latency proxies in front of the emulators, by the variable they stand in for."""

    @contextmanager
    def production_latency(self) -> Iterator[None]:
        """Within: clients made from then on reach the emulators through the latency proxies.

        Clients made before keep the connection they have (straight to the emulators).
        """
        direct = {name: self.env[name] for name in self.proxies}
        self.env.update({name: proxy.host_port for name, proxy in self.proxies.items()})
        self.apply()
        try:
            yield
        finally:
            self.env.update(direct)
            self.apply()

    @contextmanager
    def warm_instance(self, gmail_latency_ms: int) -> Iterator[Services]:
        """Within: one instance's services, every call of it at production latency (storage
        through the proxies, ``gmail_latency_ms`` added by the sandbox to each Google call)."""
        from google.cloud import firestore

        from functions.config import get_settings
        from functions.services import Services, make_publisher

        self.sandbox.update_behaviour({"latency_ms": gmail_latency_ms})
        try:
            with self.production_latency():
                database = firestore.Client(project=self.env["GOOGLE_CLOUD_PROJECT"])
                publisher = make_publisher()
                yield Services(get_settings(), firestore_client=database, publisher=publisher)
                publisher.stop()
        finally:
            self.sandbox.update_behaviour({"latency_ms": 0})

    def reset_rpcs(self) -> None:
        """Forget the storage RPCs the proxies saw so far."""
        for proxy in self.proxies.values():
            proxy.reset()

    def rpcs(self) -> list[Rpc]:
        """The storage RPCs the proxies saw since :meth:`reset_rpcs`."""
        return [rpc for proxy in self.proxies.values() for rpc in proxy.rpcs()]

    def apply(self) -> None:
        """Make this process's client libraries and ``functions.config`` use the world."""
        os.environ.update(self.env)
        from functions import config, services

        config.get_settings.cache_clear()
        services.get_services.cache_clear()

    def pending_callback(self, email: str) -> tuple[str, dict[str, str]]:
        """Run authorize and consent; return the callback query and the browser's cookie header.

        The callback itself is left for the measurement to serve.
        """
        import functions_framework

        browser = ConsentBrowser()
        authorize = functions_framework.create_app("authorize", "main.py").test_client(
            use_cookies=False
        )
        first = authorize.get(f"/?login_hint={email}")
        browser.remember(first.headers.getlist("Set-Cookie"))
        page = browser.open_consent(first.headers["Location"])
        location = browser.answer(page, email=email)
        query = "&".join(f"{k}={v}" for k, v in query_of(location).items())
        return query, browser.cookie_header()

    def connect(self, email: str) -> str:
        """A stored user for ``email``; returns their user ID."""
        import functions_framework

        query, cookies = self.pending_callback(email)
        callback = functions_framework.create_app("oauth2callback", "main.py").test_client(
            use_cookies=False
        )
        answered = callback.get(f"/?{query}", headers=cookies)
        assert answered.status_code == 303, answered.get_data(as_text=True)
        from google.cloud import firestore

        client = firestore.Client(project=self.env["GOOGLE_CLOUD_PROJECT"])
        for document in client.collection("gmail_credentials").stream():
            if (document.to_dict() or {}).get("email") == email:
                return document.id
        raise AssertionError(f"{email} was not stored")


@contextmanager
def local_world(
    firestore_ms: float = FIRESTORE_ROUND_TRIP_MS, pubsub_ms: float = PUBSUB_ROUND_TRIP_MS
) -> Iterator[World]:
    """Start the emulators and the sandbox, and a latency proxy in front of each emulator (used
    within :meth:`World.production_latency`), each in its own process, as the network and Google
    are to an instance; stop them afterwards."""
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        folder = Path(scratch)
        port = free_port()
        client_json = folder / "client.json"
        push_topic = f"projects/{DEFAULT_PROJECT}/topics/bench-gmail-push"
        google = start_sandbox(
            port,
            REDIRECT_URI,
            client_json,
            folder,
            project=DEFAULT_PROJECT,  # Gmail watches only topics of the client's own project
            gmail_push_topics=(push_topic,),
        )
        firestore_emulator, pubsub_emulator = start_emulators(
            free_port(), free_port(), DEFAULT_PROJECT, folder
        )
        proxies: dict[str, LatencyProxyProcess] = {}
        try:
            proxies["FIRESTORE_EMULATOR_HOST"] = LatencyProxyProcess(
                "firestore", firestore_emulator.host_port, firestore_ms
            ).start()
            proxies["PUBSUB_EMULATOR_HOST"] = LatencyProxyProcess(
                "pubsub", pubsub_emulator.host_port, pubsub_ms
            ).start()
            wait_for_sandbox(google, port, client_json, 60)
            base_url = sandbox_url(port)
            sandbox = RemoteSandbox(base_url)
            # round trips, not quota: neither the per-user units nor the calls in flight limit
            sandbox.update_behaviour(
                {"quota_units_per_minute": 10**9, "concurrent_requests_per_user": 10**6}
            )
            env = {
                "GOOGLE_CLOUD_PROJECT": DEFAULT_PROJECT,
                "FIRESTORE_EMULATOR_HOST": firestore_emulator.host_port,
                "PUBSUB_EMULATOR_HOST": pubsub_emulator.host_port,
                "OAUTH_CLIENT_SECRETS": str(client_json),
                "OAUTH_REDIRECT_URI": REDIRECT_URI,
                **key_files(folder),
                "OIDC_USERINFO_URI": f"{base_url}/v1/userinfo",
                "OAUTH_REVOKE_URI": f"{base_url}/revoke",
                "GMAIL_API_ROOT": f"{base_url}/",
                "RISC_CONFIGURATION_URI": f"{base_url}/.well-known/risc-configuration",
                "RESULTS_TOPIC": RESULTS_TOPIC,
                # the one pipeline's requests topic, as bench.cold_start names it in its pushes
                "REQUESTS_TOPIC": "projects/bench/topics/requests",
                "GMAIL_PUSH_TOPIC": push_topic,
                "UPKEEP_TOPIC": UPKEEP_TOPIC,  # renew_watches' units; bench.daily reads its own
                "OAUTHLIB_INSECURE_TRANSPORT": "1",
            }
            with publisher_client(pubsub_emulator.host_port) as publisher:
                ensure_topic(publisher, DEFAULT_PROJECT, RESULTS_TOPIC)
                ensure_topic(publisher, DEFAULT_PROJECT, UPKEEP_TOPIC)
            with subscriber_client(pubsub_emulator.host_port) as subscriber:
                ensure_pull_subscription(subscriber, DEFAULT_PROJECT, RESULTS_TOPIC, "bench-sink")
            world = World(sandbox, base_url, env, proxies)
            world.apply()
            yield world
        finally:
            for proxy in proxies.values():
                proxy.stop()
            stop_together([google, firestore_emulator, pubsub_emulator])
