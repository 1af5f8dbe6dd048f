"""Gmail push notifications through the real ``watch``, ``gmail_push`` and ``renew_watches``
entry points, against the emulators and the sandbox's history and watch endpoints."""

from __future__ import annotations

import pytest

from devstack.consent_browser import ConsentBrowser
from tests.integration.conftest import GMAIL_ANSWERS
from tests.integration.daily import (
    UPKEEP_TOPIC,
    deliver_units,
    run_daily_job,
    upkeep_subscription,
)
from tests.integration.flow import connect
from tests.integration.results import (
    cloud_event,
    pull_nothing,
    pull_until_closed,
    results_subscription,
)

pytestmark = pytest.mark.integration

EMAIL = "barbara@example.com"


def connected(apps, firestore_client, email):
    assert connect(apps, ConsentBrowser(), email).final.status_code == 200
    [document] = [
        doc
        for doc in firestore_client.collection("gmail_credentials").stream()
        if doc.to_dict()["email"] == email
    ]
    return document


def watched(apps, firestore_client, email):
    user = connected(apps, firestore_client, email)
    response = apps.watch.post("/", json={"user_id": user.id})
    assert response.status_code == 200, response.get_json()
    return user


def message_ids(published):
    """The IDs of the messages in what was published, in order."""
    return [
        item["id"] for body in published if body["type"] == "messages" for item in body["messages"]
    ]


def notify(apps, sandbox, email):
    history_id = sandbox.state.mailbox(email).history_id
    payload = {"emailAddress": email, "historyId": history_id}
    return apps.gmail_push.post(**cloud_event(payload, topic="gmail-push")), history_id


def test_watch_asks_gmail_to_push_to_the_configured_topic(apps, firestore_client, sandbox):
    user = watched(apps, firestore_client, EMAIL)

    stored = user.reference.get().to_dict()["watch"]
    gmail_side = sandbox.state.watch(EMAIL)
    assert gmail_side.topic_name == "projects/demo-gmail-auth/topics/gmail-push"
    assert stored["topic"] == gmail_side.topic_name
    assert stored["label_ids"] == ["INBOX"]
    assert int(stored["history_id"]) == sandbox.state.mailbox(EMAIL).history_id
    assert stored["email_address"] == EMAIL  # Gmail's profile: what notifications name


def another_document(user, new_id, **changes):
    """A second document holding the user's address, sorting before theirs (their IDs start
    with 1): the one an unordered ``limit(1)`` query would return first."""
    data = {**user.reference.get().to_dict(), **changes}
    data = {key: value for key, value in data.items() if value is not None}
    reference = user.reference.parent.document(new_id)
    reference.set(data)
    return reference


@pytest.mark.parametrize(
    "former_holder",
    [
        {"watch": None},  # consented once, never watched
        {"status": "reauth_required", "status_reason": "invalid_grant"},  # lapsed, watch kept
    ],
)
def test_a_reassigned_address_still_reaches_the_watched_user(
    apps, firestore_client, sandbox, subscriber, emulator_env, former_holder
):
    # GIVEN the watched user, and the document of a former holder of the same address
    user = watched(apps, firestore_client, EMAIL)
    another_document(user, "0-former-holder", **former_holder)
    results = results_subscription(emulator_env)
    new = sandbox.state.deliver_messages(EMAIL, 2)

    response, _ = notify(apps, sandbox, EMAIL)

    assert response.status_code == 200
    published = pull_until_closed(subscriber, results)
    ids = message_ids(published)
    assert sorted(ids) == sorted(message.id for message in new)
    assert {body["user_id"] for body in published} == {user.id}


def test_an_address_two_watched_users_claim_is_acknowledged_not_guessed(
    apps, firestore_client, sandbox, subscriber, emulator_env, caplog
):
    # GIVEN two active, watched documents for one address
    user = watched(apps, firestore_client, EMAIL)
    another_document(user, "0-second-claimant")
    results = results_subscription(emulator_env)
    sandbox.state.deliver_messages(EMAIL, 2)
    sandbox.state.reset_calls()

    response, _ = notify(apps, sandbox, EMAIL)

    assert response.status_code == 200  # acknowledged: redelivery would not help
    pull_nothing(subscriber, results)
    assert sandbox.state.call_counts().get("gmail.history.list", 0) == 0
    [record] = [r for r in caplog.records if "several watched users" in r.getMessage()]
    assert record.json_fields["matches"] == 2
    assert EMAIL not in caplog.text  # an address is personal data


def test_a_watch_recorded_before_addresses_were_routes_by_the_stored_email_until_renewed(
    apps, firestore_client, sandbox, subscriber, emulator_env
):
    from google.cloud import firestore

    # GIVEN a watch stored by an earlier version, without the watched address
    user = watched(apps, firestore_client, EMAIL)
    user.reference.update({"watch.email_address": firestore.DELETE_FIELD})
    results = results_subscription(emulator_env)
    new = sandbox.state.deliver_messages(EMAIL, 1)

    response, _ = notify(apps, sandbox, EMAIL)

    assert response.status_code == 200
    assert message_ids(pull_until_closed(subscriber, results)) == [new[0].id]
    # AND the next renewal records the address
    run_daily_job(apps, subscriber, emulator_env)
    assert user.reference.get().to_dict()["watch"]["email_address"] == EMAIL


def test_a_notification_publishes_exactly_the_new_messages(
    apps, firestore_client, sandbox, subscriber, emulator_env
):
    user = watched(apps, firestore_client, EMAIL)
    results = results_subscription(emulator_env)

    # GIVEN seven new messages in the inbox and two that skip it
    new = sandbox.state.deliver_messages(EMAIL, 7)
    sandbox.state.deliver_messages(EMAIL, 2, labels=("SENT",))

    response, history_id = notify(apps, sandbox, EMAIL)

    assert response.status_code == 200
    published = pull_until_closed(subscriber, results)
    ids = message_ids(published)
    assert sorted(ids) == sorted(message.id for message in new)
    assert {body["request_id"] for body in published} == {f"push:{history_id}"}
    assert user.reference.get().to_dict()["watch"]["history_id"] == str(history_id)

    # AND the same notification again publishes nothing new
    sandbox.state.reset_calls()
    assert notify(apps, sandbox, EMAIL)[0].status_code == 200
    pull_nothing(subscriber, results)
    assert sandbox.state.call_counts().get("gmail.history.list", 0) == 0


def test_a_stale_history_id_recovers_through_a_full_listing(
    apps, firestore_client, sandbox, subscriber, emulator_env
):
    user = watched(apps, firestore_client, EMAIL)
    results = results_subscription(emulator_env)
    sandbox.state.deliver_messages(EMAIL, 3)
    sandbox.state.expire_history(EMAIL)  # the stored position is now too old: 404

    response, _ = notify(apps, sandbox, EMAIL)

    assert response.status_code == 200
    published = pull_until_closed(subscriber, results, timeout=60)
    ids = set(message_ids(published))
    inbox = {m.id for m in sandbox.state.mailbox(EMAIL).messages if "INBOX" in m.label_ids}
    assert ids == inbox
    stored = user.reference.get().to_dict()["watch"]["history_id"]
    assert stored == str(sandbox.state.mailbox(EMAIL).history_id)


def test_the_daily_job_reaches_every_user_once_and_renews_the_active_watched_ones(
    apps, firestore_client, sandbox, subscriber, emulator_env
):
    active = [watched(apps, firestore_client, f"active{n}@example.com") for n in range(2)]
    lapsed = watched(apps, firestore_client, "lapsed@example.com")
    lapsed.reference.update({"status": "reauth_required", "status_reason": "invalid_grant"})
    unwatched = connected(apps, firestore_client, "unwatched@example.com")
    before = {user.id: user.reference.get().to_dict()["watch"] for user in active}
    sandbox.state.reset_calls()

    dispatched, units = run_daily_job(apps, subscriber, emulator_env)

    # THEN every user got exactly one unit of work, and each was done
    everyone = sorted(user.id for user in (*active, lapsed, unwatched))
    assert dispatched["dispatched"] == 4
    assert sorted(unit["user_id"] for unit in units) == everyone
    assert {unit["run_id"] for unit in units} == {dispatched["run_id"]}
    assert [unit["_status"] for unit in units] == [200] * 4
    # AND only the active watched users' watches were renewed, keeping their positions
    assert sandbox.state.call_counts().get("gmail.watch", 0) == 2
    for user in active:
        after = user.reference.get().to_dict()["watch"]
        assert after["expiration"] >= before[user.id]["expiration"]
        assert after["history_id"] == before[user.id]["history_id"]

    # AND a redelivery, or a second dispatch the same day, does no unit twice
    sandbox.state.reset_calls()
    _, again = run_daily_job(apps, subscriber, emulator_env)
    assert [unit["_status"] for unit in again] == [200] * 4
    assert sandbox.state.call_counts().get("gmail.watch", 0) == 0


def test_a_failing_unit_is_redelivered_for_its_user_alone(
    apps, firestore_client, sandbox, subscriber, emulator_env, monkeypatch
):
    from functions import config, services

    users = [watched(apps, firestore_client, f"user{n}@example.com") for n in range(2)]
    monkeypatch.setenv("WORK_BUDGET_SECONDS", "2")  # time for one retry of a stated second
    config.get_settings.cache_clear()
    services.get_services.cache_clear()
    sandbox.state.reset_calls()
    subscription = upkeep_subscription(emulator_env)
    assert apps.renew_watches.post("/").status_code == 200

    # WHEN Gmail refuses every call for a while (rate limit: worth retrying); its window is
    # shortened so that the retry times it states, and the pacer's waits for them, are short
    refusing = {"quota_units_per_minute": 0, "quota_refusal_status": 429}
    sandbox.state.update_behaviour({**refusing, "quota_window_seconds": 1})
    try:
        units = deliver_units(
            subscriber, subscription, lambda d: apps.upkeep_user.post(**d).status_code
        )
    finally:
        sandbox.state.update_behaviour({**GMAIL_ANSWERS, "quota_refusal_status": 403})
    # THEN each user's unit fails on its own and Pub/Sub would redeliver it (5xx: not acked)
    assert sorted(unit["user_id"] for unit in units) == sorted(user.id for user in users)
    assert [unit["_status"] for unit in units] == [500, 500]

    # AND the redeliveries, once Gmail answers, renew each watch once
    sandbox.state.reset_calls()
    for unit in units:
        body = {"user_id": unit["user_id"], "run_id": unit["run_id"]}
        delivery = cloud_event(body, topic=UPKEEP_TOPIC)
        assert apps.upkeep_user.post(**delivery).status_code == 200
    assert sandbox.state.call_counts().get("gmail.watch", 0) == 2


@pytest.mark.parametrize(
    "payload",
    [{"user_id": "u"}, {"user_id": "a/b", "run_id": "r"}, {"run_id": "r"}, b"not json"],
)
def test_a_malformed_unit_is_acknowledged(apps, payload):
    assert apps.upkeep_user.post(**cloud_event(payload, topic=UPKEEP_TOPIC)).status_code == 200


@pytest.mark.parametrize(
    "payload",
    [
        {"emailAddress": "nobody@example.com", "historyId": 5},
        {"emailAddress": EMAIL},
        {"historyId": "x"},
        b"not json",
    ],
)
def test_notifications_for_nobody_or_malformed_are_acknowledged(apps, payload):
    assert apps.gmail_push.post(**cloud_event(payload, topic="gmail-push")).status_code == 200


@pytest.mark.parametrize(
    ("topic", "status"),
    [
        ("projects/demo-gmail-auth/topics/not-granted", 403),  # Gmail may not publish to it
        ("projects/another-project/topics/gmail-push", 400),  # not the OAuth client's project
    ],
)
def test_a_push_topic_gmail_refuses_is_a_configuration_error_not_the_user(
    apps, firestore_client, sandbox, monkeypatch, caplog, topic, status
):
    from functions import config, services

    user = connected(apps, firestore_client, EMAIL)
    sandbox.state.stop_watch(EMAIL)  # from earlier tests: Gmail's side outlives Firestore's
    monkeypatch.setenv("GMAIL_PUSH_TOPIC", topic)
    config.get_settings.cache_clear()
    services.get_services.cache_clear()

    response = apps.watch.post("/", json={"user_id": user.id})

    assert response.status_code == 500
    assert sandbox.state.watch(EMAIL) is None
    stored = user.reference.get().to_dict()
    assert stored["status"] == "active"  # the user did nothing wrong
    assert "watch" not in stored or stored["watch"] is None
    assert f"GMAIL_PUSH_TOPIC {topic}: Gmail refused to watch with it ({status})" in caplog.text
    assert "gmail-api-push@system.gserviceaccount.com" in caplog.text
