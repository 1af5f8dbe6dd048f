"""The whole product as ``make dev`` runs it: every entry point under its own functions-framework
server, the sandbox in its own process, requests delivered by a Pub/Sub push subscription.

GIVEN a person who opens the authorize URL and consents, WHEN a pipeline publishes a mailbox
request, THEN every message ID of their mailbox arrives on the results topic.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from google.cloud import firestore
from google.pubsub_v1 import PubsubMessage

from devstack.consent_browser import ConsentBrowser
from devstack.emulators import reset_firestore
from devstack.pubsub_setup import publisher_client
from devstack.stack import LocalStack, StackPorts, Topology
from tests.integration.cli import run_cli
from tests.integration.results import pull_until_closed

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
EMAIL = "margaret@example.com"
TOPOLOGY = Topology(
    requests_topic="stack-requests",
    results_topic="stack-results",
    requests_push_subscription="stack-requests-push",
    results_pull_subscription="stack-results-cli",
    reauth_topic="stack-reauth",
    reauth_pull_subscription="stack-reauth-cli",
    gmail_push_topic="stack-gmail-push",
    gmail_push_subscription="stack-gmail-push-push",
    dead_letter_topic="stack-dead-letter",
    dead_letter_pull_subscription="stack-dead-letter-hold",
)


@pytest.fixture(scope="module")
def stack(emulator_env: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(
        ports=StackPorts.any_free(),
        state_dir=tmp_path_factory.mktemp("stack"),
        emulators=emulator_env,
        topology=TOPOLOGY,
    ) as running:
        yield running


def test_consent_then_a_published_request_lists_the_whole_mailbox(stack, emulator_env):
    reset_firestore(emulator_env.firestore_host, emulator_env.project)
    browser = ConsentBrowser()

    # GIVEN a person who opens the printed URL and clicks Allow
    first = browser.session.get(
        stack.authorize_url, params={"login_hint": EMAIL}, allow_redirects=False, timeout=10
    )
    assert first.status_code == 302
    page = browser.open_consent(first.headers["Location"])
    location = browser.answer(page, email=EMAIL)
    assert location.startswith(stack.redirect_uri)
    answered = browser.session.get(location, allow_redirects=False, timeout=30)
    assert answered.status_code == 303, answered.text
    assert answered.headers["Location"] == stack.redirect_uri  # the code leaves the address bar
    done = browser.session.get(stack.redirect_uri, allow_redirects=False, timeout=30)
    assert done.status_code == 200, done.text
    assert EMAIL in done.text

    # THEN their document is stored under their user ID
    documents = list(
        firestore.Client(project=emulator_env.project).collection("gmail_credentials").stream()
    )
    [document] = documents
    assert (document.to_dict() or {})["status"] == "active"
    user_id = document.id

    # WHEN a pipeline publishes a mailbox request for them
    sandbox = stack.sandbox_url
    requests.post(f"{sandbox}/_sandbox/mailboxes/{EMAIL}", json={"count": 2345}, timeout=10)
    requests.post(f"{sandbox}/_sandbox/calls/reset", timeout=10)
    results = _results_subscription(emulator_env)
    publisher = publisher_client(emulator_env.pubsub_host)
    publisher.publish(
        topic=publisher.topic_path(emulator_env.project, TOPOLOGY.requests_topic),
        messages=[
            PubsubMessage(
                data=json.dumps(
                    {"user_id": user_id, "include_spam_trash": True, "request_id": "e2e"}
                ).encode()
            )
        ],
    )

    # THEN Pub/Sub pushes it to list_messages, and every ID arrives once, in 5 Gmail calls
    from devstack.pubsub_setup import subscriber_client

    published = pull_until_closed(subscriber_client(emulator_env.pubsub_host), results, timeout=90)
    ids = [i["id"] for body in published if body["type"] == "messages" for i in body["messages"]]
    assert len(ids) == len(set(ids)) == 2345
    [complete] = [body for body in published if body["type"] == "complete"]
    assert complete["total"] == 2345
    calls = requests.get(f"{sandbox}/_sandbox/calls", timeout=10).json()
    assert calls.get("gmail.messages.list") == 5

    # AND the operator's CLI does the same and shows the stored user
    env = {**os.environ, **stack.cli_env, "RESULTS_SUBSCRIPTION": "stack-results-cli"}
    shown = run_cli(env, "show-user", user_id)
    assert EMAIL in shown
    assert "sbx-rt-" not in shown  # the refresh token is masked
    read = run_cli(
        env,
        "read-mailbox",
        user_id,
        "--include-spam-trash",
        "--topic",
        TOPOLOGY.requests_topic,
        "--results-subscription",
        TOPOLOGY.results_pull_subscription,
        "--progress",
        stderr=True,
    )
    assert "complete: 2345 messages in 5 page(s)" in read
    # AND a long read shows how far it got as it goes
    assert [line for line in read.splitlines() if line.endswith("messages so far")][-1] == (
        "5 page(s), 2345 messages so far"
    )

    # WHEN the user is watched and new mail arrives, Gmail's push reaches gmail_push
    results = _results_subscription(emulator_env, "stack-results-push")
    watched = requests.post(stack.function_urls["watch"], json={"user_id": user_id}, timeout=30)
    assert watched.status_code == 200, watched.text
    arrived = requests.post(
        f"{sandbox}/_sandbox/mailboxes/{EMAIL}/deliveries", json={"count": 4}, timeout=10
    ).json()["messages"]
    pushed = pull_until_closed(subscriber_client(emulator_env.pubsub_host), results, timeout=90)
    new_ids = {i["id"] for body in pushed if body["type"] == "messages" for i in body["messages"]}
    assert new_ids == {message["id"] for message in arrived}
    assert pushed[-1]["request_id"].startswith("push:")

    # WHEN Cloud Scheduler's daily POST comes, the push subscription takes each unit to
    # upkeep_user, which renews the watch
    daily = requests.post(stack.function_urls["renew_watches"], json={}, timeout=60)
    assert daily.status_code == 200, daily.text
    assert daily.json()["dispatched"] == 1
    _wait_until_done(emulator_env, f"daily-upkeep/{daily.json()['run_id']}/{user_id}")


def _wait_until_done(emulators: Any, ledger_key: str, timeout: float = 90.0) -> None:
    """Wait for the exactly-once ledger to mark ``ledger_key`` done (``pipeline.ledger``)."""
    import hashlib
    import time

    from google.cloud import firestore

    marker = (
        firestore.Client(project=emulators.project)
        .collection("processed_events")
        .document(hashlib.sha256(ledger_key.encode()).hexdigest())
    )
    deadline = time.monotonic() + timeout
    while (marker.get().to_dict() or {}).get("status") != "done":
        assert time.monotonic() < deadline, f"{ledger_key} was not done"
        time.sleep(0.5)
    assert (marker.get().to_dict() or {}).get("outcome") == "complete"


def _results_subscription(emulators: Any, name: str = "stack-results-test") -> str:
    from devstack.pubsub_setup import ensure_pull_subscription, subscriber_client

    return ensure_pull_subscription(
        subscriber_client(emulators.pubsub_host), emulators.project, TOPOLOGY.results_topic, name
    )


def test_make_dev_comes_up_and_stops_cleanly(tmp_path):
    """``python -m devstack --check``: what ``make dev`` runs, brought up and down once."""
    completed = subprocess.run(
        [sys.executable, "-m", "devstack", "--check", "--free-ports", "--state-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "http://localhost:" in completed.stdout
    assert "functions.cli read-mailbox" in completed.stdout
    assert (tmp_path / "env").exists()
