"""Pipelines as isolated consumers, through the real entry points, the emulators and the sandbox.

Two pipelines, ``alpha`` and ``beta``, each with its own requests, results and re-auth topics (as
``infra/`` creates them from the templates). A request's pipeline is the topic it was delivered
through; a user is readable only by the pipelines they consented for (``authorize?pipeline=``).
"""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from google.cloud.firestore import DELETE_FIELD

from devstack.consent_browser import ConsentBrowser
from devstack.pubsub_setup import ensure_topic, publisher_client
from functions import config, services
from tests.integration.flow import connect, start
from tests.integration.results import (
    cloud_event,
    pull_all,
    pull_nothing,
    pull_until_closed,
    results_subscription,
)

pytestmark = pytest.mark.integration

PIPELINES = ("alpha", "beta")
ANN = "ann@example.com"
BEN = "ben@example.com"


@pytest.fixture
def two_pipelines(function_env, monkeypatch, emulator_env):
    """The functions configured for pipelines alpha and beta, their topics created."""
    topics = {
        "REQUESTS_TOPIC": "req-{pipeline}",
        "RESULTS_TOPIC": "res-{pipeline}",
        "REAUTH_TOPIC": "reauth-{pipeline}",
    }
    monkeypatch.setenv("PIPELINES", ",".join(PIPELINES))
    for variable, template in topics.items():
        monkeypatch.setenv(variable, template)
    publisher = publisher_client(emulator_env.pubsub_host)
    for template in topics.values():
        for pipeline in PIPELINES:
            ensure_topic(publisher, emulator_env.project, template.format(pipeline=pipeline))
    config.get_settings.cache_clear()
    services.get_services.cache_clear()


@pytest.fixture
def results(two_pipelines, emulator_env):
    """A fresh pull subscription on each pipeline's results topic."""
    return {p: results_subscription(emulator_env, f"res-{p}") for p in PIPELINES}


@pytest.fixture
def reauth(two_pipelines, emulator_env):
    """A fresh pull subscription on each pipeline's re-auth topic."""
    return {p: results_subscription(emulator_env, f"reauth-{p}") for p in PIPELINES}


def connected(apps: Any, firestore_client: Any, email: str, *pipelines: str) -> Any:
    """``email`` consents once for each of ``pipelines``; their stored document."""
    browser = ConsentBrowser()
    for pipeline in pipelines:
        consent = connect(apps, browser, email, pipeline=pipeline)
        assert consent.final.status_code == 200, consent.final.get_data(as_text=True)
    [document] = [
        doc
        for doc in firestore_client.collection("gmail_credentials").stream()
        if doc.to_dict()["email"] == email
    ]
    return document


def request_from(apps: Any, pipeline: str, payload: dict[str, Any], **kwargs: Any) -> Any:
    """Deliver ``payload`` as the push subscription of ``pipeline``'s requests topic does."""
    return apps.list_messages.post(**cloud_event(payload, topic=f"req-{pipeline}", **kwargs))


def test_a_pipeline_the_user_did_not_grant_gets_not_authorized_and_no_data(
    two_pipelines, apps, sandbox, subscriber, firestore_client, results
):
    # GIVEN Ann granted alpha only, and has mail
    ann = connected(apps, firestore_client, ANN, "alpha")
    assert ann.to_dict()["pipelines"] == ["alpha"]
    sandbox.state.seed_mailbox(ANN, 30)
    sandbox.state.reset_calls()

    # WHEN beta asks for her mailbox, and for a user nobody knows
    assert request_from(apps, "beta", {"user_id": ann.id, "request_id": "r1"}).status_code == 200
    assert request_from(apps, "beta", {"user_id": "n0b0dy", "request_id": "r2"}).status_code == 200

    # THEN beta gets the same not_authorized for both, on its own topic, and no message IDs
    closings = pull_until_closed(subscriber, results["beta"])
    closings += pull_all(subscriber, results["beta"])
    assert {body["type"] for body in closings} == {"error"}
    assert {body["request_id"]: body["error"] for body in closings} == {
        "r1": "not_authorized",
        "r2": "not_authorized",
    }
    assert {body["message"] for body in closings} == {closings[0]["message"]}
    # AND Gmail was not asked, and alpha heard nothing of it
    assert sandbox.state.call_counts().get("gmail.messages.list", 0) == 0
    pull_nothing(subscriber, results["alpha"])


def test_results_go_only_to_the_requesting_pipeline(
    two_pipelines, apps, sandbox, subscriber, firestore_client, results
):
    # GIVEN Ben granted both pipelines
    ben = connected(apps, firestore_client, BEN, "alpha", "beta")
    assert sorted(ben.to_dict()["pipelines"]) == ["alpha", "beta"]
    mailbox = sandbox.state.seed_mailbox(BEN, 12)

    # WHEN alpha asks
    assert request_from(apps, "alpha", {"user_id": ben.id}).status_code == 200

    # THEN alpha has the whole listing and beta nothing
    published = pull_until_closed(subscriber, results["alpha"])
    listed = {i["id"] for body in published if body["type"] == "messages" for i in body["messages"]}
    assert listed == {m.id for m in mailbox if not {"SPAM", "TRASH"} & m.label_ids}
    pull_nothing(subscriber, results["beta"])


def test_the_same_message_id_on_two_pipelines_is_two_requests(
    two_pipelines, apps, sandbox, subscriber, firestore_client, results
):
    # GIVEN a request delivered through alpha's requests topic
    ben = connected(apps, firestore_client, BEN, "alpha", "beta")
    sandbox.state.seed_mailbox(BEN, 5)
    first = {"user_id": ben.id, "request_id": "a"}
    assert request_from(apps, "alpha", first, message_id="m-shared").status_code == 200
    pull_until_closed(subscriber, results["alpha"])

    # WHEN beta's topic delivers a message that happens to carry the same message ID
    other = {"user_id": ben.id, "request_id": "b"}
    assert request_from(apps, "beta", other, message_id="m-shared").status_code == 200

    # THEN it is processed: the exactly-once ledger is keyed per topic, not by message ID alone
    closing = pull_until_closed(subscriber, results["beta"])
    [complete] = [m for m in closing if m["type"] == "complete"]
    assert complete["result_id"] == "b:complete"


def test_a_delivery_from_a_topic_of_no_pipeline_is_acknowledged_and_answers_nobody(
    two_pipelines, apps, sandbox, subscriber, firestore_client, results
):
    ben = connected(apps, firestore_client, BEN, "alpha", "beta")
    sandbox.state.seed_mailbox(BEN, 5)
    sandbox.state.reset_calls()

    delivery = cloud_event({"user_id": ben.id}, topic="req-gamma")

    assert apps.list_messages.post(**delivery).status_code == 200
    for pipeline in PIPELINES:
        pull_nothing(subscriber, results[pipeline])
    assert sandbox.state.call_counts().get("gmail.messages.list", 0) == 0


def test_re_auth_events_reach_each_granted_pipeline_and_no_other(
    two_pipelines, apps, sandbox, subscriber, firestore_client, results, reauth
):
    # GIVEN Ann granted alpha, Ben both; both then revoke access at Google
    ann = connected(apps, firestore_client, ANN, "alpha")
    ben = connected(apps, firestore_client, BEN, "alpha", "beta")
    sandbox.state.revoke_user(ANN)
    sandbox.state.revoke_user(BEN)

    # WHEN alpha asks for both mailboxes
    for user in (ann, ben):
        assert request_from(apps, "alpha", {"user_id": user.id}).status_code == 200

    # THEN alpha hears that both must consent again, and beta only of Ben
    heard = {p: pull_all(subscriber, reauth[p]) for p in PIPELINES}
    assert sorted(event["user_id"] for event in heard["alpha"]) == sorted([ann.id, ben.id])
    assert [event["user_id"] for event in heard["beta"]] == [ben.id]
    # AND each event's consent link names the pipeline it was sent to, which authorize needs
    # when there are several: following it starts the consent for that pipeline
    for pipeline, events in heard.items():
        for event in events:
            link = urlsplit(event["authorize_url"])
            query = dict(parse_qsl(link.query))
            assert query == {"pipeline": pipeline, "login_hint": event["email"]}
            followed = start(apps, ConsentBrowser(), **query)
            assert followed.status_code == 302, followed.get_data(as_text=True)


def test_a_pipeline_not_granted_learns_nothing_even_of_an_unreadable_token(
    two_pipelines, apps, sandbox, subscriber, firestore_client, results
):
    # GIVEN Ann granted alpha, and her stored token cannot be opened (plain text, before reseal)
    ann = connected(apps, firestore_client, ANN, "alpha")
    ann.reference.update({"refresh_token": "1//plain-text-before-reseal"})

    # WHEN beta asks for her mailbox, and alpha too
    assert request_from(apps, "beta", {"user_id": ann.id, "request_id": "b"}).status_code == 200
    assert request_from(apps, "alpha", {"user_id": ann.id, "request_id": "a"}).status_code == 200

    # THEN beta gets not_authorized, as for a stranger; only alpha hears the token is unreadable
    [beta] = [body for body in pull_until_closed(subscriber, results["beta"])]
    assert (beta["error"], beta["request_id"]) == ("not_authorized", "b")
    [alpha] = [body for body in pull_until_closed(subscriber, results["alpha"])]
    assert (alpha["error"], alpha["request_id"]) == ("token_unreadable", "a")


def test_push_results_reach_each_granted_pipeline_and_no_other(
    two_pipelines, apps, sandbox, subscriber, firestore_client, results
):
    # GIVEN Ann, who granted alpha only, is watched and receives mail
    ann = connected(apps, firestore_client, ANN, "alpha")
    assert apps.watch.post("/", json={"user_id": ann.id}).status_code == 200
    new = sandbox.state.deliver_messages(ANN, 3)

    # WHEN Gmail says her mailbox changed
    history_id = sandbox.state.mailbox(ANN).history_id
    payload = {"emailAddress": ANN, "historyId": history_id}
    assert apps.gmail_push.post(**cloud_event(payload, topic="gmail-push")).status_code == 200

    # THEN alpha gets the new messages and beta nothing
    published = pull_until_closed(subscriber, results["alpha"])
    listed = {i["id"] for body in published if body["type"] == "messages" for i in body["messages"]}
    assert listed == {m.id for m in new}
    pull_nothing(subscriber, results["beta"])


@pytest.mark.parametrize(
    ("query", "reason"),
    [({"pipeline": "gamma"}, "names no pipeline"), ({}, "several pipelines")],
)
def test_authorize_refuses_a_pipeline_not_configured_or_none_among_several(
    two_pipelines, apps, query, reason
):
    response = start(apps, ConsentBrowser(), **query)

    assert response.status_code == 400
    assert "Location" not in response.headers


def test_authorize_answers_in_the_users_language_when_refusing_a_pipeline(two_pipelines, apps):
    response = apps.authorize.get("/?pipeline=gamma", headers={"Accept-Language": "de"})

    assert response.status_code == 400
    assert response.headers["Content-Language"] == "de"


def test_the_success_page_names_the_pipeline_in_the_users_language(
    two_pipelines, apps, firestore_client
):
    browser = ConsentBrowser()
    consent = connect(apps, browser, ANN, pipeline="beta")

    page = apps.oauth2callback.get(
        "/", headers={**browser.cookie_header(), "Accept-Language": "fr"}
    )
    text = page.get_data(as_text=True)
    assert consent.final.status_code == 200
    assert "Connected for: <strong><bdi>beta</bdi></strong>" in consent.final.get_data(as_text=True)
    assert "Connecté pour : <strong><bdi>beta</bdi></strong>" in text


def test_with_one_pipeline_authorize_grants_it_without_being_told(apps, firestore_client):
    # GIVEN the integration stack's one pipeline, "default"; WHEN Ann consents from a plain link
    document = connected(apps, firestore_client, ANN, "default")
    assert document.to_dict()["pipelines"] == ["default"]
    assert connect(apps, ConsentBrowser(), BEN).final.status_code == 200

    # THEN the grant names that pipeline
    [ben] = [
        doc
        for doc in firestore_client.collection("gmail_credentials").stream()
        if doc.to_dict()["email"] == BEN
    ]
    assert ben.to_dict()["pipelines"] == ["default"]


def test_a_grant_from_before_pipelines_is_readable_by_none_until_assigned(
    apps, sandbox, subscriber, firestore_client, emulator_env
):
    from functions.cli import assign_pipeline

    # GIVEN a user stored before pipelines: their document has no such field
    user = connected(apps, firestore_client, ANN, "default")
    user.reference.update({"pipelines": DELETE_FIELD})
    sandbox.state.seed_mailbox(ANN, 3)
    results = results_subscription(emulator_env)

    # WHEN the pipeline asks, it is refused
    apps.list_messages.post(**cloud_event({"user_id": user.id, "request_id": "before"}))
    [refused] = pull_until_closed(subscriber, results)
    assert refused["error"] == "not_authorized"

    # AND after the operator's upgrade step it is answered
    assert assign_pipeline(argparse.Namespace(pipeline="default"), emulator_env.project) == 0
    assert user.reference.get().to_dict()["pipelines"] == ["default"]
    apps.list_messages.post(**cloud_event({"user_id": user.id, "request_id": "after"}))
    closing = [m for m in pull_until_closed(subscriber, results) if m["type"] == "complete"]
    assert closing[0]["total"] == 3


def test_assigning_a_pipeline_skips_ended_grants_and_grants_that_named_none(
    apps, sandbox, firestore_client, emulator_env
):
    from functions.cli import assign_pipeline

    # GIVEN four users from before pipelines: one active, one who disconnected (the revocation
    # failed: a tombstone), one who removed the app at Google, and one whose consent named none
    active = connected(apps, firestore_client, ANN, "default")
    gone = connected(apps, firestore_client, BEN, "default")
    removed = connected(apps, firestore_client, "cy@example.com", "default")
    named_none = connected(apps, firestore_client, "di@example.com", "default")
    sandbox.state.update_behaviour({"revoke_unavailable": True})
    try:
        assert apps.disconnect.post("/", json={"user_id": gone.id}).status_code == 202
    finally:
        sandbox.state.update_behaviour({"revoke_unavailable": False})
    services.get_services().token_store.revoke(removed.id, "tokens_revoked", _now())
    for user in (active, gone, removed):
        user.reference.update({"pipelines": DELETE_FIELD})
    named_none.reference.update({"pipelines": []})

    # WHEN the operator runs the upgrade step
    assert assign_pipeline(argparse.Namespace(pipeline="default"), emulator_env.project) == 0

    # THEN only the active grant from before pipelines was given it
    users = (active, gone, removed, named_none)
    after = {user.id: user.reference.get().to_dict() for user in users}
    assert after[active.id]["pipelines"] == ["default"]
    assert "pipelines" not in after[gone.id]
    assert after[gone.id]["status"] == "disconnecting"
    assert "pipelines" not in after[removed.id]
    assert after[named_none.id]["pipelines"] == []


def _now():
    return services.get_services().now()


def test_a_consent_after_the_user_revoked_at_google_restores_no_old_pipeline(
    two_pipelines, apps, sandbox, subscriber, firestore_client, results
):
    # GIVEN Ann granted alpha, then removed the app in her Google Account (tokens-revoked)
    ann = connected(apps, firestore_client, ANN, "alpha")
    sandbox.state.revoke_user(ANN)
    services.get_services().token_store.revoke(ann.id, "tokens_revoked", _now())
    sandbox.state.seed_mailbox(ANN, 4)

    # WHEN she later consents through beta's link
    assert connect(apps, ConsentBrowser(), ANN, pipeline="beta").final.status_code == 200

    # THEN her grant names beta only, and alpha is refused
    assert ann.reference.get().to_dict()["pipelines"] == ["beta"]
    assert request_from(apps, "alpha", {"user_id": ann.id, "request_id": "a"}).status_code == 200
    [refused] = pull_until_closed(subscriber, results["alpha"])
    assert refused["error"] == "not_authorized"
    assert request_from(apps, "beta", {"user_id": ann.id, "request_id": "b"}).status_code == 200
    assert "complete" in [m["type"] for m in pull_until_closed(subscriber, results["beta"])]


def test_a_consent_after_a_disconnect_names_only_its_own_pipeline(
    two_pipelines, apps, sandbox, firestore_client
):
    # GIVEN Ann granted alpha and disconnected, the revocation failing (a tombstone)
    ann = connected(apps, firestore_client, ANN, "alpha")
    sandbox.state.update_behaviour({"revoke_unavailable": True})
    try:
        assert apps.disconnect.post("/", json={"user_id": ann.id}).status_code == 202
    finally:
        sandbox.state.update_behaviour({"revoke_unavailable": False})

    # WHEN she consents through beta's link THEN her grant names beta only
    assert connect(apps, ConsentBrowser(), ANN, pipeline="beta").final.status_code == 200
    document = ann.reference.get().to_dict()
    assert (document["status"], document["pipelines"]) == ("active", ["beta"])


def test_a_consent_after_the_token_died_keeps_the_pipelines_granted(
    two_pipelines, apps, sandbox, subscriber, firestore_client, results, reauth
):
    # GIVEN Ann granted alpha, and her token stopped working without her revoking it (as far as
    # anyone can tell: no security event), so alpha was told she must consent again
    ann = connected(apps, firestore_client, ANN, "alpha")
    sandbox.state.revoke_user(ANN)
    assert request_from(apps, "alpha", {"user_id": ann.id}).status_code == 200
    assert len(pull_all(subscriber, reauth["alpha"])) == 1
    assert ann.reference.get().to_dict()["status"] == "reauth_required"

    # WHEN she consents again, through beta's link
    assert connect(apps, ConsentBrowser(), ANN, pipeline="beta").final.status_code == 200

    # THEN the grant goes on: alpha, which asked her back, keeps it, and beta joins
    assert sorted(ann.reference.get().to_dict()["pipelines"]) == ["alpha", "beta"]
