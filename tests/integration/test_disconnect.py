"""``disconnect``: revoke at the provider, then delete, and say what happened to each."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
import requests

from devstack.consent_browser import ConsentBrowser, query_of
from devstack.ports import free_port
from tests.integration.cli import run_cli
from tests.integration.daily import run_daily_job
from tests.integration.flow import callback, connect, follow
from tests.integration.results import cloud_event, pull_until_closed, results_subscription

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
EMAIL = "rosalind@example.com"


@pytest.fixture
def user(apps, firestore_client):
    assert connect(apps, ConsentBrowser(), EMAIL).final.status_code == 200
    [document] = firestore_client.collection("gmail_credentials").stream()
    return document


def refresh_works(sandbox, refresh_token_value):
    """Whether the provider still honours a refresh token."""
    client = sandbox.client_json.read_text()
    import json

    web = json.loads(client)["web"]
    response = requests.post(
        web["token_uri"],
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token_value,
            "client_id": web["client_id"],
            "client_secret": web["client_secret"],
        },
        timeout=10,
    )
    return response.status_code == 200


def stored_refresh_token(sandbox, user):
    from functions.crypto import parse_token_keys

    keys = parse_token_keys(sandbox.token_keys.read_bytes())
    return keys.open(user.to_dict()["refresh_token"], user_id=user.id, purpose="refresh_token")


def test_disconnect_revokes_once_then_deletes(apps, sandbox, user):
    token = stored_refresh_token(sandbox, user)
    assert refresh_works(sandbox, token)
    sandbox.state.reset_calls()

    response = apps.disconnect.post("/", json={"user_id": user.id})

    assert response.status_code == 200
    assert response.get_json() == {
        "user_id": user.id,
        "found": True,
        "revocation": "revoked",
        "deleted": True,
    }
    assert sandbox.state.call_counts().get("revoke", 0) == 1
    assert not user.reference.get().exists
    assert not refresh_works(sandbox, token)


def test_a_grant_the_user_already_removed_is_still_deleted(apps, sandbox, user):
    sandbox.state.revoke_user(EMAIL)

    response = apps.disconnect.post("/", json={"user_id": user.id})

    assert response.get_json()["revocation"] == "already_invalid"
    assert response.get_json()["deleted"] is True
    assert not user.reference.get().exists


@pytest.fixture
def revocation_down(sandbox):
    """The provider's revocation endpoint answers 503 until the test turns it back on."""
    sandbox.state.update_behaviour({"revoke_unavailable": True})
    yield lambda: sandbox.state.update_behaviour({"revoke_unavailable": False})
    sandbox.state.update_behaviour({"revoke_unavailable": False})


def test_a_failed_revocation_keeps_a_tombstone_nothing_uses(
    apps, sandbox, user, revocation_down, subscriber, emulator_env
):
    token = stored_refresh_token(sandbox, user)
    assert apps.watch.post("/", json={"user_id": user.id}).status_code == 200
    before = user.reference.get().to_dict()

    response = apps.disconnect.post("/", json={"user_id": user.id})

    # THEN the caller is told the truth: accepted, not yet revoked, not deleted
    assert response.status_code == 202
    assert response.get_json() == {
        "user_id": user.id,
        "found": True,
        "revocation": "failed",
        "deleted": False,
    }
    # AND only the sealed token (and its one-way identifiers) is left to retry from
    tombstone = user.reference.get().to_dict()
    assert tombstone["refresh_token"] == before["refresh_token"]
    assert tombstone["status"] == "disconnecting"
    for gone in ("email", "scopes", "watch", "access_token", "created_at", "pipelines"):
        assert gone not in tombstone
    assert refresh_works(sandbox, token)  # the grant still lives at the provider
    # AND nothing reads the mailbox with it: to a pipeline, the user is gone
    assert apps.watch.post("/", json={"user_id": user.id}).status_code == 404
    results = results_subscription(emulator_env)
    assert apps.list_messages.post(**cloud_event({"user_id": user.id})).status_code == 200
    [outcome] = [body for body in pull_until_closed(subscriber, results) if body["type"] == "error"]
    assert outcome["error"] == "not_authorized"


def test_the_daily_job_retries_the_revocation_until_it_succeeds(
    apps, sandbox, user, revocation_down, subscriber, emulator_env
):
    token = stored_refresh_token(sandbox, user)
    assert apps.disconnect.post("/", json={"user_id": user.id}).status_code == 202

    # WHEN the daily job runs while the provider is still down, the tombstone stays
    dispatched, units = run_daily_job(apps, subscriber, emulator_env, run_id="day-1")
    assert dispatched["dispatched"] == 1
    assert [unit["_status"] for unit in units] == [200]
    assert user.reference.get().exists

    # AND once the provider answers, the next day's run revokes, then deletes
    revocation_down()
    run_daily_job(apps, subscriber, emulator_env, run_id="day-2")
    assert not user.reference.get().exists
    assert not refresh_works(sandbox, token)


def test_a_grant_already_invalid_at_the_retry_is_deleted(
    apps, sandbox, user, revocation_down, subscriber, emulator_env
):
    assert apps.disconnect.post("/", json={"user_id": user.id}).status_code == 202
    revocation_down()
    sandbox.state.revoke_user(EMAIL)  # the user removed it in their Google Account meanwhile

    run_daily_job(apps, subscriber, emulator_env)

    assert not user.reference.get().exists


def test_a_second_disconnect_retries_the_revocation(apps, sandbox, user, revocation_down):
    token = stored_refresh_token(sandbox, user)
    assert apps.disconnect.post("/", json={"user_id": user.id}).status_code == 202
    revocation_down()

    response = apps.disconnect.post("/", json={"user_id": user.id})

    assert response.status_code == 200
    assert response.get_json()["revocation"] == "revoked"
    assert response.get_json()["deleted"] is True
    assert not user.reference.get().exists
    assert not refresh_works(sandbox, token)


def test_an_unreachable_revocation_endpoint_keeps_the_tombstone_too(
    apps, user, monkeypatch, sandbox
):
    from functions import config, services

    # GIVEN a revocation endpoint nobody answers
    monkeypatch.setenv("OAUTH_REVOKE_URI", f"http://127.0.0.1:{free_port()}/revoke")
    config.get_settings.cache_clear()
    services.get_services.cache_clear()

    response = apps.disconnect.post("/", json={"user_id": user.id})

    assert response.status_code == 202
    assert response.get_json()["revocation"] == "failed"
    assert response.get_json()["deleted"] is False
    assert user.reference.get().to_dict()["status"] == "disconnecting"


@pytest.mark.parametrize(
    ("method", "kwargs", "status"),
    [
        ("post", {"json": {"user_id": "404404"}}, 404),
        ("get", {}, 405),
        ("post", {"data": "user_id=1"}, 415),
        ("post", {"data": "{", "content_type": "application/json"}, 400),
        ("post", {"json": {"user_id": "1", "extra": True}}, 400),
        ("post", {"json": {"user_id": "../x"}}, 400),
        ("post", {"json": ["1"]}, 400),
        ("post", {"data": "{" + " " * 5000 + "}", "content_type": "application/json"}, 413),
    ],
)
def test_bad_calls_get_a_json_4xx_and_touch_nothing(apps, user, method, kwargs, status):
    response = getattr(apps.disconnect, method)("/", **kwargs)

    assert response.status_code == status
    assert response.is_json
    assert user.reference.get().exists


def test_the_cli_says_when_a_tombstone_waits_for_the_retry(
    apps, sandbox, user, function_env, revocation_down
):
    env = {**os.environ, **function_env}
    output = run_cli(env, "disconnect", user.id, stderr=True, status=1)

    assert '"deleted": false' in output
    assert "retried daily" in output
    assert user.reference.get().to_dict()["status"] == "disconnecting"


def test_the_cli_disconnects_too(apps, sandbox, user, function_env):
    output = run_cli({**os.environ, **function_env}, "disconnect", user.id)

    assert '"revocation": "revoked"' in output
    assert not user.reference.get().exists


def tombstone_of(apps, sandbox, user):
    """Disconnect ``user`` while the provider's revocation is down: their tombstone's token."""
    token = stored_refresh_token(sandbox, user)
    assert apps.disconnect.post("/", json={"user_id": user.id}).status_code == 202
    assert user.reference.get().to_dict()["status"] == "disconnecting"
    return token


def consent_again(apps, email):
    """The user consents again (``authorize`` asks for ``prompt=consent``, so a new refresh
    token comes back); the page the browser ends on."""
    return connect(apps, ConsentBrowser(), email).final


def daily_retry(user_id, token):
    """What the daily job does with a tombstone it read: ``token`` is what it read then."""
    from functions.grants.disconnect import revoke_and_forget
    from functions.services import get_services

    return revoke_and_forget(get_services(), user_id, token)


def on_revocation(then):
    """Run ``then`` as the provider's answer to a revocation reaches the function."""
    from functions.services import get_services

    def hook(response, *args, **kwargs):
        if response.url.endswith("/revoke"):
            then()
        return response

    get_services().http.hooks["response"].append(hook)


def test_a_consent_without_a_refresh_token_does_not_revive_a_tombstone(
    apps, sandbox, user, revocation_down
):
    # GIVEN a tombstone: the user disconnected and the revocation failed
    old = tombstone_of(apps, sandbox, user)
    revocation_down()

    # WHEN the user consents again and no refresh token comes back (RFC 6749 allows it)
    browser = ConsentBrowser()
    sandbox.state.behaviour.omit_refresh_token = True
    try:
        first = connect(apps, browser, EMAIL)
    finally:
        sandbox.state.behaviour.omit_refresh_token = False

    # THEN the token handed over for revocation is not taken back: consent is asked, forced
    assert first.callback.status_code == 302
    assert query_of(first.callback.headers["Location"])["prompt"] == "consent"
    assert user.reference.get().to_dict()["status"] == "disconnecting"

    # AND the forced consent, with a new token, leaves a clean grant
    page = browser.open_consent(first.callback.headers["Location"])
    final = follow(apps, browser, callback(apps, browser, browser.answer(page, email=EMAIL)))
    assert final.status_code == 200
    document = user.reference.get().to_dict()
    assert (document["status"], document["status_reason"]) == ("active", None)
    assert "disconnect_requested_at" not in document
    assert document["pipelines"] == ["default"]
    new = stored_refresh_token(sandbox, user.reference.get())
    assert new != old
    # AND the old token, of the same grant at Google, ends with it at the next disconnect
    assert apps.disconnect.post("/", json={"user_id": user.id}).status_code == 200
    assert not refresh_works(sandbox, old)
    assert not refresh_works(sandbox, new)


def test_the_retry_leaves_a_user_who_consented_again_alone(apps, sandbox, user, revocation_down):
    # GIVEN the daily job read a tombstone, and the user consented again before it acted
    old = tombstone_of(apps, sandbox, user)
    revocation_down()
    assert consent_again(apps, EMAIL).status_code == 200
    sandbox.state.reset_calls()

    # WHEN the retry goes on with what it read
    result = daily_retry(user.id, old)

    # THEN it revokes nothing and deletes nothing: the new grant is the user's latest word
    assert sandbox.state.call_counts().get("revoke", 0) == 0
    assert result.deleted is False
    document = user.reference.get().to_dict()
    assert document["status"] == "active"
    assert refresh_works(sandbox, stored_refresh_token(sandbox, user.reference.get()))


def test_a_consent_during_the_retrys_revocation_survives_it(apps, sandbox, user, revocation_down):
    # GIVEN a tombstone the daily job retries once the provider answers
    old = tombstone_of(apps, sandbox, user)
    revocation_down()

    # WHEN the user consents again while the revocation is on its way back
    on_revocation(lambda: consent_again(apps, EMAIL))
    result = daily_retry(user.id, old)

    # THEN the old grant is revoked, and the user's new one is kept, not deleted
    assert result.revocation.value == "revoked"
    assert not refresh_works(sandbox, old)
    document = user.reference.get()
    assert document.exists
    assert document.to_dict()["status"] == "active"
    assert refresh_works(sandbox, stored_refresh_token(sandbox, document))


def test_a_consent_during_a_failed_retry_is_not_made_a_tombstone(
    apps, sandbox, user, revocation_down
):
    # GIVEN a tombstone, and a provider still down
    old = tombstone_of(apps, sandbox, user)

    # WHEN the user consents again while the retry's revocation fails
    def consent_with_revocation_up():
        revocation_down()
        consent_again(apps, EMAIL)
        sandbox.state.update_behaviour({"revoke_unavailable": True})

    on_revocation(consent_with_revocation_up)
    result = daily_retry(user.id, old)

    # THEN the new grant stays active: its token is not handed over for revocation
    assert result.revocation.value == "failed"
    document = user.reference.get().to_dict()
    assert document["status"] == "active"
    assert "disconnect_requested_at" not in document


def store_refresh_token(user, value):
    """Put ``value`` where the sealed refresh token was (an older document's shape)."""
    user.reference.update(
        {"refresh_token": value, "access_token": None, "access_token_expires_at": None}
    )


def test_a_token_stored_in_plain_text_is_revoked_before_the_document_goes(apps, sandbox, user):
    # GIVEN a grant stored before tokens were sealed, and not yet re-sealed
    token = stored_refresh_token(sandbox, user)
    store_refresh_token(user, token)

    response = apps.disconnect.post("/", json={"user_id": user.id})

    # THEN it was revoked through the reading `reseal` uses, then deleted
    assert response.status_code == 200
    assert response.get_json()["revocation"] == "revoked"
    assert not user.reference.get().exists
    assert not refresh_works(sandbox, token)


def test_a_token_no_key_opens_keeps_a_tombstone_until_reseal(apps, sandbox, user, caplog):
    from functions.crypto import Keyring

    # GIVEN a token sealed with a legacy AES key this deployment no longer lists
    token = stored_refresh_token(sandbox, user)
    lost = Keyring(primary="aes-0", keys={"aes-0": secrets.token_bytes(32)})
    store_refresh_token(user, lost.seal(token, user_id=user.id, purpose="refresh_token"))

    response = apps.disconnect.post("/", json={"user_id": user.id})

    # THEN nothing could revoke it, so the tombstone stays, and the operator is told why
    assert response.status_code == 202
    assert response.get_json()["deleted"] is False
    assert user.reference.get().to_dict()["status"] == "disconnecting"
    assert "reseal" in caplog.text
    # AND the daily retry, which cannot read it either, keeps it too
    assert daily_retry(user.id, None).deleted is False
    assert user.reference.get().exists
    assert refresh_works(sandbox, token)
