"""Refresh tokens at rest in the Firestore emulator: sealed to a public key, bound to their user,
opened only by the internal functions, rotatable, and migrated from older forms by ``reseal``."""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

import pytest

from devstack.consent_browser import ConsentBrowser
from devstack.token_keys import write_public_keys
from functions.config import load_settings
from functions.crypto import (
    Keyring,
    TokenUnreadable,
    parse_keyring,
    parse_token_keys,
    with_new_token_key,
)
from functions.errors import ConfigError
from functions.services import Services
from tests.integration.cli import run_cli
from tests.integration.conftest import KEY_VARIABLES, as_deployed
from tests.integration.flow import callback, connect, follow, start
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


def test_the_callback_as_deployed_stores_a_token_it_cannot_open(
    apps, firestore_client, sandbox, function_env, monkeypatch
):
    # GIVEN authorize and oauth2callback running with only the secrets the callback mounts
    callback_env = as_deployed(function_env, sandbox, "oauth2callback")
    assert "TOKEN_ENCRYPTION_KEYS" not in callback_env
    for name in KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in callback_env.items():
        monkeypatch.setenv(name, value)
    _new_instance()

    # WHEN a person connects through them
    user = connected(apps, firestore_client, "una@example.com")
    sealed = user.to_dict()["refresh_token"]

    # THEN the callback's services read the grant but cannot open its token
    services = Services(load_settings(callback_env), firestore_client=firestore_client)
    described = services.token_store.describe(user.id)
    assert described is not None
    assert described.has_refresh_token
    assert described.refresh_token is None
    with pytest.raises(ConfigError, match="TOKEN_ENCRYPTION_KEYS"):
        services.token_store.get(user.id)
    # AND no file it mounts holds a key that opens it
    for name in KEY_VARIABLES & set(callback_env):
        raw = Path(callback_env[name]).read_bytes()
        with pytest.raises(ConfigError):
            parse_token_keys(raw)
    with pytest.raises(TokenUnreadable):
        services.cookie_keys.open(sealed, user_id=user.id, purpose="refresh_token")

    # AND list_messages, as deployed, opens what the callback sealed
    reader_env = as_deployed(function_env, sandbox, "list_messages")
    reader = Services(load_settings(reader_env), firestore_client=firestore_client)
    stored = reader.token_store.get(user.id)
    assert stored is not None
    assert stored.refresh_token in sandbox.state.issued_tokens()


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
    una = connected(apps, firestore_client, "una@example.com")
    old_key_id = una.to_dict()["refresh_token"]["key_id"]

    # GIVEN a new private key made primary, and its public key published
    rotated = tmp_path / "rotated-keys.json"
    rotated.write_text(with_new_token_key(sandbox.token_keys.read_bytes(), "next", primary=True))
    public = write_public_keys(rotated, tmp_path / "rotated-public-keys.json")
    monkeypatch.setenv("TOKEN_ENCRYPTION_KEYS", str(rotated))
    monkeypatch.setenv("TOKEN_PUBLIC_KEYS", str(public))
    _new_instance()

    # THEN the old token still works, and a new consent is sealed to the new key
    results = results_subscription(emulator_env)
    apps.list_messages.post(**cloud_event({"user_id": una.id, "max_messages": 5}))
    assert "complete" in [b["type"] for b in pull_until_closed(subscriber, results)]
    ivo = connected(apps, firestore_client, "ivo@example.com")
    assert ivo.to_dict()["refresh_token"]["key_id"] == "next"

    # WHEN the operator re-seals THEN every document is under the new key
    env = {**os.environ, "TOKEN_ENCRYPTION_KEYS": str(rotated), "TOKEN_PUBLIC_KEYS": str(public)}
    assert "resealed 1, already under the primary key 1," in run_cli(env, "reseal")
    assert "resealed 0, already under the primary key 2," in run_cli(env, "reseal")
    assert una.reference.get().to_dict()["refresh_token"]["key_id"] == "next" != old_key_id

    # AND the old key can be retired, from the private and the public keys alike
    document = json.loads(rotated.read_text())
    del document["private_keys"][old_key_id]
    rotated.write_text(json.dumps(document))
    write_public_keys(rotated, public)
    assert old_key_id not in json.loads(public.read_text())["public_keys"]
    _new_instance()
    for user in (una, ivo):
        apps.list_messages.post(**cloud_event({"user_id": user.id, "max_messages": 5}))
        assert "complete" in [b["type"] for b in pull_until_closed(subscriber, results)]


def test_plain_text_and_legacy_tokens_are_refused_until_reseal_migrates_them(
    apps, firestore_client, sandbox, monkeypatch, tmp_path, subscriber, emulator_env
):
    una = connected(apps, firestore_client, "una@example.com")
    ivo = connected(apps, firestore_client, "ivo@example.com")
    keys = parse_token_keys(sandbox.token_keys.read_bytes())
    token = {
        doc.id: keys.open(doc.to_dict()["refresh_token"], user_id=doc.id, purpose="refresh_token")
        for doc in (una, ivo)
    }
    # GIVEN Una's token stored in plain text, as before tokens were sealed, and Ivo's sealed
    # with an AES key of before HPKE, kept in TOKEN_ENCRYPTION_KEYS as a legacy key
    legacy_key = secrets.token_bytes(32)
    legacy = Keyring(primary="aes-1", keys={"aes-1": legacy_key})
    no_cache = {"access_token": None, "access_token_expires_at": None}
    una.reference.update({"refresh_token": token[una.id], **no_cache})
    sealed = legacy.seal(token[ivo.id], user_id=ivo.id, purpose="refresh_token")
    ivo.reference.update({"refresh_token": sealed, **no_cache})
    document = json.loads(sandbox.token_keys.read_text())
    document["legacy_keys"] = {"aes-1": base64.b64encode(legacy_key).decode()}
    with_legacy = tmp_path / "keys-with-legacy.json"
    with_legacy.write_text(json.dumps(document))
    monkeypatch.setenv("TOKEN_ENCRYPTION_KEYS", str(with_legacy))
    _new_instance()

    # WHEN a pipeline reads either mailbox THEN neither value is used
    results = results_subscription(emulator_env)
    for user in (una, ivo):
        apps.list_messages.post(**cloud_event({"user_id": user.id}))
        [error] = pull_until_closed(subscriber, results)
        assert error["error"] == "token_unreadable"

    # WHEN the operator re-seals THEN both are migrated, counted, and read again
    env = {**os.environ, "TOKEN_ENCRYPTION_KEYS": str(with_legacy)}
    report = run_cli(env, "reseal")
    assert "resealed 2," in report
    assert "plain text 1, legacy key 1" in report
    for user in (una, ivo):
        assert user.reference.get().to_dict()["refresh_token"]["key_id"] == keys.primary
        apps.list_messages.post(**cloud_event({"user_id": user.id, "max_messages": 5}))
        assert "complete" in [b["type"] for b in pull_until_closed(subscriber, results)]


def test_cookie_key_rotation_keeps_consents_in_flight_while_the_old_key_is_listed(
    apps, firestore_client, sandbox, monkeypatch, tmp_path
):
    # GIVEN two consents started under the current cookie key
    una, ivo = ConsentBrowser(), ConsentBrowser()
    una_url = start(apps, una, login_hint="una@example.com").headers["Location"]
    ivo_url = start(apps, ivo, login_hint="ivo@example.com").headers["Location"]
    old = parse_keyring(sandbox.cookie_keys.read_bytes())

    # WHEN a new cookie key becomes primary, the old one still listed
    document = json.loads(sandbox.cookie_keys.read_text())
    document["keys"]["next"] = base64.b64encode(secrets.token_bytes(32)).decode()
    document["primary"] = "next"
    rotated = tmp_path / "cookie-keys.json"
    rotated.write_text(json.dumps(document))
    monkeypatch.setenv("COOKIE_KEYS", str(rotated))
    _new_instance()

    # THEN the consent in flight completes
    assert _finish(apps, una, una_url, "una@example.com").status_code == 200

    # AND once the old key is dropped, a flow sealed under it no longer opens
    del document["keys"][old.primary]
    rotated.write_text(json.dumps(document))
    _new_instance()
    assert _finish(apps, ivo, ivo_url, "ivo@example.com").status_code == 400


def _finish(apps, browser, consent_url, email):
    """Consent at the provider and call back; the page the browser lands on."""
    location = browser.answer(browser.open_consent(consent_url), email=email)
    return follow(apps, browser, callback(apps, browser, location))


def _new_instance():
    """What a new function instance would do: read its configuration and keys afresh."""
    from functions import config, services

    config.get_settings.cache_clear()
    services.get_services.cache_clear()
