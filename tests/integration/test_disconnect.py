"""``disconnect``: revoke at the provider, then delete, and say what happened to each."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests

from devstack.consent_browser import ConsentBrowser
from devstack.ports import free_port
from tests.integration.cli import run_cli
from tests.integration.flow import connect
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
    apps, sandbox, user, revocation_down
):
    token = stored_refresh_token(sandbox, user)
    assert apps.disconnect.post("/", json={"user_id": user.id}).status_code == 202

    # WHEN the daily job runs while the provider is still down, the tombstone stays
    response = apps.renew_watches.post("/")
    assert response.status_code == 200
    assert response.get_json()["grants"]["disconnect_pending"] == 1
    assert user.reference.get().exists

    # AND once the provider answers, it revokes, then deletes
    revocation_down()
    response = apps.renew_watches.post("/")
    assert response.get_json()["grants"]["disconnected"] == 1
    assert response.get_json()["grants"]["disconnect_pending"] == 0
    assert not user.reference.get().exists
    assert not refresh_works(sandbox, token)


def test_a_grant_already_invalid_at_the_retry_is_deleted(apps, sandbox, user, revocation_down):
    assert apps.disconnect.post("/", json={"user_id": user.id}).status_code == 202
    revocation_down()
    sandbox.state.revoke_user(EMAIL)  # the user removed it in their Google Account meanwhile

    response = apps.renew_watches.post("/")

    assert response.get_json()["grants"]["disconnected"] == 1
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
