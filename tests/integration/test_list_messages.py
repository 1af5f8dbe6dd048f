"""``list_messages`` through its real entry point: stored grant → sandbox Gmail → results topic."""

from __future__ import annotations

import pytest

from devstack.consent_browser import ConsentBrowser
from tests.integration.conftest import GMAIL_ANSWERS, GMAIL_REFUSES
from tests.integration.flow import connect
from tests.integration.results import (
    cloud_event,
    pull_all,
    pull_nothing,
    pull_until_closed,
    results_subscription,
)

pytestmark = pytest.mark.integration

EMAIL = "grace@example.com"
GMAIL_READONLY = "https://www.googleapis.com/auth/gmail.readonly"


@pytest.fixture
def results(emulator_env, function_env):
    return results_subscription(emulator_env)


@pytest.fixture
def user_id(apps, firestore_client):
    consent = connect(apps, ConsentBrowser(), EMAIL)
    assert consent.final.status_code == 200
    [document] = firestore_client.collection("gmail_credentials").stream()
    return document.id


def deliver(apps, payload, *, message_id=""):
    return apps.list_messages.post(**cloud_event(payload, message_id=message_id))


def test_2345_messages_are_listed_in_5_calls_and_each_published_once(
    apps, sandbox, subscriber, results, user_id
):
    mailbox = sandbox.state.seed_mailbox(EMAIL, 2345)
    sandbox.state.reset_calls()

    response = deliver(
        apps, {"user_id": user_id, "include_spam_trash": True, "request_id": "req-2345"}
    )

    assert response.status_code == 200
    published = pull_until_closed(subscriber, results)
    batches = [body for body in published if body["type"] == "messages"]
    [complete] = [body for body in published if body["type"] == "complete"]
    ids = [item["id"] for body in batches for item in body["messages"]]
    assert sorted(ids) == sorted(message.id for message in mailbox)
    assert len(ids) == len(set(ids)) == 2345
    assert complete["total"] == 2345
    assert complete["pages"] == len(batches) == 5
    assert sandbox.state.call_counts().get("gmail.messages.list", 0) == 5
    assert sandbox.state.call_counts().get("token.refresh_token", 0) == 0  # consent's token lives
    for body in published:
        assert body["_attributes"]["user_id"] == user_id
        assert body["_attributes"]["request_id"] == "req-2345"
        assert body["user_id"] == user_id


def test_query_labels_and_max_messages_reach_gmail(apps, sandbox, subscriber, results, user_id):
    mailbox = sandbox.state.seed_mailbox(EMAIL, 1200)
    unread_inbox = [m for m in mailbox if {"INBOX", "UNREAD"} <= m.label_ids]
    assert len(unread_inbox) > 10

    deliver(apps, {"user_id": user_id, "query": "is:unread", "label_ids": ["INBOX"]})
    published = pull_until_closed(subscriber, results)
    listed = {
        item["id"] for body in published if body["type"] == "messages" for item in body["messages"]
    }
    assert listed == {m.id for m in unread_inbox}

    deliver(apps, {"user_id": user_id, "max_messages": 7})
    published = pull_until_closed(subscriber, results)
    [complete] = [body for body in published if body["type"] == "complete"]
    assert complete["total"] == 7
    assert complete["truncated"] is True


@pytest.mark.parametrize("payload", [b"{not json", [1], {"query": "no user"}, {"user_id": 7}])
def test_a_malformed_request_naming_nobody_is_acknowledged_and_publishes_nothing(
    apps, sandbox, subscriber, results, payload
):
    response = deliver(apps, payload)

    assert response.status_code == 200  # acknowledged: Pub/Sub will not redeliver it
    pull_nothing(subscriber, results)
    assert sandbox.state.call_counts().get("gmail.messages.list", 0) == 0


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"user_id": "1", "max_messages": -1}, "max_messages must be an integer"),
        ({"user_id": "1", "lable_ids": ["INBOX"]}, "unknown field(s): lable_ids"),
        ({"user_id": "a/b"}, "user_id must be the user's ID"),
        ({"request_id": "r-nobody", "query": "x"}, "user_id must be the user's ID"),
    ],
)
def test_a_malformed_request_naming_a_user_or_request_is_told_why(
    apps, sandbox, subscriber, results, payload, reason
):
    response = deliver(apps, payload, message_id="message-1")

    # THEN it is acknowledged, and its sender learns why on the results topic
    assert response.status_code == 200
    [error] = pull_until_closed(subscriber, results)
    assert error["type"] == "error"
    assert error["error"] == "invalid_request"
    assert error["reason"].startswith(reason)
    request_id = payload.get("request_id", "message-1")  # else the Pub/Sub message ID
    assert error["request_id"] == error["_attributes"]["request_id"] == request_id
    assert error["result_id"] == error["_attributes"]["result_id"] == f"{request_id}:error"
    assert error["_attributes"]["type"] == "error"
    if "user_id" in payload:
        assert error["user_id"] == error["_attributes"]["user_id"] == payload["user_id"]
    else:
        assert "user_id" not in error
        assert "user_id" not in error["_attributes"]
    assert sandbox.state.call_counts().get("gmail.messages.list", 0) == 0


def test_an_oversize_id_is_left_out_of_the_attributes_but_kept_in_the_body(
    apps, subscriber, results
):
    # GIVEN IDs past Pub/Sub's 1,024-byte attribute limit (the user ID in 4-byte characters)
    long_user, long_request = "😀" * 300, "r" * 2000

    response = deliver(apps, {"user_id": long_user, "request_id": long_request})

    assert response.status_code == 200
    [error] = pull_until_closed(subscriber, results)
    assert error["error"] == "invalid_request"
    assert error["reason"].startswith("user_id must be the user's ID")
    assert (error["user_id"], error["request_id"]) == (long_user, long_request)
    assert error["_attributes"] == {"type": "error"}


def test_gmail_refusing_the_query_reports_gmails_own_reason(apps, subscriber, results, user_id):
    response = deliver(apps, {"user_id": user_id, "query": "nosuchoperator:x", "request_id": "q"})

    assert response.status_code == 200
    [error] = pull_until_closed(subscriber, results)
    assert error["error"] == "gmail_rejected"
    assert error["message"] == "Gmail refused the request (400)"
    assert error["reason"] == "Invalid query"
    assert error["_attributes"]["user_id"] == user_id


def test_an_unknown_user_is_acknowledged_and_reported(apps, subscriber, results):
    response = deliver(apps, {"user_id": "999", "request_id": "r-unknown"})

    assert response.status_code == 200
    [error] = pull_until_closed(subscriber, results)
    assert error["type"] == "error"
    # the answer for a user who did not grant this pipeline: it learns nothing of other users
    assert error["error"] == "not_authorized"
    assert error["request_id"] == "r-unknown"


def test_a_revoked_user_is_marked_reauth_required_and_not_retried(
    apps, sandbox, firestore_client, subscriber, results, user_id
):
    # GIVEN the user removed the app's access in their Google Account
    sandbox.state.revoke_user(EMAIL)

    response = deliver(apps, {"user_id": user_id})

    assert response.status_code == 200
    [error] = pull_until_closed(subscriber, results)
    assert error["error"] == "reauth_required"
    assert error["reason"] == "invalid_grant"
    document = firestore_client.collection("gmail_credentials").document(user_id).get().to_dict()
    assert document["status"] == "reauth_required"
    assert document["status_reason"] == "invalid_grant"
    assert document["refresh_token"]  # kept for the record; never used again

    # AND a later request does not even try the dead grant
    sandbox.state.reset_calls()
    assert deliver(apps, {"user_id": user_id}).status_code == 200
    assert pull_until_closed(subscriber, results)[0]["error"] == "reauth_required"
    assert sandbox.state.call_counts().get("token.refresh_token", 0) == 0


def test_a_re_auth_event_is_published_once_per_transition(
    apps, sandbox, subscriber, emulator_env, results, user_id
):
    reauth = results_subscription(emulator_env, "reauth-events")
    sandbox.state.revoke_user(EMAIL)

    for _ in range(3):
        assert deliver(apps, {"user_id": user_id}).status_code == 200
        pull_until_closed(subscriber, results)

    [event] = pull_all(subscriber, reauth)
    assert event["user_id"] == user_id
    assert event["email"] == EMAIL
    assert event["reason"] == "invalid_grant"
    assert (
        event["authorize_url"]
        == "http://localhost:8081/?pipeline=default&login_hint=grace%40example.com"
    )

    # AND after the user consents again, a new revocation is a new transition
    assert connect(apps, ConsentBrowser(), EMAIL).final.status_code == 200
    sandbox.state.revoke_user(EMAIL)
    assert deliver(apps, {"user_id": user_id}).status_code == 200
    [again] = pull_all(subscriber, reauth)
    assert again["user_id"] == user_id


def test_a_re_auth_event_lost_to_an_outage_is_sent_on_redelivery(
    apps, sandbox, firestore_client, subscriber, emulator_env, results, user_id
):
    from devstack.pubsub_setup import ensure_topic, publisher_client

    publisher = publisher_client(emulator_env.pubsub_host)
    topic = publisher.topic_path(emulator_env.project, "reauth-events")
    sandbox.state.revoke_user(EMAIL)

    # GIVEN the re-auth topic is unavailable WHEN the revocation is found THEN Pub/Sub must retry
    publisher.delete_topic(topic=topic)
    assert deliver(apps, {"user_id": user_id}).status_code == 500
    document = firestore_client.collection("gmail_credentials").document(user_id).get().to_dict()
    assert document["status"] == "reauth_required"
    assert document["reauth_notified"] is False

    # WHEN the topic is back and the request is redelivered THEN the event goes out, once
    ensure_topic(publisher, emulator_env.project, "reauth-events")
    reauth = results_subscription(emulator_env, "reauth-events")
    assert deliver(apps, {"user_id": user_id}).status_code == 200
    assert deliver(apps, {"user_id": user_id}).status_code == 200
    [event] = pull_all(subscriber, reauth)
    assert event["reason"] == "invalid_grant"


def test_a_rate_limited_request_is_left_for_pub_sub_to_retry(
    apps, sandbox, firestore_client, user_id
):
    sandbox.state.update_behaviour(GMAIL_REFUSES)
    try:
        response = deliver(apps, {"user_id": user_id})
    finally:
        sandbox.state.update_behaviour(GMAIL_ANSWERS)

    assert response.status_code == 500  # not acknowledged: Pub/Sub redelivers
    document = firestore_client.collection("gmail_credentials").document(user_id).get().to_dict()
    assert document["status"] == "active"


def test_an_access_token_ended_early_is_replaced_once_and_the_user_stays_active(
    apps, sandbox, firestore_client, subscriber, results, user_id
):
    # GIVEN Google ended the cached access token early; the refresh token still works
    document = firestore_client.collection("gmail_credentials").document(user_id)
    before = document.get().to_dict()["access_token"]
    sandbox.state.expire_access_tokens(EMAIL)
    sandbox.state.reset_calls()

    response = deliver(apps, {"user_id": user_id, "max_messages": 10})

    assert response.status_code == 200
    assert pull_until_closed(subscriber, results)[-1]["total"] == 10
    assert sandbox.state.call_counts().get("token.refresh_token", 0) == 1
    after = document.get().to_dict()
    assert after["status"] == "active"
    assert after["access_token"] != before  # the refused token was replaced in the cache


def test_a_401_inside_a_batch_mints_a_new_access_token_once(
    function_env, sandbox, firestore_client, publisher, user_id
):
    from functions.config import get_settings
    from functions.gmail import api as gmail
    from functions.gmail.metadata import describe
    from functions.gmail.session import GmailSession
    from functions.grants.reauth import active_user
    from functions.services import Services

    sandbox.state.seed_mailbox(EMAIL, 60)
    services = Services(get_settings(), firestore_client=firestore_client, publisher=publisher)
    with GmailSession(services, active_user(services, user_id)) as session:
        listed = session.execute(lambda api: api.messages.list(userId="me", maxResults=60))
        refs = gmail.message_refs(listed)

        # WHEN Google ends the access token between the listing and the metadata batches
        sandbox.state.expire_access_tokens(EMAIL)
        sandbox.state.reset_calls()
        described = describe(session, refs)

    # THEN the 401s inside the first batch got one new access token, and the batch its retry
    assert [item["id"] for item in described] == [ref["id"] for ref in refs]
    calls = sandbox.state.call_counts()
    assert calls.get("token.refresh_token", 0) == 1
    assert calls.get("gmail.batch", 0) == 3  # refused, retried, then the last ten
    document = firestore_client.collection("gmail_credentials").document(user_id).get()
    assert document.to_dict()["status"] == "active"
