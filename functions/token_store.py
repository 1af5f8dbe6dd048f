"""Per-user credentials in Firestore: the seed's ``store_credentials``/``get_stored_credentials``.

One document per user at ``{CREDENTIALS_COLLECTION}/{user_id}``, keyed by the stable OIDC ``sub``
(Google's user ID, never the e-mail, which can change). Every write goes through a transaction and
follows one rule from authlib: a refresh token is never replaced by nothing. A response without one
keeps the stored token, and a token already known to be dead is never resurrected.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from functions.errors import NeedsConsent

if TYPE_CHECKING:
    from google.cloud import firestore


class Status(enum.StrEnum):
    """Where a user's grant stands."""

    ACTIVE = "active"
    REAUTH_REQUIRED = "reauth_required"
    REVOKED = "revoked"


DEAD_TOKEN_REASONS = frozenset({"invalid_grant", "unauthorized"})
"""``status_reason`` values meaning the stored refresh token itself no longer works."""


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

    def __repr__(self) -> str:
        return (
            f"StoredCredentials(user_id={self.user_id!r}, status={self.status.value!r}, "
            f"scopes={self.scopes!r})"
        )

    @property
    def usable_refresh_token(self) -> str | None:
        """The stored refresh token unless it is known to be dead."""
        if self.status_reason in DEAD_TOKEN_REASONS:
            return None
        return self.refresh_token


class TokenStore(Protocol):
    """Where refresh tokens live; the flow never talks to Firestore directly."""

    def get(self, user_id: str) -> StoredCredentials | None:
        """The user's credentials, or ``None`` for an unknown user."""

    def save_grant(
        self,
        *,
        user_id: str,
        email: str | None,
        refresh_token: str | None,
        scopes: tuple[str, ...],
        now: datetime,
    ) -> StoredCredentials:
        """Record a completed consent, keeping the stored refresh token when none came back.

        Raises:
            NeedsConsent: no refresh token came back and no usable one is stored.
        """
        ...

    def update_refresh_token(self, user_id: str, refresh_token: str, now: datetime) -> None:
        """Keep a refresh token the provider rotated during a refresh."""

    def mark_reauth_required(self, user_id: str, reason: str, now: datetime) -> bool:
        """Flag that the user must consent again; ``True`` only on the transition."""
        ...


class FirestoreTokenStore:
    """:class:`TokenStore` on a Firestore collection."""

    def __init__(self, client: firestore.Client, collection: str) -> None:
        self._client = client
        self._collection = collection

    def get(self, user_id: str) -> StoredCredentials | None:
        """See :meth:`TokenStore.get`."""
        snapshot = self._document(user_id).get()
        return _from_document(user_id, snapshot.to_dict()) if snapshot.exists else None

    def save_grant(
        self,
        *,
        user_id: str,
        email: str | None,
        refresh_token: str | None,
        scopes: tuple[str, ...],
        now: datetime,
    ) -> StoredCredentials:
        """See :meth:`TokenStore.save_grant`."""
        from google.cloud import firestore

        reference = self._document(user_id)

        @firestore.transactional
        def save(transaction: firestore.Transaction) -> StoredCredentials:
            snapshot = reference.get(transaction=transaction)
            stored = _from_document(user_id, snapshot.to_dict()) if snapshot.exists else None
            token = refresh_token or (stored.usable_refresh_token if stored else None)
            if not token:
                raise NeedsConsent(
                    "no refresh token was returned and none is stored",
                    email=email or (stored.email if stored else None),
                )
            fields: dict[str, Any] = {
                "email": email or (stored.email if stored else None),
                "refresh_token": token,
                "scopes": list(scopes),
                "status": Status.ACTIVE.value,
                "status_reason": None,
                "updated_at": now,
            }
            if stored is None or stored.created_at is None:
                fields["created_at"] = now
            transaction.set(reference, fields, merge=True)
            return StoredCredentials(
                user_id=user_id,
                email=fields["email"],
                refresh_token=token,
                scopes=scopes,
                status=Status.ACTIVE,
                status_reason=None,
                created_at=stored.created_at if stored and stored.created_at else now,
                updated_at=now,
            )

        stored: StoredCredentials = save(self._client.transaction())
        return stored

    def update_refresh_token(self, user_id: str, refresh_token: str, now: datetime) -> None:
        """See :meth:`TokenStore.update_refresh_token`."""
        self._document(user_id).update({"refresh_token": refresh_token, "updated_at": now})

    def mark_reauth_required(self, user_id: str, reason: str, now: datetime) -> bool:
        """See :meth:`TokenStore.mark_reauth_required`."""
        from google.cloud import firestore

        reference = self._document(user_id)

        @firestore.transactional
        def mark(transaction: firestore.Transaction) -> bool:
            snapshot = reference.get(transaction=transaction)
            data = snapshot.to_dict() if snapshot.exists else None
            if data is None or data.get("status") != Status.ACTIVE.value:
                return False
            transaction.update(
                reference,
                {
                    "status": Status.REAUTH_REQUIRED.value,
                    "status_reason": reason,
                    "updated_at": now,
                },
            )
            return True

        return bool(mark(self._client.transaction()))

    def _document(self, user_id: str) -> firestore.DocumentReference:
        return self._client.collection(self._collection).document(user_id)


def _from_document(user_id: str, data: dict[str, Any] | None) -> StoredCredentials:
    data = data or {}
    try:
        status = Status(data.get("status", Status.ACTIVE.value))
    except ValueError:
        status = Status.REAUTH_REQUIRED
    return StoredCredentials(
        user_id=user_id,
        email=data.get("email"),
        refresh_token=data.get("refresh_token"),
        scopes=tuple(data.get("scopes") or ()),
        status=status,
        status_reason=data.get("status_reason"),
        created_at=data.get("created_at"),
        updated_at=data.get("updated_at"),
    )
