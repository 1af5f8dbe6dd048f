"""Cross-Account Protection end to end: the sandbox signs and pushes security event tokens to the
real ``security_events`` entry point (served over HTTP), which validates them against the
sandbox's RISC configuration and keys and acts on Firestore and ``REAUTH_TOPIC``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import functions_framework
import pytest
import requests

from devstack.consent_browser import ConsentBrowser
from devstack.emulators import DEFAULT_PROJECT
from functions import config, services
from functions.grants import security_events
from sandbox import risc
from sandbox.server import serve_in_thread
from tests.integration.cli import run_cli
from tests.integration.conftest import KEY_VARIABLES, MAIN, as_deployed
from tests.integration.flow import connect
from tests.integration.results import (
    cloud_event,
    pull_all,
    pull_nothing,
    pull_until_closed,
    results_subscription,
)

pytestmark = pytest.mark.integration

EMAIL = "katherine@example.com"


@pytest.fixture
def receiver(apps, sandbox, monkeypatch) -> Iterator[str]:
    """The ``security_events`` function on a real socket, registered as the sandbox's stream."""
    monkeypatch.setenv(
        config.RISC_CONFIGURATION_URI, f"{sandbox.base_url}{risc.CONFIGURATION_PATH}"
    )
    config.get_settings.cache_clear()
    services.get_services.cache_clear()
    app = functions_framework.create_app("security_events", MAIN, "http")
    server = serve_in_thread(app)
    url = server.base_url + "/"
    sandbox.state.risc.update_stream(
        DEFAULT_PROJECT,
        {
            "delivery": {"delivery_method": risc.PUSH, "url": url},
            "events_requested": list(risc.EVENT_TYPES.values()),
        },
    )
    yield url
    server.shutdown()
    sandbox.state.risc.streams.clear()


@pytest.fixture
def user(apps, firestore_client, receiver) -> Any:
    assert connect(apps, ConsentBrowser(), EMAIL).final.status_code == 200
    [document] = firestore_client.collection("gmail_credentials").stream()
    return document.reference


@pytest.fixture
def reauth(emulator_env, function_env) -> str:
    return results_subscription(emulator_env, "reauth-events")


@pytest.fixture
def results(emulator_env, function_env) -> str:
    return results_subscription(emulator_env)


def emit(sandbox, event: str, **fields: str) -> dict[str, Any]:
    """Have the sandbox send a token through its hook; what the receiver answered."""
    response = requests.post(
        f"{sandbox.base_url}/_sandbox/risc/events", json={"event": event, **fields}, timeout=30
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert answer["delivered"], answer
    return answer


def list_mailbox(apps, subscriber, results, user_id: str) -> dict[str, Any]:
    assert apps.list_messages.post(**cloud_event({"user_id": user_id})).status_code == 200
    received = pull_until_closed(subscriber, results)
    return next(body for body in received if body["type"] in ("complete", "error"))


def test_tokens_revoked_deletes_the_token_and_asks_for_consent(
    apps, sandbox, subscriber, user, reauth, results
):
    # WHEN Google says the user's tokens were revoked
    answer = emit(sandbox, "tokens-revoked", email=EMAIL)

    # THEN the receiver accepted it, the grant is revoked and its token gone
    assert answer["status"] == 202
    document = user.get().to_dict()
    assert document["status"] == "revoked"
    assert document["status_reason"] == "tokens_revoked"
    assert "refresh_token" not in document
    assert document["access_token"] is None
    assert document["last_security_event"]["type"] == "tokens-revoked"
    assert document["last_security_event"]["jti"] == answer["jti"]
    # AND the pipeline was told once
    [event] = pull_all(subscriber, reauth)
    assert (event["user_id"], event["reason"]) == (user.id, "tokens_revoked")
    # AND the next mailbox request is refused without calling Google
    sandbox.state.reset_calls()
    assert list_mailbox(apps, subscriber, results, user.id)["error"] == "reauth_required"
    assert not [name for name in sandbox.state.call_counts() if name.startswith(("token", "gmail"))]


def test_a_revocation_google_reports_ends_a_disconnect_that_waited_for_it(apps, sandbox, user):
    # GIVEN a disconnect whose revocation failed: a tombstone waits for the retry
    sandbox.state.update_behaviour({"revoke_unavailable": True})
    try:
        response = apps.disconnect.post("/", json={"user_id": user.id})
    finally:
        sandbox.state.update_behaviour({"revoke_unavailable": False})
    assert response.status_code == 202

    # WHEN Google reports the grant revoked after all
    assert emit(sandbox, "tokens-revoked", email=EMAIL)["status"] == 202

    # THEN the tombstone goes: nothing is left to retry
    assert not user.get().exists


@pytest.mark.parametrize("algorithm", ["hash_base64_sha512_sha512", "prefix"])
def test_token_revoked_finds_the_user_by_the_token_identifier(
    apps, sandbox, subscriber, user, reauth, algorithm
):
    answer = emit(sandbox, "token-revoked", email=EMAIL, token_identifier_alg=algorithm)

    assert answer["status"] == 202
    document = user.get().to_dict()
    assert (document["status"], document["status_reason"]) == ("revoked", "token_revoked")
    assert "refresh_token" not in document
    [event] = pull_all(subscriber, reauth)
    assert event["reason"] == "token_revoked"


def test_a_hijacked_account_must_consent_again(apps, sandbox, subscriber, user, reauth, results):
    answer = emit(sandbox, "account-disabled", email=EMAIL, reason="hijacking")

    assert answer["status"] == 202
    document = user.get().to_dict()
    assert (document["status"], document["status_reason"]) == (
        "reauth_required",
        "account_hijacked",
    )
    assert document["access_token"] is None
    assert document["last_security_event"]["reason"] == "hijacking"
    [event] = pull_all(subscriber, reauth)
    assert event["reason"] == "account_hijacked"
    sandbox.state.reset_calls()
    assert list_mailbox(apps, subscriber, results, user.id)["error"] == "reauth_required"
    assert sandbox.state.call_counts().get("token.refresh_token", 0) == 0

    # AND consenting again brings a new token: the old one is never reused
    assert connect(apps, ConsentBrowser(), EMAIL).final.status_code == 200
    assert user.get().to_dict()["status"] == "active"
    assert list_mailbox(apps, subscriber, results, user.id)["type"] == "complete"


def test_a_purged_account_is_forgotten(sandbox, user):
    assert emit(sandbox, "account-purged", email=EMAIL)["status"] == 202

    assert not user.get().exists


@pytest.mark.parametrize(
    "event", ["account-credential-change-required", "sessions-revoked", "account-enabled"]
)
def test_other_events_are_recorded_and_change_nothing_else(
    apps, sandbox, subscriber, user, reauth, results, event
):
    answer = emit(sandbox, event, email=EMAIL)

    assert answer["status"] == 202
    document = user.get().to_dict()
    assert document["status"] == "active"
    assert document["last_security_event"]["type"] == event
    pull_nothing(subscriber, reauth)
    assert list_mailbox(apps, subscriber, results, user.id)["type"] == "complete"


def test_a_verification_event_is_acknowledged(sandbox, receiver):
    answer = emit(sandbox, "verification", state="hello-receiver")

    assert answer["status"] == 202


@pytest.mark.parametrize(
    ("invalid", "err"),
    [
        ("wrong_signature", "invalid_key"),
        ("wrong_issuer", "invalid_issuer"),
        ("wrong_audience", "invalid_audience"),
    ],
)
def test_an_invalid_token_is_refused_and_changes_nothing(
    sandbox, subscriber, user, reauth, invalid, err
):
    before = user.get().to_dict()

    answer = emit(sandbox, "tokens-revoked", email=EMAIL, invalid=invalid)

    assert answer["status"] == 400
    assert answer["body"]["err"] == err
    assert answer["body"]["description"]
    assert user.get().to_dict() == before
    pull_nothing(subscriber, reauth)


def test_a_replayed_token_changes_nothing_more(sandbox, subscriber, user, reauth, firestore_client):
    # GIVEN a credential-change event was received
    first = emit(sandbox, "account-credential-change-required", email=EMAIL)
    recorded = user.get().to_dict()["last_security_event"]
    # AND the user consented again since (so a replay would be visible)
    user.update({"last_security_event": None})

    # WHEN the same token arrives again
    again = requests.post(
        f"{sandbox.base_url}/_sandbox/risc/events", json={"replay": first["jti"]}, timeout=30
    ).json()

    # THEN it is acknowledged and nothing changes
    assert again["status"] == 202
    assert user.get().to_dict()["last_security_event"] is None
    assert recorded["jti"] == first["jti"]
    [marker] = firestore_client.collection("security_events").stream()
    assert marker.to_dict()["expires_at"] > marker.to_dict()["received_at"]


def test_a_body_that_is_no_token_is_a_bad_request(receiver):
    response = requests.post(receiver, data=b"not a token", timeout=10)

    assert response.status_code == 400
    assert response.json()["err"] == "invalid_request"
    assert requests.get(receiver, timeout=10).status_code == 405


def test_the_cli_registers_shows_and_verifies_the_stream(
    sandbox, receiver, function_env, emulator_env, tmp_path
):
    # GIVEN a key of a service account of the project (the console's "Create key")
    key = requests.post(
        f"{sandbox.base_url}/_sandbox/service-accounts",
        json={
            "email": f"risc-admin@{DEFAULT_PROJECT}.iam.gserviceaccount.com",
            "project_id": DEFAULT_PROJECT,
        },
        timeout=10,
    ).json()
    key_file = tmp_path / "risc-admin.json"
    key_file.write_text(json.dumps(key))
    sandbox.state.risc.streams.clear()
    env = {**os.environ, **function_env, "RISC_API_ROOT": sandbox.base_url + "/"}
    signer = ("--credentials", str(key_file))

    # WHEN the operator registers the receiver, shows the stream and asks for verification
    registered = run_cli(env, "risc", "register", "--receiver", receiver, *signer)
    shown = json.loads(run_cli(env, "risc", "status", *signer))
    sandbox.state.reset_calls()
    verified = run_cli(env, "risc", "verify", "--state", "cli-check", *signer)

    # THEN the stream points at the receiver with every event type the receiver acts on
    assert "stream registered" in registered
    assert shown["delivery"]["url"] == receiver
    assert set(shown["events_requested"]) == set(risc.EVENT_TYPES.values())
    assert "cli-check" in verified
    # AND the verification token reached the receiver (which read the configuration to check it)
    assert sandbox.state.call_counts().get("risc.stream.verify") == 1


def test_the_risc_api_refuses_a_token_not_signed_by_the_account(sandbox, receiver):
    response = requests.get(
        f"{sandbox.base_url}/v1beta/stream", headers={"Authorization": "Bearer x.y.z"}, timeout=10
    )
    assert response.status_code == 401


def test_the_operator_sees_grant_age_last_use_expiry_and_last_event(sandbox, user, function_env):
    # GIVEN Google told us the user must change credentials
    emit(sandbox, "account-credential-change-required", email=EMAIL)
    env = {**os.environ, **function_env}

    # WHEN the operator lists the users and shows this one
    header, line = run_cli(env, "list-users").splitlines()
    shown = json.loads(run_cli(env, "show-user", user.id))

    # THEN both say how old the grant is, when it was last used, that it does not expire,
    # and what Google said last
    assert header.split("\t")[3:] == ["age_days", "last_used", "expires", "last_security_event"]
    columns = line.split("\t")
    assert columns[:4] == [user.id, EMAIL, "active", "0"]
    assert columns[4] != "-"
    assert columns[5] == "-"
    assert columns[6].startswith("account-credential-change-required@")
    assert shown["grant"]["age_days"] == 0
    assert shown["grant"]["expires_at"] is None
    assert shown["grant"]["last_security_event"]["type"] == "account-credential-change-required"
    assert "refresh_token_sha512x2" not in shown
    assert shown["refresh_token"] == "stored"


@pytest.mark.parametrize(
    ("event", "fields", "status"),
    [
        ("tokens-revoked", {}, "revoked"),
        ("token-revoked", {"token_identifier_alg": "hash_base64_sha512_sha512"}, "revoked"),
        ("account-disabled", {"reason": "hijacking"}, "reauth_required"),
    ],
)
def test_the_receiver_acts_with_no_token_key_as_deployed(
    sandbox, user, reauth, function_env, monkeypatch, event, fields, status
):
    # GIVEN the receiver with only the secrets it is deployed with: no token key at all, and no
    # client secret (it knows its client by OAUTH_CLIENT_ID, the default RISC audience)
    deployed = as_deployed(function_env, sandbox, "security_events")
    unmounted = {"TOKEN_ENCRYPTION_KEYS", "TOKEN_PUBLIC_KEYS", "OAUTH_CLIENT_SECRETS"}
    assert not unmounted & set(deployed)
    assert deployed["OAUTH_CLIENT_ID"] == sandbox.client_id
    for name in KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in deployed.items():
        monkeypatch.setenv(name, value)
    config.get_settings.cache_clear()
    services.get_services.cache_clear()

    # WHEN Google tells it about the user THEN it acts as it does with every key
    assert emit(sandbox, event, email=EMAIL, **fields)["status"] == 202
    assert user.get().to_dict()["status"] == status


@pytest.mark.parametrize("kind", [security_events.TOKENS_REVOKED, security_events.ACCOUNT_PURGED])
@pytest.mark.parametrize("sub", ["__reserved__", ".", "..", "a/b"])
def test_a_subject_that_cannot_be_a_user_id_names_no_user(
    user, firestore_client, kind: str, sub: str
) -> None:
    # GIVEN an event whose subject is no possible user ID (a name Firestore reserves or refuses)
    details = {
        "subject": {"subject_type": "iss-sub", "iss": "https://accounts.google.com", "sub": sub}
    }
    # WHEN the receiver acts on it THEN it acts on no one, with no database error (which would be
    # a 5xx, and the transmitter's retries)
    security_events.act(services.get_services(), "jti-1", kind, details)
    assert user.get().to_dict()["status"] == "active"
    assert [d.id for d in firestore_client.collection("gmail_credentials").stream()] == [user.id]
