"""Pending authorizations in Firestore, consumed exactly once inside a transaction.

Documents live at ``{AUTH_SESSIONS_COLLECTION}/{sha256(state)}`` with an ``expires_at`` field a
Firestore TTL policy can use to sweep abandoned flows; expiry is also checked on read, since TTL
deletion is not immediate.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from functions import state as state_
from functions.errors import InvalidState
from functions.state import OUTCOME_LIFETIME, Outcome, PendingAuthorization

if TYPE_CHECKING:
    from google.cloud import firestore

logger = logging.getLogger(__name__)


class FirestoreStateStore:
    """:class:`functions.state.StateStore` on a Firestore collection."""

    def __init__(self, client: firestore.Client, collection: str) -> None:
        self._client = client
        self._collection = collection

    def put(self, pending: PendingAuthorization) -> None:
        """Create the record; a collision of 256-bit states would raise, never overwrite."""
        self._document(pending.state).create(
            {
                "binding_digest": pending.binding_digest,
                "code_verifier": pending.code_verifier,
                "scopes": list(pending.scopes),
                "login_hint": pending.login_hint,
                "return_to": pending.return_to,
                "reconsent": pending.reconsent,
                "expires_at": pending.expires_at,
            }
        )

    def consume(self, state: str, binding: str | None, now: datetime) -> PendingAuthorization:
        """Take the record for ``state`` if this browser owns it (see ``StateStore``)."""
        from google.cloud import firestore

        if not state_.is_well_formed(state):
            raise InvalidState("state is malformed")
        reference = self._document(state)

        @firestore.transactional
        def take(transaction: firestore.Transaction) -> PendingAuthorization | None:
            snapshot = reference.get(transaction=transaction)
            if not snapshot.exists:
                raise InvalidState("state is unknown or already used")
            pending = _from_document(state, snapshot.to_dict() or {})
            if pending.expires_at <= now:
                transaction.delete(reference)
                return None  # committed, so the expired record is gone; raised below
            if not pending.is_bound_to(binding):
                # Left in place: the browser that owns it may still come back with it.
                raise InvalidState("state is not bound to this browser")
            transaction.delete(reference)
            return pending

        pending: PendingAuthorization | None = take(self._client.transaction())
        if pending is None:
            raise InvalidState("state has expired")
        return pending

    def put_outcome(self, binding: str, outcome: Outcome, now: datetime) -> None:
        """Keep the success page's content, keyed by the binding's digest, for five minutes."""
        self._outcome_document(binding).set(
            {
                "user_id": outcome.user_id,
                "email": outcome.email,
                "scopes": list(outcome.scopes),
                "expires_at": now + OUTCOME_LIFETIME,
            }
        )

    def get_outcome(self, binding: str | None, now: datetime) -> Outcome | None:
        """The fresh outcome for this browser, or ``None``."""
        if binding is None or not state_.is_well_formed(binding):
            return None
        snapshot = self._outcome_document(binding).get()
        data = snapshot.to_dict() if snapshot.exists else None
        if not data or data["expires_at"] <= now:
            return None
        return Outcome(
            user_id=str(data["user_id"]),
            email=data.get("email"),
            scopes=tuple(data.get("scopes") or ()),
        )

    def _document(self, state: str) -> firestore.DocumentReference:
        return self._client.collection(self._collection).document(state_.digest(state))

    def _outcome_document(self, binding: str) -> firestore.DocumentReference:
        # A different prefix from state records: a binding can never name a pending flow.
        name = "outcome-" + state_.digest(binding)
        return self._client.collection(self._collection).document(name)


def _from_document(state: str, data: dict[str, Any]) -> PendingAuthorization:
    return PendingAuthorization(
        state=state,
        binding_digest=str(data.get("binding_digest", "")),
        code_verifier=str(data.get("code_verifier", "")),
        scopes=tuple(data.get("scopes") or ()),
        login_hint=data.get("login_hint"),
        return_to=data.get("return_to"),
        reconsent=bool(data.get("reconsent", False)),
        expires_at=data["expires_at"],
    )
