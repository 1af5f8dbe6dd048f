"""Per-user credentials in Firestore: the seed's ``store_credentials``/``get_stored_credentials``.

One document per user at ``{CREDENTIALS_COLLECTION}/{user_id}``, keyed by the stable OIDC ``sub``
(Google's user ID, never the e-mail, which can change). The refresh token is sealed
(``functions.crypto``) to a public key before it is written and opened only in memory, where it
is used: a store given only the public keys (the callback's) saves grants, deletes them, finds
users by token identifier and reads every other field, but opens no token. Every write goes
through a transaction and follows one rule from authlib: a refresh token is never replaced by
nothing. A response without one keeps the stored token, and a token already known to be dead is
never resurrected.

The document is one per user, but its concerns are kept apart: :class:`GrantStore` (here) holds
the grant itself; the access-token cache is written by ``grants.access``, the re-auth status by
``grants.reauth``, the watch position by ``pipeline.watch``, and key rotation is the operator's
``grants.rotation``. Each is a :class:`UserDocuments` over the same collection and keyring.
"""

from __future__ import annotations

import base64
import enum
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from functions.config import TOKEN_ENCRYPTION_KEYS, TOKEN_PUBLIC_KEYS
from functions.crypto import TokenKeys, TokenSealer, TokenUnreadable, is_sealed_token
from functions.errors import ConfigError, NeedsConsent
from functions.logging_setup import add_request_secret

if TYPE_CHECKING:
    from google.cloud import firestore


class Status(enum.StrEnum):
    """Where a user's grant stands."""

    ACTIVE = "active"
    REAUTH_REQUIRED = "reauth_required"
    REVOKED = "revoked"
    DISCONNECTING = "disconnecting"
    """The user asked to disconnect and the provider's revocation failed: the document is a
    tombstone holding only the sealed refresh token, until a retry revokes it
    (``grants.disconnect``). Nothing reads the mailbox with it."""


DEAD_TOKEN_REASONS = frozenset(
    {"invalid_grant", "unauthorized", "account_hijacked", "grant_expired"}
)
"""``status_reason`` values meaning the stored refresh token itself no longer works
(``unauthorized``: written by earlier versions after a second 401; no longer written;
``account_hijacked``: Google disabled the account, see ``grants.security_events``;
``grant_expired``: a time-limited grant ended)."""

REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a field name
"""The field, and the sealing purpose, of the refresh token."""
ACCESS_TOKEN = "access_token"  # noqa: S105 - a field name
"""The field, and the sealing purpose, of the cached access token."""
ACCESS_TOKEN_EXPIRES_AT = "access_token_expires_at"  # noqa: S105 - a field name
TOKEN_HASH = "refresh_token_sha512x2"  # noqa: S105 - a field name
"""Google's ``hash_base64_sha512_sha512`` identifier of the refresh token (Cross-Account
Protection names a revoked token by it): base64 of SHA-512 of SHA-512, one-way."""
TOKEN_PREFIX_HASH = "refresh_token_prefix_sha256"  # noqa: S105 - a field name
"""SHA-256 (hex) of the token's first 16 characters, Google's ``prefix`` identifier: the prefix
itself is part of the secret, so only its digest is stored."""
PREFIX_LENGTH = 16


def token_hash(token: str) -> str:
    """``hash_base64_sha512_sha512`` of a refresh token (Cross-Account Protection's page)."""
    inner = hashlib.sha512(token.encode("utf-8")).digest()
    return base64.b64encode(hashlib.sha512(inner).digest()).decode("ascii")


def prefix_hash(prefix: str) -> str:
    """The stored digest of a token's ``prefix`` identifier (its first 16 characters)."""
    return hashlib.sha256(prefix[:PREFIX_LENGTH].encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StoredCredentials:
    """A user's document, as the flow reads it."""

    user_id: str
    email: str | None
    refresh_token: str | None
    scopes: tuple[str, ...]
    status: Status
    status_reason: str | None
    created_at: datetime | None
    updated_at: datetime | None
    reauth_notified: bool = True
    access_token: str | None = None
    access_token_expires_at: datetime | None = None
    last_used_at: datetime | None = None
    """When the refresh token was last used at the token endpoint (consent or refresh)."""
    grant_expires_at: datetime | None = None
    """When a time-limited grant ends (``refresh_token_expires_in``); ``None``: it does not."""
    expiry_warned: bool = False
    last_security_event: dict[str, Any] | None = None
    """``{"type", "at", "jti", "reason"?}`` of the last Cross-Account Protection event."""
    has_refresh_token: bool = False
    """Whether a refresh token is stored, opened or not (see :meth:`GrantStore.describe`)."""
    pipelines: tuple[str, ...] = ()
    """The pipelines the user consented for: only they may read the mailbox, and only they
    hear of it (results, re-auth events). A document from before pipelines has none."""

    def granted(self, pipeline: str) -> bool:
        """Whether ``pipeline`` may read this user's mailbox (never once they asked to be
        forgotten)."""
        return self.status is not Status.DISCONNECTING and pipeline in self.pipelines

    def __repr__(self) -> str:
        return (
            f"StoredCredentials(user_id={self.user_id!r}, status={self.status.value!r}, "
            f"scopes={self.scopes!r})"
        )

    def as_json(self) -> dict[str, object]:
        """What may be shown of the user (the operator's CLI): every field but the tokens."""
        return {
            "user_id": self.user_id,
            "email": self.email,
            "status": self.status.value,
            "status_reason": self.status_reason,
            "scopes": list(self.scopes),
            "pipelines": list(self.pipelines),
            "refresh_token": "stored" if self.has_refresh_token else "none",
            "reauth_notified": self.reauth_notified,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }

    @property
    def usable_refresh_token(self) -> str | None:
        """The stored refresh token unless it is known to be dead."""
        if self.status_reason in DEAD_TOKEN_REASONS:
            return None
        return self.refresh_token


class UserDocuments:
    """The per-user documents of ``collection``, with the keys that seal their tokens.

    The base of every store of one concern on the user's document (see the module docstring).
    With :class:`TokenKeys` it seals and opens; with a :class:`TokenSealer` it only seals; with
    no keys it neither seals nor opens (deleting and reading other fields need none).
    """

    def __init__(
        self, client: firestore.Client, collection: str, keyring: TokenKeys | TokenSealer | None
    ) -> None:
        self._client = client
        self._collection = collection
        self._keyring = keyring

    def _collection_ref(self) -> firestore.CollectionReference:
        return self._client.collection(self._collection)

    def _document(self, user_id: str) -> firestore.DocumentReference:
        return self._client.collection(self._collection).document(user_id)

    def _seal(self, token: str, user_id: str, purpose: str = REFRESH_TOKEN) -> dict[str, Any]:
        """Raises: ConfigError: this function holds no token key at all."""
        if self._keyring is None:
            raise ConfigError(f"{TOKEN_PUBLIC_KEYS} is not set: this function cannot seal tokens.")
        return self._keyring.seal(token, user_id=user_id, purpose=purpose)

    def _open(self, sealed: object, user_id: str, purpose: str = REFRESH_TOKEN) -> str:
        """The token in the clear, from now on a secret of the request or event that read it.

        Only a sealed token opens: one stored in plain text (or sealed before HPKE) is
        :class:`TokenUnreadable` until ``reseal`` migrates it.

        Raises:
            ConfigError: this function holds only the public keys (it must never read a token).
        """
        if not isinstance(self._keyring, TokenKeys):
            raise ConfigError(
                f"{TOKEN_ENCRYPTION_KEYS} is not set: this function seals tokens but cannot "
                "open them."
            )
        token = self._keyring.open(sealed, user_id=user_id, purpose=purpose)
        add_request_secret(token)
        return token

    def _refresh_fields(self, token: str, user_id: str) -> dict[str, Any]:
        """The sealed refresh token and the one-way identifiers Google may name it by."""
        return {
            REFRESH_TOKEN: self._seal(token, user_id),
            TOKEN_HASH: token_hash(token),
            TOKEN_PREFIX_HASH: prefix_hash(token),
        }

    def _access_fields(
        self, user_id: str, token: str | None, expires_at: datetime | None
    ) -> dict[str, Any]:
        if not token or expires_at is None:
            return {}
        return {
            ACCESS_TOKEN: self._seal(token, user_id, ACCESS_TOKEN),
            ACCESS_TOKEN_EXPIRES_AT: expires_at,
        }

    def _read(self, user_id: str, data: dict[str, Any] | None) -> StoredCredentials:
        data = data or {}
        sealed = data.get(REFRESH_TOKEN)
        token = None if sealed is None else self._open(sealed, user_id)
        credentials = _credentials(user_id, data, token)
        sealed_access, expires_at = data.get(ACCESS_TOKEN), data.get(ACCESS_TOKEN_EXPIRES_AT)
        if sealed_access is None or expires_at is None:
            return credentials
        try:
            access = self._open(sealed_access, user_id, ACCESS_TOKEN)
        except TokenUnreadable:  # a cache: an unreadable entry is simply a miss
            return credentials
        return replace(credentials, access_token=access, access_token_expires_at=expires_at)

    def _read_leniently(self, user_id: str, data: dict[str, Any] | None) -> StoredCredentials:
        """Like :meth:`_read`, but an unreadable token counts as none: a new consent replaces it."""
        try:
            return self._read(user_id, data)
        except TokenUnreadable:
            return _credentials(user_id, data or {}, None)


class GrantStore(UserDocuments):
    """The grant: who the user is, their sealed refresh token, scopes and status."""

    def get(self, user_id: str, *, granted_to: str | None = None) -> StoredCredentials | None:
        """The user's credentials, or ``None`` for an unknown user.

        With ``granted_to``, also ``None`` for a user who did not grant that pipeline, decided
        from one read before any token is opened: a pipeline learns nothing of a user it may not
        read, not even that their stored token is unreadable.

        Raises:
            TokenUnreadable: the stored token does not open with our keys.
        """
        snapshot = self._document(user_id).get()
        data = snapshot.to_dict() if snapshot.exists else None
        if data is None:
            return None
        if granted_to is not None and not _credentials(user_id, data, None).granted(granted_to):
            return None
        return self._read(user_id, data)

    def describe(self, user_id: str) -> StoredCredentials | None:
        """The user's document without opening its tokens (``None`` for an unknown user).

        What a function that holds only the public keys may read: status, e-mail, scopes and
        whether a refresh token is stored (``refresh_token`` is always ``None``).
        """
        snapshot = self._document(user_id).get()
        return _credentials(user_id, snapshot.to_dict() or {}, None) if snapshot.exists else None

    def save_grant(
        self,
        *,
        user_id: str,
        email: str | None,
        refresh_token: str | None,
        scopes: tuple[str, ...],
        now: datetime,
        access_token: str | None = None,
        access_token_expires_at: datetime | None = None,
        grant_expires_at: datetime | None = None,
        pipeline: str | None = None,
    ) -> StoredCredentials:
        """Record a completed consent, keeping the stored refresh token when none came back.

        ``pipeline`` is the pipeline the user consented for; it joins the ones they granted
        before (a consent adds a pipeline, never takes one away).

        The access token that came with the consent is cached too, so the first mailbox read
        needs no refresh. ``grant_expires_at`` is when a time-limited grant ends; a consent that
        returned no refresh token goes on with the stored grant, and its end.

        Raises:
            NeedsConsent: no refresh token came back and no usable one is stored.
        """
        from google.cloud import firestore

        reference = self._document(user_id)

        @firestore.transactional
        def save(transaction: firestore.Transaction) -> StoredCredentials:
            snapshot = reference.get(transaction=transaction)
            data = (snapshot.to_dict() or {}) if snapshot.exists else {}
            stored = _credentials(user_id, data, None) if snapshot.exists else None
            # The stored token is kept sealed, never opened here: the callback cannot open it.
            kept = data.get(REFRESH_TOKEN) if refresh_token is None else None
            if refresh_token is None and not _usable_sealed(kept, stored):
                raise NeedsConsent(
                    "no refresh token was returned and none is stored",
                    email=email or (stored.email if stored else None),
                )
            if refresh_token is None and stored is not None:
                grant_ends = stored.grant_expires_at  # the same grant goes on
            else:
                grant_ends = grant_expires_at
            fields: dict[str, Any] = {
                "email": email or (stored.email if stored else None),
                **(self._refresh_fields(refresh_token, user_id) if refresh_token else {}),
                "scopes": list(scopes),
                "status": Status.ACTIVE.value,
                "status_reason": None,
                "reauth_notified": True,
                "updated_at": now,
                "last_used_at": now,
                "grant_expires_at": grant_ends,
                "expiry_warned": False,
                **self._access_fields(user_id, access_token, access_token_expires_at),
            }
            pipelines = stored.pipelines if stored else ()
            if pipeline is not None:
                fields["pipelines"] = firestore.ArrayUnion([pipeline])
                pipelines = (*pipelines, *(() if pipeline in pipelines else (pipeline,)))
            if stored is None or stored.created_at is None:
                fields["created_at"] = now
            transaction.set(reference, fields, merge=True)
            return StoredCredentials(
                user_id=user_id,
                email=fields["email"],
                refresh_token=refresh_token,
                scopes=scopes,
                status=Status.ACTIVE,
                status_reason=None,
                created_at=stored.created_at if stored and stored.created_at else now,
                updated_at=now,
                access_token=access_token if access_token_expires_at else None,
                access_token_expires_at=access_token_expires_at if access_token else None,
                last_used_at=now,
                grant_expires_at=grant_ends,
                pipelines=pipelines,
                has_refresh_token=True,
            )

        stored: StoredCredentials = save(self._client.transaction())
        return stored

    def grant_pipeline(self, user_id: str, pipeline: str) -> None:
        """Add ``pipeline`` to the user's granted pipelines (the operator's upgrade step for
        documents written before pipelines existed).

        Raises:
            google.api_core.exceptions.NotFound: no document for the user.
        """
        from google.cloud import firestore

        self._document(user_id).update({"pipelines": firestore.ArrayUnion([pipeline])})

    def delete(self, user_id: str) -> None:
        """Forget the user entirely (every concern of the document)."""
        self._document(user_id).delete()

    def keep_tombstone(self, user_id: str, now: datetime) -> bool:
        """Reduce the document to a tombstone (:attr:`Status.DISCONNECTING`): the sealed refresh
        token and its identifiers stay, to retry the revocation with; everything else goes.

        Returns ``False`` when there is no document (nothing to retry).
        """
        from google.cloud import firestore

        reference = self._document(user_id)

        @firestore.transactional
        def keep(transaction: firestore.Transaction) -> bool:
            snapshot = reference.get(transaction=transaction)
            data = snapshot.to_dict() if snapshot.exists else None
            if data is None or data.get(REFRESH_TOKEN) is None:
                return False
            kept = {key: data[key] for key in (REFRESH_TOKEN, TOKEN_HASH, TOKEN_PREFIX_HASH)}
            transaction.set(
                reference,
                {
                    **{key: value for key, value in kept.items() if value is not None},
                    "status": Status.DISCONNECTING.value,
                    "status_reason": "revocation_failed",
                    "reauth_notified": True,  # nobody is asked to consent again
                    "disconnect_requested_at": data.get("disconnect_requested_at") or now,
                    "updated_at": now,
                },
            )
            return True

        return bool(keep(self._client.transaction()))

    def revoke(self, user_id: str, reason: str, now: datetime) -> bool:
        """The grant was revoked at the provider: status ``revoked``, both tokens deleted; a
        tombstone (:attr:`Status.DISCONNECTING`) is deleted, its revocation done.

        Returns ``True`` only on the transition (``reauth_notified`` false until notified).
        """
        from google.cloud import firestore

        reference = self._document(user_id)

        @firestore.transactional
        def revoke(transaction: firestore.Transaction) -> bool:
            snapshot = reference.get(transaction=transaction)
            data = snapshot.to_dict() if snapshot.exists else None
            if data is None:
                return False
            if data.get("status") == Status.DISCONNECTING.value:
                transaction.delete(reference)  # the revocation a disconnect waited for
                return False
            changed = data.get("status") != Status.REVOKED.value
            transaction.update(
                reference,
                {
                    "status": Status.REVOKED.value,
                    "status_reason": reason,
                    REFRESH_TOKEN: firestore.DELETE_FIELD,
                    TOKEN_HASH: firestore.DELETE_FIELD,
                    TOKEN_PREFIX_HASH: firestore.DELETE_FIELD,
                    ACCESS_TOKEN: None,
                    ACCESS_TOKEN_EXPIRES_AT: None,
                    "updated_at": now,
                    **({"reauth_notified": False} if changed else {}),
                },
            )
            return changed

        return bool(revoke(self._client.transaction()))

    def record_security_event(self, user_id: str, event: dict[str, Any]) -> None:
        """Keep ``event`` as the user's last security event."""
        self._document(user_id).update({"last_security_event": event})

    def find_by_token_identifier(self, algorithm: str, value: str) -> list[str]:
        """The users whose refresh token Google's identifier names (``hash_base64_sha512_sha512``
        or ``prefix``); at most two, enough to tell one from several."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        if algorithm == "hash_base64_sha512_sha512":
            field, wanted = TOKEN_HASH, value
        elif algorithm == "prefix":
            field, wanted = TOKEN_PREFIX_HASH, prefix_hash(value)
        else:
            return []
        query = self._collection_ref().where(filter=FieldFilter(field, "==", wanted)).limit(2)
        return [snapshot.id for snapshot in query.select([]).stream()]

    def mark_expiry_warned(self, user_id: str) -> None:
        """Record that the user was told their time-limited grant is ending."""
        self._document(user_id).update({"expiry_warned": True})

    def users(self) -> Iterator[StoredCredentials]:
        """Every stored user."""
        for snapshot in self._collection_ref().stream():
            yield self._read_leniently(snapshot.id, snapshot.to_dict())


def _usable_sealed(sealed: object, stored: StoredCredentials | None) -> bool:
    """Whether a stored refresh token may go on with a consent that returned none: sealed to a
    token key (a plain-text or legacy value is never used) and not known to be dead."""
    return (
        is_sealed_token(sealed)
        and stored is not None
        and stored.status_reason not in DEAD_TOKEN_REASONS
    )


def _credentials(user_id: str, data: dict[str, Any], token: str | None) -> StoredCredentials:
    try:
        status = Status(data.get("status", Status.ACTIVE.value))
    except ValueError:
        status = Status.REAUTH_REQUIRED
    return StoredCredentials(
        user_id=user_id,
        email=data.get("email"),
        refresh_token=token,
        scopes=tuple(data.get("scopes") or ()),
        status=status,
        status_reason=data.get("status_reason"),
        created_at=data.get("created_at"),
        updated_at=data.get("updated_at"),
        reauth_notified=bool(data.get("reauth_notified", True)),
        last_used_at=data.get("last_used_at"),
        grant_expires_at=data.get("grant_expires_at"),
        expiry_warned=bool(data.get("expiry_warned", False)),
        last_security_event=data.get("last_security_event"),
        pipelines=tuple(name for name in data.get("pipelines") or () if isinstance(name, str)),
        has_refresh_token=data.get(REFRESH_TOKEN) is not None,
    )
