"""Sealing tokens at rest: AES-256-GCM with the user ID as associated data.

A token is sealed before it reaches Firestore and opened only in memory. The associated data
binds each ciphertext to its user and purpose, so a ciphertext copied into another user's
document (or from the refresh-token field into another field) fails to open instead of handing
one user's grant to another. Each sealed value records the ID of the key that sealed it, so a new
primary key can be introduced while older tokens stay readable (NIST SP 800-38D; the envelope
follows the "key ID beside the ciphertext" shape of Tink's keysets).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from functions.config import TOKEN_ENCRYPTION_KEYS
from functions.errors import AppError, ConfigError

NONCE_BYTES = 12
KEY_BYTES = 32
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_CONTEXT = b"gmail-server-side-auth/token/v1"


class TokenUnreadable(AppError):
    """A sealed token cannot be opened: unknown key, tampered, or moved from elsewhere."""

    code = "token_unreadable"


@dataclass(frozen=True)
class Keyring:
    """The keys that seal and open tokens; ``primary`` seals, every key opens."""

    primary: str
    keys: Mapping[str, bytes]

    def __repr__(self) -> str:
        return f"Keyring(primary={self.primary!r}, key_ids={sorted(self.keys)!r})"

    def seal(self, plaintext: str, *, user_id: str, purpose: str) -> dict[str, Any]:
        """Encrypt ``plaintext`` under the primary key, bound to ``user_id`` and ``purpose``."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.keys[self.primary]).encrypt(
            nonce, plaintext.encode("utf-8"), _associated_data(user_id, purpose)
        )
        return {"key_id": self.primary, "ciphertext": nonce + sealed}

    def open(self, sealed: object, *, user_id: str, purpose: str) -> str:
        """Decrypt a value made by :meth:`seal` for the same user and purpose.

        Raises:
            TokenUnreadable: the value is malformed, its key is unknown, or it does not
                authenticate (tampered, or sealed for another user or purpose).
        """
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if not isinstance(sealed, Mapping):
            raise TokenUnreadable("the stored token is not a sealed value")
        key_id, blob = sealed.get("key_id"), sealed.get("ciphertext")
        if not isinstance(key_id, str) or not isinstance(blob, bytes | bytearray):
            raise TokenUnreadable("the stored token is not a sealed value")
        key = self.keys.get(key_id)
        if key is None:
            raise TokenUnreadable(f"the stored token was sealed with unknown key {key_id!r}")
        if len(blob) <= NONCE_BYTES:
            raise TokenUnreadable("the stored token is truncated")
        try:
            plaintext = AESGCM(key).decrypt(
                bytes(blob[:NONCE_BYTES]),
                bytes(blob[NONCE_BYTES:]),
                _associated_data(user_id, purpose),
            )
        except InvalidTag:
            raise TokenUnreadable("the stored token does not authenticate") from None
        return plaintext.decode("utf-8")

    def derive(self, purpose: str) -> Keyring:
        """A keyring of the same IDs whose keys are derived for ``purpose`` (HKDF, RFC 5869).

        Whatever is sealed with it can never be opened as a token, and the reverse, even if
        associated data were ever confused; rotating the token keys rotates these with them.
        """
        from cryptography.hazmat.primitives.hashes import SHA256
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        info = b"\x00".join((_CONTEXT, b"derived", purpose.encode("utf-8")))
        return Keyring(
            primary=self.primary,
            keys={
                key_id: HKDF(algorithm=SHA256(), length=KEY_BYTES, salt=None, info=info).derive(key)
                for key_id, key in self.keys.items()
            },
        )

    def sealed_with_primary(self, sealed: object) -> bool:
        """Whether ``sealed`` is already under the primary key (nothing to re-seal)."""
        return isinstance(sealed, Mapping) and sealed.get("key_id") == self.primary


def parse_keyring(raw: bytes) -> Keyring:
    """Read ``{"primary": id, "keys": {id: base64 of 32 bytes}}``.

    Raises:
        ConfigError: naming ``TOKEN_ENCRYPTION_KEYS`` and what is wrong, never a key.
    """
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ConfigError(f"{TOKEN_ENCRYPTION_KEYS} does not hold JSON.") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), dict):
        raise ConfigError(
            f'{TOKEN_ENCRYPTION_KEYS} must hold {{"primary": "<key id>", '
            '"keys": {"<key id>": "<base64 of 32 bytes>"}}.'
        )
    keys: dict[str, bytes] = {}
    for key_id, encoded in document["keys"].items():
        if not _KEY_ID.match(key_id):
            raise ConfigError(f"{TOKEN_ENCRYPTION_KEYS}: key IDs are 1-64 of A-Z a-z 0-9 . _ -.")
        try:
            key = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else b""
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != KEY_BYTES:
            raise ConfigError(
                f"{TOKEN_ENCRYPTION_KEYS}: key {key_id!r} must be the base64 of {KEY_BYTES} bytes."
            )
        keys[key_id] = key
    primary = document.get("primary")
    if not isinstance(primary, str) or primary not in keys:
        raise ConfigError(f"{TOKEN_ENCRYPTION_KEYS}: 'primary' must name one of its keys.")
    return Keyring(primary=primary, keys=keys)


def _associated_data(user_id: str, purpose: str) -> bytes:
    return b"\x00".join((_CONTEXT, purpose.encode("utf-8"), user_id.encode("utf-8")))
