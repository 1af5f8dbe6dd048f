"""A short lease per user so that one instance, and only one, refreshes an expired access token.

Pipelines fire many requests for the same user at once; without coordination each instance would
refresh on its own, spending quota and latency (and some providers rotate refresh tokens, making
concurrent refreshes race). The lease is a Firestore document created with ``create()``, which
fails when it already exists: an atomic test-and-set without a contended transaction. A lease
outlives a crashed holder by at most ``LEASE_SECONDS``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from google.cloud import firestore

LEASE_SECONDS = 20.0


class RefreshLease(Protocol):
    """Mutual exclusion of refreshes per user, across instances."""

    def acquire(self, user_id: str, owner: str, now: datetime) -> bool:
        """Take the user's lease unless someone holds a live one."""
        ...

    def release(self, user_id: str, owner: str) -> None:
        """Give the lease back (only if still ours)."""


class FirestoreRefreshLease:
    """:class:`RefreshLease` as ``{collection}/{user_id}/leases/refresh`` documents."""

    def __init__(self, client: firestore.Client, collection: str) -> None:
        self._client = client
        self._collection = collection

    def acquire(self, user_id: str, owner: str, now: datetime) -> bool:
        """See :meth:`RefreshLease.acquire`."""
        from google.api_core.exceptions import AlreadyExists, FailedPrecondition, NotFound

        reference = self._document(user_id)
        lease = {"owner": owner, "expires_at": now + timedelta(seconds=LEASE_SECONDS)}
        try:
            reference.create(lease)
            return True
        except AlreadyExists:
            pass
        snapshot = reference.get()
        held = snapshot.to_dict() if snapshot.exists else None
        if held is not None and held["expires_at"] > now:
            return False
        # A stale lease: remove it only if nobody replaced it meanwhile, then race for it again.
        try:
            if snapshot.exists:
                reference.delete(
                    option=self._client.write_option(last_update_time=snapshot.update_time)
                )
            reference.create(lease)
        except (AlreadyExists, FailedPrecondition, NotFound):
            return False
        return True

    def release(self, user_id: str, owner: str) -> None:
        """See :meth:`RefreshLease.release`."""
        reference = self._document(user_id)
        snapshot = reference.get()
        if snapshot.exists and (snapshot.to_dict() or {}).get("owner") == owner:
            reference.delete(
                option=self._client.write_option(last_update_time=snapshot.update_time)
            )

    def _document(self, user_id: str) -> firestore.DocumentReference:
        user = self._client.collection(self._collection).document(user_id)
        lease: firestore.DocumentReference = user.collection("leases").document("refresh")
        return lease
