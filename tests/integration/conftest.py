"""Integration fixtures: real emulators, the sandbox in a thread, the real entry points.

The whole session points the client libraries at the emulators (never at Google): the standard
``*_EMULATOR_HOST`` variables are set before any client is built. Each test starts from an empty
Firestore and a fresh configuration; the functions read their configuration from the environment
exactly as in production.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from google.cloud import firestore, pubsub_v1

from devstack import deployment
from devstack.emulators import DEFAULT_PROJECT, reset_firestore
from devstack.pubsub_setup import ensure_topic, publisher_client
from devstack.token_keys import ensure_cookie_keys, ensure_token_keys, write_public_keys
from functions import config, services
from functions.gmail import pacing
from sandbox.app import create_app as create_sandbox_app
from sandbox.server import serve_in_thread
from sandbox.state import SandboxState
from tests.integration.daily import UPKEEP_TOPIC
from tests.integration.flow import REDIRECT_URI

REPO = Path(__file__).resolve().parents[2]
MAIN = str(REPO / "main.py")
REAUTH_TOPIC = "reauth-events"
GMAIL_PUSH_TOPIC = "gmail-push"
WORK_BUDGET_SECONDS = 5
"""The functions' work budget in tests: retries inside one invocation stop after this; longer
waits are Pub/Sub's to make."""
GMAIL_REFUSES = {"quota_units_per_minute": 0, "quota_window_seconds": WORK_BUDGET_SECONDS + 1}
"""Sandbox knobs: Gmail refuses every call for the user's quota, stating a retry time just past
the work budget, so an invocation gives up at once (Pub/Sub's to retry, as with Gmail's minute)
and the instance's pacer then holds the user's next call for seconds, not a minute."""
GMAIL_ANSWERS = {"quota_units_per_minute": 15000, "quota_window_seconds": 60}
"""Sandbox knobs: Gmail's own legacy quota again (undoes :data:`GMAIL_REFUSES`)."""


KEY_VARIABLES = frozenset(secret.variable for secret in deployment.load().secrets.values())
"""Every variable that names a mounted secret (the client, the token and the cookie keys)."""


def as_deployed(function_env: dict[str, str], sandbox: Sandbox, key: str) -> dict[str, str]:
    """The test's environment with exactly the secrets the deployment mounts for ``key``
    (infra/functions.json, as Terraform and deploy.sh give them), laid out as mounted."""
    definition = deployment.load()
    settings = deployment.Settings(project="demo", region="europe-west1")
    deployed = deployment.environment(
        definition.functions[key], definition, settings, secrets_root=str(sandbox.secrets_root)
    )
    mounted = {name: value for name, value in deployed.items() if name in KEY_VARIABLES}
    return {**{k: v for k, v in function_env.items() if k not in KEY_VARIABLES}, **mounted}


@dataclass
class Sandbox:
    """The running sandbox: its world, its URL, and the client registered with it."""

    state: SandboxState
    base_url: str
    client_json: Path
    client_id: str
    token_keys: Path
    token_public_keys: Path
    cookie_keys: Path
    secrets_root: Path
    """Stands for a deployed function's ``/``: each secret is a file at its mount path below."""


@pytest.fixture(scope="session")
def emulator_env(emulators: Any) -> Iterator[Any]:
    """Point every Google client library in this process at the emulators."""
    previous = {k: os.environ.get(k) for k in ("FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST")}
    os.environ["FIRESTORE_EMULATOR_HOST"] = emulators.firestore_host
    os.environ["PUBSUB_EMULATOR_HOST"] = emulators.pubsub_host
    yield emulators
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The Google sandbox, serving from a thread of the test process."""
    state = SandboxState()
    server = serve_in_thread(create_sandbox_app(state))
    # The client and the push topic live in the emulators' project, as Gmail requires; Gmail may
    # publish to the topic, as infra/pubsub.tf grants it.
    client = state.register_client([REDIRECT_URI], project_id=DEFAULT_PROJECT)
    state.grant_push_publisher(f"projects/{DEFAULT_PROJECT}/topics/{GMAIL_PUSH_TOPIC}")
    # The secrets are files laid out as Cloud Run mounts them (infra/functions.json), under a
    # folder that stands for a deployed function's root.
    root = tmp_path_factory.mktemp("sandbox")
    secrets = deployment.load().secrets
    path = root / secrets["oauth_client"].path.lstrip("/")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(state.client_config(client, server.base_url)))
    keys = ensure_token_keys(root / secrets["token_keys"].path.lstrip("/"))
    public = write_public_keys(keys, root / secrets["token_public_keys"].path.lstrip("/"))
    cookies = ensure_cookie_keys(root / secrets["cookie_keys"].path.lstrip("/"))
    yield Sandbox(state, server.base_url, path, client.client_id, keys, public, cookies, root)
    server.shutdown()


@pytest.fixture(scope="session")
def firestore_client(emulator_env: Any) -> firestore.Client:
    """A Firestore client on the emulator, for the tests' own reads."""
    return firestore.Client(project=emulator_env.project)


@pytest.fixture(scope="session")
def publisher(emulator_env: Any) -> pubsub_v1.PublisherClient:
    """A Pub/Sub publisher on the emulator."""
    return pubsub_v1.PublisherClient()


@pytest.fixture(scope="session")
def subscriber(emulator_env: Any) -> pubsub_v1.SubscriberClient:
    """A Pub/Sub subscriber on the emulator."""
    return pubsub_v1.SubscriberClient()


@pytest.fixture
def function_env(
    monkeypatch: pytest.MonkeyPatch, emulator_env: Any, sandbox: Sandbox
) -> Iterator[dict[str, str]]:
    """The functions' configuration for the local stack, and an empty Firestore."""
    reset_firestore(emulator_env.firestore_host, emulator_env.project)
    publisher = publisher_client(emulator_env.pubsub_host)
    for topic in ("mailbox-results", REAUTH_TOPIC, UPKEEP_TOPIC):
        ensure_topic(publisher, emulator_env.project, topic)
    sandbox.state.reset_calls()
    env = {
        "OAUTH_CLIENT_SECRETS": str(sandbox.client_json),
        "OAUTH_CLIENT_ID": sandbox.client_id,
        "OAUTH_REDIRECT_URI": REDIRECT_URI,
        "OIDC_USERINFO_URI": f"{sandbox.base_url}/v1/userinfo",
        "OAUTH_REVOKE_URI": f"{sandbox.base_url}/revoke",
        "GMAIL_API_ROOT": f"{sandbox.base_url}/",
        "RISC_CONFIGURATION_URI": f"{sandbox.base_url}/.well-known/risc-configuration",
        "GOOGLE_CLOUD_PROJECT": emulator_env.project,
        "PIPELINES": "default",
        "REQUESTS_TOPIC": "mailbox-requests",
        "RESULTS_TOPIC": "mailbox-results",
        "REAUTH_TOPIC": REAUTH_TOPIC,
        "AUTHORIZE_URL": "http://localhost:8081/",
        "TOKEN_ENCRYPTION_KEYS": str(sandbox.token_keys),
        "TOKEN_PUBLIC_KEYS": str(sandbox.token_public_keys),
        "COOKIE_KEYS": str(sandbox.cookie_keys),
        "OAUTHLIB_INSECURE_TRANSPORT": "1",
        "WORK_BUDGET_SECONDS": str(WORK_BUDGET_SECONDS),
        "GMAIL_PUSH_TOPIC": GMAIL_PUSH_TOPIC,
        "UPKEEP_TOPIC": UPKEEP_TOPIC,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("ALLOWED_RETURN_TO", "OAUTH_SCOPES", "CREDENTIALS_COLLECTION"):
        monkeypatch.delenv(key, raising=False)
    # A new instance's pacers: one told by an earlier test that Gmail refused a user (the
    # sandbox derives a user's ID from the address) would make this test wait out that refusal.
    monkeypatch.setattr(pacing, "_pacers", {})
    _forget_instance_state()
    yield env
    _forget_instance_state()


def _forget_instance_state() -> None:
    """What a new function instance would not have: cached settings and clients."""
    config.get_settings.cache_clear()
    services.get_services.cache_clear()


@pytest.fixture
def apps(function_env: dict[str, str]) -> Any:
    """Test clients of the real entry points, loaded from main.py by functions-framework."""

    @dataclass
    class Apps:
        watch: Any
        renew_watches: Any
        upkeep_user: Any
        gmail_push: Any
        disconnect: Any
        authorize: Any
        oauth2callback: Any
        list_messages: Any

    return Apps(
        watch=functions_framework.create_app("watch", MAIN, "http").test_client(),
        renew_watches=functions_framework.create_app("renew_watches", MAIN, "http").test_client(),
        upkeep_user=functions_framework.create_app("upkeep_user", MAIN, "cloudevent").test_client(),
        gmail_push=functions_framework.create_app("gmail_push", MAIN, "cloudevent").test_client(),
        disconnect=functions_framework.create_app("disconnect", MAIN, "http").test_client(),
        authorize=functions_framework.create_app("authorize", MAIN, "http").test_client(
            use_cookies=False
        ),
        oauth2callback=functions_framework.create_app("oauth2callback", MAIN, "http").test_client(
            use_cookies=False
        ),
        list_messages=functions_framework.create_app(
            "list_messages", MAIN, "cloudevent"
        ).test_client(),
    )
