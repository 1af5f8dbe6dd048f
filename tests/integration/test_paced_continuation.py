"""A long ``format: metadata`` read paced to Gmail's quota continues itself, through the
``list_messages`` entry point: each pause that made progress is acknowledged and continued by a
new message on the same requests topic, so its pauses never count toward Pub/Sub's
``max_delivery_attempts``; a pause without progress is left to Pub/Sub's redelivery."""

from __future__ import annotations

import base64
import dataclasses
import threading
from typing import Any

import pytest

from devstack.consent_browser import ConsentBrowser
from functions import config, services
from functions.gmail import pacing
from functions.gmail.session import quota
from functions.pipeline.ledger import REPLAY_OF
from tests.integration.flow import connect
from tests.integration.results import (
    cloud_event,
    pull_messages,
    pull_nothing,
    pull_until_closed,
    results_subscription,
)

pytestmark = pytest.mark.integration

EMAIL = "paced@example.com"
MAX_DELIVERY_ATTEMPTS = 5
"""infra/'s ``var.max_delivery_attempts`` default, Pub/Sub's least."""
WINDOW = 2.0
"""Gmail's minute, shortened for the sandbox and the functions alike."""
BUDGET = 0.3 * WINDOW
"""Each invocation's work budget: a 500-message page (2,500 legacy units) takes 0.175 windows
at the pace, so an invocation reads one page and pauses before the next."""


@pytest.fixture
def paced(apps, sandbox, firestore_client, monkeypatch):
    """A connected user and the deployed functions paced to a legacy quota of short windows."""
    assert connect(apps, ConsentBrowser(), EMAIL).final.status_code == 200
    [user] = firestore_client.collection("gmail_credentials").stream()
    sandbox.state.update_behaviour({"quota_profile": "legacy", "quota_window_seconds": WINDOW})
    sandbox.state.reset_quota()
    settings = dataclasses.replace(
        config.get_settings(),
        gmail_quota_profile="legacy",
        gmail_quota_window_seconds=WINDOW,
        work_budget_seconds=BUDGET,
    )
    monkeypatch.setattr(services, "get_settings", lambda: settings)
    services.get_services.cache_clear()
    yield user.id, settings
    sandbox.state.update_behaviour({"quota_profile": "legacy", "quota_window_seconds": 60})
    services.get_services.cache_clear()


def as_delivery(message: Any) -> dict[str, Any]:
    """A message pulled from the requests topic, delivered as its push subscription would."""
    event = cloud_event(message.data, message_id=message.message_id)
    event["json"]["message"]["attributes"] = dict(message.attributes)
    return event


def test_a_long_paced_read_continues_itself_past_max_delivery_attempts(
    apps, paced, sandbox, subscriber, emulator_env
):
    # GIVEN 4,000 messages: eight pages, one per invocation at this budget
    user_id, _ = paced
    messages = 4000
    sandbox.state.seed_mailbox(EMAIL, messages)
    results = results_subscription(emulator_env)
    requests = results_subscription(emulator_env, "mailbox-requests")
    body = {"user_id": user_id, "format": "metadata", "include_spam_trash": True}
    delivery = cloud_event(body, message_id="m-paced")

    # WHEN it is delivered, each continuation is delivered as it is published, and a delivery
    # that fails is redelivered as Pub/Sub would
    continuations, redeliveries = [], 0
    for _ in range(40):
        status = apps.list_messages.post(**delivery).status_code
        published = pull_messages(subscriber, requests)
        if status != 200:  # a pause before any progress: redelivered, nothing continues it
            assert not published
            redeliveries += 1
            continue
        if not published:
            break  # complete
        [continuation] = published
        continuations.append(continuation)
        delivery = as_delivery(continuation)
    else:
        raise AssertionError("the read never completed")

    # THEN each pause was acknowledged and continued on the same topic, naming the original
    assert len(continuations) > MAX_DELIVERY_ATTEMPTS
    assert redeliveries < MAX_DELIVERY_ATTEMPTS
    for continuation in continuations:
        assert continuation.attributes[REPLAY_OF] == "m-paced"
        assert continuation.data == delivery_data(body)
    # AND every message arrived once, with its metadata, under the original request's ID
    published = pull_until_closed(subscriber, results)
    ids = [item["id"] for b in published if b["type"] == "messages" for item in b["messages"]]
    assert len(ids) == len(set(ids)) == messages
    assert {b["_attributes"]["request_id"] for b in published} == {"m-paced"}
    assert [b["total"] for b in published if b["type"] == "complete"] == [messages]


def delivery_data(body: dict[str, Any]) -> bytes:
    """What ``cloud_event`` publishes for ``body``."""
    return base64.b64decode(cloud_event(body)["json"]["message"]["data"])


def test_a_pause_without_progress_is_redelivered_and_not_continued(
    apps, paced, sandbox, subscriber, emulator_env
):
    # GIVEN another request of this instance has just spent the user's quota for a whole budget
    user_id, settings = paced
    sandbox.state.seed_mailbox(EMAIL, 1000)
    requests = results_subscription(emulator_env, "mailbox-requests")
    pacer = pacing.pacer_for(user_id, quota(settings))
    spender = threading.Thread(target=pacer.spend, args=(int(BUDGET * pacer.rate),))
    spender.start()

    # WHEN a metadata read is delivered
    body = {"user_id": user_id, "format": "metadata", "include_spam_trash": True}
    response = apps.list_messages.post(**cloud_event(body, message_id="m-starved"))
    spender.join()

    # THEN it pauses before its first page, and is left to Pub/Sub's redelivery (with backoff)
    assert response.status_code >= 500
    pull_nothing(subscriber, requests)
