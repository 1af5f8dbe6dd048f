"""Refresh tokens at rest in the Firestore emulator: sealed, bound to their user, rotatable."""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

import pytest

from devstack.consent_browser import ConsentBrowser
from tests.integration.cli import run_cli
from tests.integration.flow import connect
from tests.integration.results import cloud_event, pull_until_closed, results_subscription

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def connected(apps, firestore_client, email):
    assert connect(apps, ConsentBrowser(), email).final.status_code == 200
    [doc] = [
        d
        for d in firestore_client.collection("gmail_credentials").stream()
        if d.to_dict()["email"] == email
    ]
    return doc


def test_no_document_holds_a_readable_token(apps, firestore_client, sandbox):
    connected(apps, firestore_client, "una@example.com")
    connected(apps, firestore_client, "ivo@example.com")

    issued = [t for t in sandbox.state.issued_tokens() if t.startswith("sbx-rt-")]
    assert len(issued) >= 2
    for doc in firestore_client.collection("gmail_credentials").stream():
        stored = repr(doc.to_dict())
        assert not any(token in stored for token in issued)
        assert "sbx-" not in stored


def test_a_ciphertext_moved_to_another_user_does_not_open(
    apps, firestore_client, emulator_env, subscriber
):
    una = connected(apps, firestore_client, "una@example.com")
    ivo = connected(apps, firestore_client, "ivo@example.com")

    # GIVEN someone with database access copies Una's sealed token into Ivo's document
    ivo.reference.update({"refresh_token": una.to_dict()["refresh_token"]})
    results = results_subscription(emulator_env)

    # WHEN a pipeline reads Ivo's mailbox THEN the token does not open: reported, not retried
    response = apps.list_messages.post(**cloud_event({"user_id": ivo.id}))

    assert response.status_code == 200
    [error] = pull_until_closed(subscriber, results)
    assert error["error"] == "token_unreadable"


def test_rotation_keeps_old_tokens_readable_and_reseal_moves_them(
    apps, firestore_client, sandbox, function_env, monkeypatch, tmp_path, subscriber, emulator_env
):
    user = connected(apps, firestore_client, "una@example.com")
    old_key_id = user.to_dict()["refresh_token"]["key_id"]

    # GIVEN a new primary key beside the old one
    keys = json.loads(sandbox.token_keys.read_text())
    keys["keys"]["next"] = base64.b64encode(secrets.token_bytes(32)).decode()
    keys["primary"] = "next"
    rotated = tmp_path / "rotated-keys.json"
    rotated.write_text(json.dumps(keys))
    monkeypatch.setenv("TOKEN_ENCRYPTION_KEYS", str(rotated))
    rotated_apps = _reloaded_apps()

    # THEN the old token still works
    results = results_subscription(emulator_env)
    rotated_apps.list_messages.post(**cloud_event({"user_id": user.id, "max_messages": 5}))
    assert "complete" in [b["type"] for b in pull_until_closed(subscriber, results)]

    # WHEN the operator re-seals THEN every document is under the new key
    env = {**os.environ, **function_env, "TOKEN_ENCRYPTION_KEYS": str(rotated)}
    first = run_cli(env, "reseal")
    assert "resealed 1," in first
    assert "resealed 0, already under the primary key 1" in run_cli(env, "reseal")
    sealed = user.reference.get().to_dict()["refresh_token"]
    assert sealed["key_id"] == "next" != old_key_id

    # AND the old key can be retired
    del keys["keys"][old_key_id]
    rotated.write_text(json.dumps(keys))
    retired_apps = _reloaded_apps()
    retired_apps.list_messages.post(**cloud_event({"user_id": user.id, "max_messages": 5}))
    assert "complete" in [b["type"] for b in pull_until_closed(subscriber, results)]


def _reloaded_apps():
    """A new instance: configuration and keys read afresh."""
    import functions_framework

    from functions import config, services

    config.get_settings.cache_clear()
    services.get_services.cache_clear()

    class Apps:
        list_messages = functions_framework.create_app(
            "list_messages", str(REPO / "main.py"), "cloudevent"
        ).test_client()

    return Apps
