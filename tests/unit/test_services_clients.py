"""The HTTP clients to Google: built once per instance and thread, and kept.

Neither requests' ``Session`` nor httplib2's ``Http`` may be shared between threads, so each
thread that serves requests gets its own, and keeps it for every request it serves after.
"""

from __future__ import annotations

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
    return services.http, services.gmail_http, services.token_transport


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
