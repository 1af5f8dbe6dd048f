"""Used states in Firestore: the marker that makes a consent link work once.

A marker lives at ``{AUTH_SESSIONS_COLLECTION}/{sha256(state)}`` and is written with
``create()``, which fails when the document exists: an atomic test-and-set, no transaction. Its
``expires_at`` is the link's own, so a Firestore TTL policy can sweep it once the sealed cookie
has stopped working anyway. Only the digest is stored: a reader of the database learns nothing
to replay.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from functions import state as state_
from functions.errors import InvalidState

if TYPE_CHECKING:
    from google.cloud import firestore


class FirestoreStateStore:
    """:class:`functions.state.StateStore` on a Firestore collection."""

    def __init__(self, client: firestore.Client, collection: str) -> None:
        self._client = client
        self._collection = collection

    def spend(self, state: str, expires_at: datetime) -> None:
        """Create the marker for ``state`` (see ``StateStore.spend``)."""
        from google.api_core.exceptions import AlreadyExists

        reference = self._client.collection(self._collection).document(state_.digest(state))
        try:
            reference.create({"expires_at": expires_at})
        except AlreadyExists:
            raise InvalidState("state was already used") from None
