"""Tokens are sealed with AES-256-GCM, bound to their user and purpose, under a rotatable key."""

from __future__ import annotations

import base64
import json

import pytest

from functions.crypto import Keyring, TokenUnreadable, parse_keyring
from functions.errors import ConfigError

K1, K2 = bytes(range(32)), bytes(range(1, 33))
TOKEN = "1//0refresh-token-value"


def keyring(primary: str = "k1", **keys: bytes) -> Keyring:
    return Keyring(primary=primary, keys=keys or {"k1": K1})


def test_a_sealed_token_opens_for_its_own_user_only():
    sealed = keyring().seal(TOKEN, user_id="111", purpose="refresh_token")

    assert TOKEN.encode() not in sealed["ciphertext"]
    assert sealed["key_id"] == "k1"
    assert keyring().open(sealed, user_id="111", purpose="refresh_token") == TOKEN
    with pytest.raises(TokenUnreadable):
        keyring().open(sealed, user_id="222", purpose="refresh_token")
    with pytest.raises(TokenUnreadable):
        keyring().open(sealed, user_id="111", purpose="access_token")


def test_sealing_twice_gives_different_ciphertexts():
    first = keyring().seal(TOKEN, user_id="1", purpose="p")
    second = keyring().seal(TOKEN, user_id="1", purpose="p")

    assert first["ciphertext"] != second["ciphertext"]


def test_a_tampered_ciphertext_does_not_open():
    sealed = keyring().seal(TOKEN, user_id="1", purpose="p")
    flipped = bytearray(sealed["ciphertext"])
    flipped[-1] ^= 1

    with pytest.raises(TokenUnreadable):
        keyring().open({**sealed, "ciphertext": bytes(flipped)}, user_id="1", purpose="p")


def test_a_new_primary_key_keeps_old_tokens_readable():
    old = keyring().seal(TOKEN, user_id="1", purpose="p")
    rotated = keyring("k2", k1=K1, k2=K2)

    assert rotated.open(old, user_id="1", purpose="p") == TOKEN
    assert not rotated.sealed_with_primary(old)
    assert rotated.seal(TOKEN, user_id="1", purpose="p")["key_id"] == "k2"
    with pytest.raises(TokenUnreadable, match="unknown key"):
        keyring("k2", k2=K2).open(old, user_id="1", purpose="p")


@pytest.mark.parametrize(
    "sealed", [None, "plain", {}, {"key_id": "k1"}, {"key_id": "k1", "ciphertext": b"short"}]
)
def test_malformed_sealed_values_do_not_open(sealed):
    with pytest.raises(TokenUnreadable):
        keyring().open(sealed, user_id="1", purpose="p")


def encoded(key: bytes) -> str:
    return base64.b64encode(key).decode()


def test_the_key_file_format_of_the_design_is_read():
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
    with pytest.raises(ConfigError, match=r"^TOKEN_ENCRYPTION_KEYS") as caught:
        parse_keyring(document)

    assert encoded(K1) not in str(caught.value)


def test_derived_keys_are_separate_from_the_token_keys_and_from_each_other():
    rotated = keyring("k2", k1=K1, k2=K2)
    cookies, other = rotated.derive("browser-cookies"), rotated.derive("something-else")

    assert cookies.primary == "k2"
    assert set(cookies.keys) == {"k1", "k2"}
    assert not set(cookies.keys.values()) & set(rotated.keys.values())
    assert not set(cookies.keys.values()) & set(other.keys.values())
    assert rotated.derive("browser-cookies").keys == cookies.keys  # deterministic
    sealed = cookies.seal(TOKEN, user_id="1", purpose="p")
    assert cookies.open(sealed, user_id="1", purpose="p") == TOKEN
    for wrong in (rotated, other):
        with pytest.raises(TokenUnreadable):
            wrong.open(sealed, user_id="1", purpose="p")
