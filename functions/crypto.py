"""Sealing secrets at rest: tokens to a public key (HPKE), browser cookies with a shared key.

Tokens are sealed with hybrid public-key encryption (RFC 9180 HPKE, base mode:
DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM). Whoever holds only the public keys
(``TOKEN_PUBLIC_KEYS``: the callback that stores new grants) can seal but never open, so a
file-read bug in a public function exposes no stored token; only the internal functions and the
operator's CLI hold the private keys (``TOKEN_ENCRYPTION_KEYS``). HPKE's ``info`` binds each
ciphertext to its user and purpose, so a ciphertext copied into another user's document (or from
the refresh-token field into another field) fails to open instead of handing one user's grant to
another. Each sealed value records the algorithm and the ID of the key that sealed it, so a new
primary key can be introduced while older tokens stay readable (the envelope follows the "key ID
beside the ciphertext" shape of Tink's keysets).

Values sealed before HPKE (AES-256-GCM under a shared key) and tokens stored in plain text are
never used: only ``reseal`` (:meth:`TokenKeys.open_to_reseal`) reads them, to seal them again.

Cookies are sealed with :class:`Keyring`, AES-256-GCM under ``COOKIE_KEYS``: the function that
seals a flow cookie (``authorize``) is the one that must not be able to read tokens, and the one
that opens it (``oauth2callback``) the same, so a symmetric key of their own is right there.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from functions.config import COOKIE_KEYS, TOKEN_ENCRYPTION_KEYS, TOKEN_PUBLIC_KEYS
from functions.errors import AppError, ConfigError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives import hpke
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

NONCE_BYTES = 12
KEY_BYTES = 32
HPKE_ALG = "hpke-x25519-hkdf-sha256-aes-256-gcm"
"""The ``alg`` of a sealed token: RFC 9180 base mode with this KEM, KDF and AEAD."""
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_CONTEXT = b"gmail-server-side-auth/token/v1"
_SEALED_SHAPE = "the stored token is not a sealed value"


class TokenUnreadable(AppError):
    """A sealed token cannot be opened: unknown key, tampered, moved from elsewhere, not sealed."""

    code = "token_unreadable"


@dataclass(frozen=True)
class Keyring:
    """AES-256-GCM keys (``COOKIE_KEYS``; legacy token keys): ``primary`` seals, every key opens."""

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

        key_id, blob = _envelope(sealed)
        key = self.keys.get(key_id)
        if key is None:
            raise TokenUnreadable(f"the stored token was sealed with unknown key {key_id!r}")
        if len(blob) <= NONCE_BYTES:
            raise TokenUnreadable("the stored token is truncated")
        try:
            plaintext = AESGCM(key).decrypt(
                blob[:NONCE_BYTES], blob[NONCE_BYTES:], _associated_data(user_id, purpose)
            )
        except InvalidTag:
            raise TokenUnreadable("the stored token does not authenticate") from None
        return plaintext.decode("utf-8")


@dataclass(frozen=True)
class TokenSealer:
    """The public token keys (``TOKEN_PUBLIC_KEYS``): seal under ``primary``, open nothing."""

    primary: str
    public_keys: Mapping[str, X25519PublicKey]

    def __repr__(self) -> str:
        return f"TokenSealer(primary={self.primary!r}, key_ids={sorted(self.public_keys)!r})"

    def seal(self, plaintext: str, *, user_id: str, purpose: str) -> dict[str, Any]:
        """Seal ``plaintext`` to the primary public key, bound to ``user_id`` and ``purpose``."""
        ciphertext = _suite().encrypt(
            plaintext.encode("utf-8"),
            self.public_keys[self.primary],
            info=_associated_data(user_id, purpose),
        )
        return {"alg": HPKE_ALG, "key_id": self.primary, "ciphertext": ciphertext}

    def sealed_with_primary(self, sealed: object) -> bool:
        """Whether ``sealed`` is already sealed to the primary key (nothing to re-seal)."""
        return (
            is_sealed_token(sealed)
            and isinstance(sealed, Mapping)
            and sealed.get("key_id") == self.primary
        )

    def as_json(self) -> str:
        """The ``TOKEN_PUBLIC_KEYS`` document: what the callback's secret holds."""
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        keys = {
            key_id: _b64(key.public_bytes(Encoding.Raw, PublicFormat.Raw))
            for key_id, key in sorted(self.public_keys.items())
        }
        return json.dumps({"primary": self.primary, "public_keys": keys}, indent=2)


@dataclass(frozen=True)
class TokenKeys:
    """The private token keys (``TOKEN_ENCRYPTION_KEYS``): every key opens, ``primary`` seals.

    ``legacy`` holds the AES keys of values sealed before HPKE; only ``reseal`` uses them.
    """

    primary: str
    private_keys: Mapping[str, X25519PrivateKey]
    legacy: Keyring | None = None

    def __repr__(self) -> str:
        legacy = sorted(self.legacy.keys) if self.legacy else []
        return (
            f"TokenKeys(primary={self.primary!r}, key_ids={sorted(self.private_keys)!r}, "
            f"legacy_key_ids={legacy!r})"
        )

    @property
    def key_ids(self) -> list[str]:
        """Every key ID held (logged during a rotation, never a key)."""
        return sorted({*self.private_keys, *(self.legacy.keys if self.legacy else ())})

    @functools.cached_property
    def public(self) -> TokenSealer:
        """The public keys of these private keys: what ``TOKEN_PUBLIC_KEYS`` should hold."""
        return TokenSealer(
            primary=self.primary,
            public_keys={key_id: key.public_key() for key_id, key in self.private_keys.items()},
        )

    def seal(self, plaintext: str, *, user_id: str, purpose: str) -> dict[str, Any]:
        """Seal to the primary public key (see :meth:`TokenSealer.seal`)."""
        return self.public.seal(plaintext, user_id=user_id, purpose=purpose)

    def sealed_with_primary(self, sealed: object) -> bool:
        """Whether ``sealed`` is already sealed to the primary key (nothing to re-seal)."""
        return self.public.sealed_with_primary(sealed)

    def open(self, sealed: object, *, user_id: str, purpose: str) -> str:
        """Open a token sealed by :meth:`TokenSealer.seal` for the same user and purpose.

        Raises:
            TokenUnreadable: the value is not an HPKE-sealed token (plain text, a legacy value
                not yet re-sealed, malformed), its key is unknown, or it does not authenticate.
        """
        from cryptography.exceptions import InvalidTag

        if not is_sealed_token(sealed):
            raise TokenUnreadable(
                "the stored token is not sealed to a token key (run `python -m functions.cli "
                "reseal` to migrate older values)"
            )
        key_id, blob = _envelope(sealed)
        key = self.private_keys.get(key_id)
        if key is None:
            raise TokenUnreadable(f"the stored token was sealed with unknown key {key_id!r}")
        try:
            plaintext = _suite().decrypt(blob, key, info=_associated_data(user_id, purpose))
        except InvalidTag:
            raise TokenUnreadable("the stored token does not authenticate") from None
        return plaintext.decode("utf-8")

    def open_to_reseal(self, stored: object, *, user_id: str, purpose: str) -> str:
        """Read whatever ``reseal`` migrates: an HPKE-sealed token, a value sealed with a legacy
        AES key, or a token stored in plain text before tokens were sealed.

        Raises:
            TokenUnreadable: none of those opens.
        """
        if isinstance(stored, str):
            return stored
        if is_sealed_token(stored):
            return self.open(stored, user_id=user_id, purpose=purpose)
        if self.legacy is None:
            raise TokenUnreadable("the stored token was sealed with a legacy key not held")
        return self.legacy.open(stored, user_id=user_id, purpose=purpose)


def is_sealed_token(value: object) -> bool:
    """Whether ``value`` has the shape of an HPKE-sealed token (not whether it opens)."""
    return isinstance(value, Mapping) and value.get("alg") == HPKE_ALG


def with_new_token_key(raw: bytes | None, key_id: str, *, primary: bool) -> str:
    """A ``TOKEN_ENCRYPTION_KEYS`` document with a fresh X25519 key ``key_id`` added.

    The first step of a rotation (the new key becomes ``primary`` in a later step, once every
    instance holds it) and of the migration from the AES keys used before HPKE: a document in
    that format (``{"primary", "keys"}``) keeps its keys as ``legacy_keys`` for ``reseal``, and
    the new key is its primary. ``raw`` ``None`` starts an empty keyring.

    Raises:
        ConfigError: ``raw`` is not a key document, or ``key_id`` is malformed or taken.
    """
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    variable = TOKEN_ENCRYPTION_KEYS
    document = {} if raw is None else _document(raw, variable, "a key document")
    if "private_keys" not in document and "keys" in document:  # the format before HPKE
        legacy = _keys(document, "keys", variable, required=True)
        document = {"legacy_keys": {k: _b64(v) for k, v in legacy.items()}}
        primary = True
    private = _keys(document, "private_keys", variable, required=False)
    legacy_ids = _keys(document, "legacy_keys", variable, required=False)
    if not _KEY_ID.match(key_id) or key_id in private or key_id in legacy_ids:
        raise ConfigError(f"{variable}: the new key ID {key_id!r} is malformed or taken.")
    key = X25519PrivateKey.generate()
    private[key_id] = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    updated = {
        "primary": key_id if primary or len(private) == 1 else document.get("primary"),
        "private_keys": {k: _b64(v) for k, v in private.items()},
        **({"legacy_keys": document["legacy_keys"]} if legacy_ids else {}),
    }
    parse_token_keys(json.dumps(updated).encode())  # what the functions will read must parse
    return json.dumps(updated, indent=2)


def parse_keyring(raw: bytes, *, variable: str = COOKIE_KEYS) -> Keyring:
    """Read ``{"primary": id, "keys": {id: base64 of 32 bytes}}`` (AES-256-GCM keys).

    Raises:
        ConfigError: naming ``variable`` and what is wrong, never a key.
    """
    document = _document(raw, variable, '{"primary": "<key id>", "keys": {...}}')
    keys = _keys(document, "keys", variable, required=True)
    return Keyring(primary=_primary(document, keys, variable), keys=keys)


def parse_token_keys(raw: bytes) -> TokenKeys:
    """Read ``{"primary": id, "private_keys": {id: base64}, "legacy_keys": {id: base64}}``.

    ``private_keys`` are X25519 private keys (32 raw bytes each); ``legacy_keys``, optional, the
    AES-256 keys that sealed tokens before HPKE (what ``reseal`` migrates).

    Raises:
        ConfigError: naming ``TOKEN_ENCRYPTION_KEYS`` and what is wrong, never a key.
    """
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    variable = TOKEN_ENCRYPTION_KEYS
    document = _document(raw, variable, '{"primary": "<key id>", "private_keys": {...}}')
    if "private_keys" not in document and isinstance(document.get("keys"), dict):
        raise ConfigError(
            f"{variable} holds AES keys only (the format before HPKE): add a token key with "
            "`python -m functions.cli token-keys add`, which keeps these as legacy keys."
        )
    raw_keys = _keys(document, "private_keys", variable, required=True)
    legacy = _keys(document, "legacy_keys", variable, required=False)
    primary = _primary(document, raw_keys, variable)
    return TokenKeys(
        primary=primary,
        private_keys={k: X25519PrivateKey.from_private_bytes(v) for k, v in raw_keys.items()},
        legacy=Keyring(primary=sorted(legacy)[0], keys=legacy) if legacy else None,
    )


def parse_token_public_keys(raw: bytes) -> TokenSealer:
    """Read ``{"primary": id, "public_keys": {id: base64 of 32 bytes}}`` (X25519 public keys).

    Raises:
        ConfigError: naming ``TOKEN_PUBLIC_KEYS`` and what is wrong.
    """
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

    variable = TOKEN_PUBLIC_KEYS
    document = _document(raw, variable, '{"primary": "<key id>", "public_keys": {...}}')
    keys = _keys(document, "public_keys", variable, required=True)
    return TokenSealer(
        primary=_primary(document, keys, variable),
        public_keys={k: X25519PublicKey.from_public_bytes(v) for k, v in keys.items()},
    )


def _document(raw: bytes, variable: str, shape: str) -> dict[str, Any]:
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ConfigError(f"{variable} does not hold JSON.") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{variable} must hold {shape}.")
    return document


def _keys(
    document: Mapping[str, Any], field: str, variable: str, *, required: bool
) -> dict[str, bytes]:
    """The ``{id: base64 of 32 bytes}`` mapping at ``field``, decoded."""
    found = document.get(field)
    if found is None and not required:
        return {}
    if not isinstance(found, dict) or (required and not found):
        raise ConfigError(f'{variable} must hold "{field}": {{"<key id>": "<base64>"}}.')
    keys: dict[str, bytes] = {}
    for key_id, encoded in found.items():
        if not _KEY_ID.match(key_id):
            raise ConfigError(f"{variable}: key IDs are 1-64 of A-Z a-z 0-9 . _ -.")
        try:
            key = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else b""
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != KEY_BYTES:
            raise ConfigError(
                f"{variable}: key {key_id!r} must be the base64 of {KEY_BYTES} bytes."
            )
        keys[key_id] = key
    return keys


def _primary(document: Mapping[str, Any], keys: Mapping[str, bytes], variable: str) -> str:
    primary = document.get("primary")
    if not isinstance(primary, str) or primary not in keys:
        raise ConfigError(f"{variable}: 'primary' must name one of its keys.")
    return primary


def _envelope(sealed: object) -> tuple[str, bytes]:
    """The key ID and ciphertext of a sealed value."""
    if not isinstance(sealed, Mapping):
        raise TokenUnreadable(_SEALED_SHAPE)
    key_id, blob = sealed.get("key_id"), sealed.get("ciphertext")
    if not isinstance(key_id, str) or not isinstance(blob, bytes | bytearray):
        raise TokenUnreadable(_SEALED_SHAPE)
    return key_id, bytes(blob)


def _suite() -> hpke.Suite:
    from cryptography.hazmat.primitives import hpke

    return hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _associated_data(user_id: str, purpose: str) -> bytes:
    return b"\x00".join((_CONTEXT, purpose.encode("utf-8"), user_id.encode("utf-8")))
