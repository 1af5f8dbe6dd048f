"""Key rotation and migration, on the operator's path: re-seal every stored token to the primary.

After a new primary key is added to ``TOKEN_ENCRYPTION_KEYS``, its public key published in
``TOKEN_PUBLIC_KEYS`` and every instance seals under it (the logs show the primary each instance
loaded), ``python -m functions.cli reseal`` re-seals what was sealed before; the old key can then
be removed. The same run migrates what the functions refuse to use: refresh tokens stored in plain
text before tokens were sealed, and values sealed with a legacy AES key before HPKE.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from functions.crypto import TokenKeys, TokenUnreadable, is_sealed_token
from functions.grants.store import (
    ACCESS_TOKEN,
    ACCESS_TOKEN_EXPIRES_AT,
    REFRESH_TOKEN,
    UserDocuments,
)

if TYPE_CHECKING:
    from google.cloud import firestore


@dataclass(frozen=True)
class ResealReport:
    """What re-sealing the collection under the primary key did.

    ``plain_text`` and ``legacy`` count the re-sealed values that were migrated: stored in plain
    text, or sealed with a legacy AES key.
    """

    resealed: int = 0
    already_primary: int = 0
    unreadable: int = 0
    plain_text: int = 0
    legacy: int = 0


class KeyRotation(UserDocuments):
    """Re-sealing the users' documents under the keyring's primary key (needs the private keys)."""

    def __init__(self, client: firestore.Client, collection: str, keyring: TokenKeys) -> None:
        super().__init__(client, collection, keyring)
        self._private_keys = keyring

    def reseal_all(self) -> ResealReport:
        """Re-seal every stored token under the primary key, each document in a transaction."""
        from google.cloud import firestore

        keys = self._private_keys
        counts = dict.fromkeys(ResealReport.__dataclass_fields__, 0)

        @firestore.transactional
        def reseal(transaction: firestore.Transaction, reference: Any) -> tuple[str, ...]:
            snapshot = reference.get(transaction=transaction)
            data = (snapshot.to_dict() or {}) if snapshot.exists else {}
            sealed = data.get(REFRESH_TOKEN)
            if sealed is None or keys.sealed_with_primary(sealed):
                return ("already_primary",)
            try:
                token = keys.open_to_reseal(sealed, user_id=reference.id, purpose=REFRESH_TOKEN)
            except TokenUnreadable:
                return ("unreadable",)
            # The cached access token is dropped rather than re-sealed: it is short-lived anyway.
            transaction.update(
                reference,
                {
                    **self._refresh_fields(token, reference.id),
                    ACCESS_TOKEN: None,
                    ACCESS_TOKEN_EXPIRES_AT: None,
                },
            )
            if isinstance(sealed, str):
                return ("resealed", "plain_text")
            return ("resealed",) if is_sealed_token(sealed) else ("resealed", "legacy")

        for snapshot in self._collection_ref().select([]).stream():
            for outcome in reseal(self._client.transaction(), snapshot.reference):
                counts[outcome] += 1
        return ResealReport(**counts)
