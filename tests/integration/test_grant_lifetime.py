"""Grants that die quietly: idle refresh tokens (kept alive by the daily job) and time-limited
grants (warned of, then refused without calling Google). Time moves on both sides: the sandbox's
clock, and the functions' through a ``Services`` whose ``now`` is later."""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import flask
import pytest
from cloudevents.http import CloudEvent
from google.cloud import pubsub_v1

from devstack.consent_browser import ConsentBrowser
from functions.clock import utcnow
from functions.config import get_settings
from functions.handlers.list_messages import handle_list_messages
from functions.handlers.watch import handle_renew_watches
from functions.pipeline.daily import UnitOfWork, upkeep_user
from functions.services import Services
from tests.integration.daily import upkeep_subscription
from tests.integration.flow import connect
from tests.integration.results import (
    pull_all,
    pull_nothing,
    pull_until_closed,
    results_subscription,
)

pytestmark = pytest.mark.integration

EMAIL = "dorothy@example.com"
DAY = 86400


@pytest.fixture
def sandbox_time(sandbox) -> Iterator[Any]:
    """The sandbox's clock and knobs, put back after the test."""
    yield sandbox.state
    sandbox.state.reset_clock()
    sandbox.state.update_behaviour({"refresh_token_expires_in": 0, "refresh_token_idle_days": 0})


@pytest.fixture
def later(firestore_client, publisher) -> Callable[[float], Services]:
    """A function instance whose clock reads ``days`` from now."""

    def at(days: float) -> Services:
        services = Services(get_settings(), firestore_client=firestore_client, publisher=publisher)
        moment = utcnow() + timedelta(days=days)
        services.now = lambda: moment
        return services

    return at


@pytest.fixture
def reauth(emulator_env, function_env) -> str:
    return results_subscription(emulator_env, "reauth-events")


@pytest.fixture
def results(emulator_env, function_env) -> str:
    return results_subscription(emulator_env)


def connected(apps, firestore_client) -> Any:
    assert connect(apps, ConsentBrowser(), EMAIL).final.status_code == 200
    [document] = firestore_client.collection("gmail_credentials").stream()
    return document.reference


def daily_job(services: Services) -> dict[str, Any]:
    """What Cloud Scheduler's daily POST to ``renew_watches`` does, at ``services.now``: the
    dispatch, then each dispatched unit done as ``upkeep_user`` does it; what the units did,
    counted (``grants``: the grants' upkeep outcomes)."""
    emulators = SimpleNamespace(
        pubsub_host=os.environ["PUBSUB_EMULATOR_HOST"], project=services.settings.project
    )
    subscription = upkeep_subscription(emulators)
    with flask.Flask(__name__).test_request_context("/", method="POST"):
        response = handle_renew_watches(flask.request, services)
    assert response.status_code == 200, response.get_data(as_text=True)
    grants: Counter[str] = Counter()
    for unit in pull_all(pubsub_v1.SubscriberClient(), subscription):
        outcome = upkeep_user(services, UnitOfWork(unit["user_id"], unit["run_id"]))
        if outcome is not None and outcome["grant"]:
            grants[outcome["grant"]] += 1
    return {**json.loads(response.get_data()), "grants": grants}


def list_mailbox(services: Services, subscriber, results, user_id: str) -> dict[str, Any]:
    """One mailbox request through the ``list_messages`` handler; its closing result."""
    message = {
        "data": base64.b64encode(json.dumps({"user_id": user_id}).encode()).decode(),
        "messageId": uuid.uuid4().hex,
    }
    event = CloudEvent(
        {
            "type": "google.cloud.pubsub.topic.v1.messagePublished",
            "source": "//pubsub.googleapis.com/projects/demo-gmail-auth/topics/mailbox-requests",
            "id": message["messageId"],
        },
        {"message": message},
    )
    handle_list_messages(event, services)
    received = pull_until_closed(subscriber, results)
    return next(body for body in received if body["type"] in ("complete", "error"))


def test_an_idle_grant_is_refreshed_by_the_daily_job_and_stays_usable(
    apps, firestore_client, sandbox_time, later, subscriber, results
):
    # GIVEN Google drops refresh tokens unused for 180 days, and a user connected
    sandbox_time.update_behaviour({"refresh_token_idle_days": 180})
    user = connected(apps, firestore_client)
    # WHEN 151 days pass without a listing, and the daily job runs
    sandbox_time.advance_clock(151 * DAY)
    sandbox_time.reset_calls()
    report = daily_job(later(151))

    # THEN it refreshed the idle grant once, which records the use
    assert report["grants"]["refreshed"] == 1
    assert sandbox_time.call_counts().get("token.refresh_token") == 1
    used = user.get().to_dict()["last_used_at"]
    assert used > utcnow() + timedelta(days=150)
    # AND a day later the job leaves it alone
    assert daily_job(later(152))["grants"]["refreshed"] == 0
    # AND 100 days on (251 since consent, past Google's 180), the grant still reads the mailbox
    sandbox_time.advance_clock(100 * DAY)
    assert list_mailbox(later(251), subscriber, results, user.id)["type"] == "complete"
    assert user.get().to_dict()["status"] == "active"


def test_without_the_keep_alive_an_idle_grant_dies(
    apps, firestore_client, sandbox_time, later, subscriber, results
):
    # The sandbox's idle expiry, which the test above relies on, does bite.
    sandbox_time.update_behaviour({"refresh_token_idle_days": 180})
    user = connected(apps, firestore_client)
    sandbox_time.advance_clock(181 * DAY)

    closing = list_mailbox(later(181), subscriber, results, user.id)

    assert closing["error"] == "reauth_required"
    assert user.get().to_dict()["status_reason"] == "invalid_grant"


def test_a_time_limited_grant_is_warned_of_then_refused_without_calling_google(
    apps, firestore_client, sandbox_time, later, subscriber, reauth, results
):
    # GIVEN the user granted access for ten days (Google's refresh_token_expires_in)
    sandbox_time.update_behaviour({"refresh_token_expires_in": 10 * DAY})
    user = connected(apps, firestore_client)
    ends = user.get().to_dict()["grant_expires_at"]
    assert abs((ends - utcnow()) - timedelta(days=10)) < timedelta(minutes=5)

    # WHEN the daily job runs today: nothing to say yet
    assert daily_job(later(0))["grants"]["warned"] == 0
    pull_nothing(subscriber, reauth)
    # WHEN it runs eight days later (within GRANT_EXPIRY_WARNING_DAYS, 3): the user is told, once
    assert daily_job(later(8))["grants"]["warned"] == 1
    assert daily_job(later(8.5))["grants"]["warned"] == 0
    [warning] = pull_all(subscriber, reauth)
    assert (warning["user_id"], warning["reason"]) == (user.id, "grant_expiring")
    assert warning["authorize_url"].startswith(
        "http://localhost:8081/?pipeline=default&login_hint="
    )
    document = user.get().to_dict()
    assert (document["status"], document["expiry_warned"]) == ("active", True)

    # WHEN a mailbox request arrives after the grant ended
    sandbox_time.advance_clock(11 * DAY)
    sandbox_time.reset_calls()
    closing = list_mailbox(later(11), subscriber, results, user.id)

    # THEN it is answered reauth_required without a call to Google, and the user is told
    assert closing["error"] == "reauth_required"
    assert not [n for n in sandbox_time.call_counts() if n.startswith(("token", "gmail"))]
    assert user.get().to_dict()["status_reason"] == "grant_expired"
    [ended] = pull_all(subscriber, reauth)
    assert ended["reason"] == "grant_expired"


def test_the_sandbox_refuses_a_time_limited_token_after_its_end(
    apps, firestore_client, sandbox_time, later, subscriber, results
):
    # Were the expiry not checked first, Google itself would refuse the grant.
    sandbox_time.update_behaviour({"refresh_token_expires_in": DAY})
    user = connected(apps, firestore_client)
    user.update({"grant_expires_at": None})  # as if the expiry had not been recorded
    sandbox_time.advance_clock(2 * DAY)

    closing = list_mailbox(later(2), subscriber, results, user.id)

    assert closing["error"] == "reauth_required"
    assert user.get().to_dict()["status_reason"] == "invalid_grant"
