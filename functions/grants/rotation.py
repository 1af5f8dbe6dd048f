"""Key rotation, on the operator's path: re-seal every stored token under the primary key.

After a new primary key is added to ``TOKEN_ENCRYPTION_KEYS`` and every instance seals under it
(the logs show the primary each instance loaded), ``python -m functions.cli reseal`` re-seals
what was sealed before; the old key can then be removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from functions.crypto import TokenUnreadable
from functions.grants.store import (
    ACCESS_TOKEN,
    ACCESS_TOKEN_EXPIRES_AT,
    REFRESH_TOKEN,
    UserDocuments,
)


@dataclass(frozen=True)
class ResealReport:
    """What re-sealing the collection under the primary key did."""

    resealed: int = 0
    already_primary: int = 0
    unreadable: int = 0


class KeyRotation(UserDocuments):
    """Re-sealing the users' documents under the keyring's primary key."""

    def reseal_all(self) -> ResealReport:
        """Re-seal every stored token under the primary key, each document in a transaction."""
        from google.cloud import firestore

        counts = {"resealed": 0, "already_primary": 0, "unreadable": 0}

        @firestore.transactional
        def reseal(transaction: firestore.Transaction, reference: Any) -> str:
            snapshot = reference.get(transaction=transaction)
            data = (snapshot.to_dict() or {}) if snapshot.exists else {}
            sealed = data.get(REFRESH_TOKEN)
            if sealed is None or self._keyring.sealed_with_primary(sealed):
                return "already_primary"
            try:
                token = self._open(sealed, reference.id)
            except TokenUnreadable:
                return "unreadable"
            # The cached access token is dropped rather than re-sealed: it is short-lived anyway.
            transaction.update(
                reference,
                {
                    **self._refresh_fields(token, reference.id),
                    ACCESS_TOKEN: None,
                    ACCESS_TOKEN_EXPIRES_AT: None,
                },
            )
            return "resealed"

        for snapshot in self._collection_ref().select([]).stream():
            counts[reseal(self._client.transaction(), snapshot.reference)] += 1
        return ResealReport(**counts)
