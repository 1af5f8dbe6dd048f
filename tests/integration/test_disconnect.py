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


def test_the_document_is_deleted_even_when_revocation_fails(apps, user, monkeypatch, sandbox):
    from functions import config, services

    # GIVEN a revocation endpoint nobody answers
    monkeypatch.setenv("OAUTH_REVOKE_URI", f"http://127.0.0.1:{free_port()}/revoke")
    config.get_settings.cache_clear()
    services.get_services.cache_clear()

    response = apps.disconnect.post("/", json={"user_id": user.id})

    assert response.status_code == 200
    assert response.get_json()["revocation"] == "failed"
    assert response.get_json()["deleted"] is True
    assert not user.reference.get().exists


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


def test_the_cli_disconnects_too(apps, sandbox, user, function_env):
    output = run_cli({**os.environ, **function_env}, "disconnect", user.id)

    assert '"revocation": "revoked"' in output
    assert not user.reference.get().exists
