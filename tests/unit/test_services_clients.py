"""The HTTP clients to Google: built once per instance and thread, and kept.

Neither requests' ``Session`` nor httplib2's ``Http`` may be shared between threads, so each
thread that serves requests gets its own, and keeps it for every request it serves after.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from functions.config import load_settings
from functions.services import Services

SETTINGS = load_settings(
    {
        "OAUTH_CLIENT_SECRETS": "/nowhere/client.json",
        "OAUTH_REDIRECT_URI": "https://a.example/cb",
        "GOOGLE_CLOUD_PROJECT": "p-1",
    }
)


def clients(services: Services) -> tuple[object, object, object]:
    return services.http, services.gmail, services.token_transport


def test_a_thread_keeps_its_clients_and_another_thread_has_its_own():
    services = Services(SETTINGS)

    here, again = clients(services), clients(services)
    with ThreadPoolExecutor(max_workers=1) as pool:
        there = pool.submit(clients, services).result()

    assert here == again
    assert all(mine is not theirs for mine, theirs in zip(here, there, strict=True))


def test_the_token_transport_goes_over_the_threads_session():
    services = Services(SETTINGS)

    assert services.token_transport.session is services.http  # type: ignore[attr-defined]


def test_a_session_given_to_the_instance_serves_every_thread():
    given = requests.Session()
    services = Services(SETTINGS, http=given)

    with ThreadPoolExecutor(max_workers=1) as pool:
        there = pool.submit(lambda: services.http).result()

    assert services.http is there is given


class SlowClient:
    """A Firestore client whose API client takes a while to build, and counts its builds."""

    def __init__(self) -> None:
        self.builds = 0

    @property
    def _firestore_api(self) -> object:
        self.builds += 1
        time.sleep(0.05)
        return object()


def test_a_shared_client_is_built_once_when_threads_first_ask_at_once():
    # An instance serves several requests at once: cached_property alone (no lock since Python
    # 3.12) would let each of them build the client.
    client = SlowClient()
    services = Services(SETTINGS, firestore_client=client)  # type: ignore[arg-type]
    start = threading.Barrier(8)

    def first_use() -> object:
        start.wait()
        return services.event_ledger

    with ThreadPoolExecutor(max_workers=8) as pool:
        ledgers = list(pool.map(lambda _: first_use(), range(8)))

    assert client.builds == 1
    assert all(ledger is ledgers[0] for ledger in ledgers)
