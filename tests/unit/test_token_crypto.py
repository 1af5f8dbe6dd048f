"""Tokens are sealed to a public key (HPKE), bound to their user and purpose, under rotatable
keys; only the private keys open them, and only sealed values open. Cookies use AES-256-GCM."""

from __future__ import annotations

import base64
import json

import pytest

from functions.crypto import (
    HPKE_ALG,
    Keyring,
    TokenUnreadable,
    parse_keyring,
    parse_token_keys,
    parse_token_public_keys,
    with_new_token_key,
)
from functions.errors import ConfigError

K1, K2 = bytes(range(32)), bytes(range(1, 33))
TOKEN = "1//0refresh-token-value"


def keyring(primary: str = "k1", **keys: bytes) -> Keyring:
    return Keyring(primary=primary, keys=keys or {"k1": K1})


KEYS_DOCUMENT = with_new_token_key(None, "tk-1", primary=True).encode()
KEYS = parse_token_keys(KEYS_DOCUMENT)


def test_a_sealed_token_opens_for_its_own_user_and_purpose_only():
    sealed = KEYS.public.seal(TOKEN, user_id="111", purpose="refresh_token")

    assert TOKEN.encode() not in sealed["ciphertext"]
    assert sealed["alg"] == HPKE_ALG
    assert sealed["key_id"] == "tk-1"
    assert KEYS.open(sealed, user_id="111", purpose="refresh_token") == TOKEN
    with pytest.raises(TokenUnreadable):
        KEYS.open(sealed, user_id="222", purpose="refresh_token")
    with pytest.raises(TokenUnreadable):
        KEYS.open(sealed, user_id="111", purpose="access_token")


def test_the_public_keyring_seals_but_has_no_way_to_open():
    # GIVEN only what TOKEN_PUBLIC_KEYS holds, as the callback reads it
    public = parse_token_public_keys(KEYS.public.as_json().encode())
    sealed = public.seal(TOKEN, user_id="1", purpose="refresh_token")

    # THEN the private keys open what it sealed, and it has no method, no key that would
    assert KEYS.open(sealed, user_id="1", purpose="refresh_token") == TOKEN
    assert not hasattr(public, "open")
    assert "private" not in KEYS.public.as_json()
    with pytest.raises(ConfigError):  # the public document is no private keyring either
        parse_token_keys(KEYS.public.as_json().encode())


def test_sealing_twice_gives_different_ciphertexts():
    first = KEYS.seal(TOKEN, user_id="1", purpose="p")
    second = KEYS.seal(TOKEN, user_id="1", purpose="p")

    assert first["ciphertext"] != second["ciphertext"]


def test_a_tampered_ciphertext_does_not_open():
    sealed = KEYS.seal(TOKEN, user_id="1", purpose="p")
    flipped = bytearray(sealed["ciphertext"])
    flipped[-1] ^= 1

    with pytest.raises(TokenUnreadable):
        KEYS.open({**sealed, "ciphertext": bytes(flipped)}, user_id="1", purpose="p")


def test_a_new_primary_key_keeps_old_tokens_readable_until_it_is_dropped():
    old = KEYS.seal(TOKEN, user_id="1", purpose="p")
    document = json.loads(with_new_token_key(KEYS_DOCUMENT, "tk-2", primary=True))
    rotated = parse_token_keys(json.dumps(document).encode())

    assert rotated.open(old, user_id="1", purpose="p") == TOKEN
    assert not rotated.sealed_with_primary(old)
    new = rotated.seal(TOKEN, user_id="1", purpose="p")
    assert new["key_id"] == "tk-2"
    assert rotated.sealed_with_primary(new)
    del document["private_keys"]["tk-1"]
    retired = parse_token_keys(json.dumps(document).encode())
    with pytest.raises(TokenUnreadable, match="unknown key"):
        retired.open(old, user_id="1", purpose="p")


def test_a_key_added_without_primary_waits_its_turn():
    rotated = parse_token_keys(with_new_token_key(KEYS_DOCUMENT, "tk-2", primary=False).encode())

    assert rotated.primary == "tk-1"
    assert set(rotated.private_keys) == {"tk-1", "tk-2"}
    assert set(rotated.public.public_keys) == {"tk-1", "tk-2"}


@pytest.mark.parametrize(
    "stored",
    [
        TOKEN,  # plain text, as stored before tokens were sealed
        None,
        {},
        {"key_id": "tk-1", "ciphertext": b"short"},
        {"alg": HPKE_ALG, "key_id": "tk-1"},
    ],
)
def test_only_sealed_tokens_open(stored):
    with pytest.raises(TokenUnreadable):
        KEYS.open(stored, user_id="1", purpose="p")


def test_a_legacy_aes_value_opens_only_to_be_resealed():
    # GIVEN the AES keyring of before HPKE, migrated: its key kept as a legacy key
    legacy = keyring().seal(TOKEN, user_id="1", purpose="refresh_token")
    old_document = json.dumps({"primary": "k1", "keys": {"k1": encoded(K1)}})
    migrated = parse_token_keys(
        with_new_token_key(old_document.encode(), "tk-1", primary=False).encode()
    )

    assert migrated.primary == "tk-1"  # the first token key seals from now on
    with pytest.raises(TokenUnreadable):
        migrated.open(legacy, user_id="1", purpose="refresh_token")
    assert migrated.open_to_reseal(legacy, user_id="1", purpose="refresh_token") == TOKEN
    assert migrated.open_to_reseal(TOKEN, user_id="1", purpose="refresh_token") == TOKEN
    with pytest.raises(TokenUnreadable):
        migrated.open_to_reseal(legacy, user_id="2", purpose="refresh_token")


def test_the_old_format_is_refused_with_the_way_out():
    old_document = json.dumps({"primary": "k1", "keys": {"k1": encoded(K1)}}).encode()

    with pytest.raises(ConfigError, match="token-keys add"):
        parse_token_keys(old_document)


def test_the_aes_keyring_seals_and_opens_cookies_bound_to_their_name():
    sealed = keyring().seal("{}", user_id="cookie-a", purpose="flow")

    assert keyring().open(sealed, user_id="cookie-a", purpose="flow") == "{}"
    with pytest.raises(TokenUnreadable):
        keyring().open(sealed, user_id="cookie-b", purpose="flow")
    rotated = keyring("k2", k1=K1, k2=K2)
    assert rotated.open(sealed, user_id="cookie-a", purpose="flow") == "{}"
    with pytest.raises(TokenUnreadable, match="unknown key"):
        keyring("k2", k2=K2).open(sealed, user_id="cookie-a", purpose="flow")


def encoded(key: bytes) -> str:
    return base64.b64encode(key).decode()


def test_the_cookie_key_file_format_of_the_design_is_read():
    raw = json.dumps({"primary": "k2", "keys": {"k1": encoded(K1), "k2": encoded(K2)}})

    assert parse_keyring(raw.encode()) == Keyring(primary="k2", keys={"k1": K1, "k2": K2})


@pytest.mark.parametrize(
    "document",
    [
        b"not json",
        b"[]",
        json.dumps({"primary": "k1"}).encode(),
        json.dumps({"primary": "k9", "keys": {"k1": encoded(K1)}}).encode(),
        json.dumps({"primary": "k1", "keys": {"k1": encoded(b"short")}}).encode(),
        json.dumps({"primary": "k1", "keys": {"k1": "***"}}).encode(),
        json.dumps({"primary": "k 1", "keys": {"k 1": encoded(K1)}}).encode(),
    ],
)
def test_a_malformed_key_file_names_the_variable_and_never_a_key(document):
    with pytest.raises(ConfigError, match=r"^COOKIE_KEYS") as caught:
        parse_keyring(document)
    assert encoded(K1) not in str(caught.value)
    with pytest.raises(ConfigError, match=r"^TOKEN_ENCRYPTION_KEYS") as caught:
        parse_token_keys(document.replace(b'"keys"', b'"private_keys"'))
    assert encoded(K1) not in str(caught.value)
