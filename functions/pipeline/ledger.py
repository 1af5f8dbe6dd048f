"""Processing each Pub/Sub event once, and resuming it where it stopped.

Pub/Sub delivers at least once, so the same mailbox request can arrive twice, even on two
instances at the same time. Each event gets a marker document, keyed by a digest of the event
ID, claimed in a transaction (the idempotency-key pattern of Powertools' idempotency utility):

- no marker: this delivery creates it and does the work;
- ``done``: the work was finished by an earlier delivery; nothing is published again;
- ``running`` under a live lease: another delivery is working on it; this one is retried later
  (acknowledging it could lose the request if the other one then fails);
- ``running`` under an expired lease: the earlier attempt died; this one takes over from the
  recorded checkpoint (the next page token), so a long listing never starts over.

Markers carry ``expires_at`` for a Firestore TTL policy. :func:`exactly_once` is the one runner
that claims, checkpoints and finishes; mailbox listings and push notifications both go through it.

The event is acknowledged (the runner returns) once its work returned, and the work returns only
once its results are durably published. The ``done`` mark of a completed event must follow that
publication (marked earlier, a crash in between would lose the results for good), so it is the
one write the acknowledgement does not wait for: it is sent in the background as the runner
returns. Until it lands, the marker is ``running`` under this attempt's lease, which is correct
in every case: a duplicate on another instance is told to come back later (and then finds it
done); a duplicate on this instance waits for the mark first; and if the mark is lost with the
instance, a duplicate after the lease takes the event over and republishes it under the same
result IDs, which consumers drop. Nothing is lost, and nothing is published twice unless an
instance dies in that window and Pub/Sub then delivers the event again. Cloud Run's request-based
billing throttles an instance's CPU once it has answered; a worker takes the mark as it is
submitted, before the answer, so its request is normally on the wire by then and Firestore
commits it whatever becomes of the instance. A mark held up by the throttling is the case above:
it lands when the instance next runs, or the lease lapses.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import functools
import hashlib
import logging
import threading
import uuid
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from functions import google_errors
from functions.clock import Clock
from functions.errors import AppError, MalformedRequest, TransientError
from functions.sizes import PUBSUB_ATTRIBUTE_BYTES, is_text

if TYPE_CHECKING:
    from google.cloud import firestore

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
"""How long a claim holds without progress; every checkpoint extends it."""
RETENTION = timedelta(days=7)
"""How long markers are kept (Pub/Sub retains unacknowledged messages for at most 7 days)."""
TIMEOUT_SECONDS = 10.0
"""Per-call Firestore timeout, without the client's own retries: an unreachable database fails
the attempt (and Pub/Sub redelivers it), it does not hang it."""


REPLAY_OF = "replay_of_message_id"
"""The attribute a replayed message carries: the ID of the message it replays.

A replay (``python -m functions.cli dead-letters replay``) republishes with a new message ID, so
the ledger keys such a message by the ID it replays: however often a dead letter is replayed, its
work is done once, and not at all if the first delivery finished it."""


def event_key(source: object, message_id: object, attributes: object) -> str:
    """The ledger's key for a Pub/Sub message: its topic and the ID of the message it is.

    Args:
        source: the CloudEvent's ``source`` (the topic).
        message_id: the CloudEvent's ``id`` (the Pub/Sub message ID).
        attributes: the message's attributes; :data:`REPLAY_OF` there names the original.

    Raises:
        MalformedRequest: a part is not printable text within Pub/Sub's attribute limit, as
            Pub/Sub's own never fail to be: whoever sent it is not Pub/Sub, and a key that
            cannot be stored would fail every delivery.
    """
    original = attributes.get(REPLAY_OF) if isinstance(attributes, dict) else None
    key = original if original is not None else message_id
    if not all(part and is_text(part, PUBSUB_ATTRIBUTE_BYTES) for part in (source, key)):
        raise MalformedRequest("the event's source, ID or replayed message ID is unusable")
    return f"{source}#{key}"


class Claim(enum.Enum):
    """What a delivery may do with its event."""

    WORK = "work"
    DONE = "done"
    BUSY = "busy"


@dataclass(frozen=True)
class Progress:
    """How far the work got: the next page to fetch and what was published before it."""

    page_token: str | None = None
    pages: int = 0
    total: int = 0


@dataclass(frozen=True)
class Claimed:
    """The answer to a claim."""

    claim: Claim
    progress: Progress = Progress()


class EventLedger(Protocol):
    """Markers of processed events."""

    def claim(self, event_id: str, owner: str, now: datetime) -> Claimed:
        """Claim ``event_id`` for ``owner`` (see the module docstring)."""
        ...

    def checkpoint(self, event_id: str, owner: str, progress: Progress, now: datetime) -> None:
        """Record progress and extend the lease."""

    def finish(self, event_id: str, owner: str, outcome: str, now: datetime) -> None:
        """Mark the event done for good."""

    def release(self, event_id: str, owner: str) -> None:
        """Give the claim up after a transient failure, so a redelivery can resume at once."""

    def recent_failures(self, limit: int = 5, scan: int = 500) -> list[tuple[datetime, str]]:
        """When and with which error code the latest events failed for good (newest first)."""
        ...


class FirestoreEventLedger:
    """:class:`EventLedger` on a Firestore collection."""

    def __init__(self, client: firestore.Client, collection: str, lease: timedelta = LEASE) -> None:
        self._client = client
        self._collection = collection
        self._lease = lease

    def claim(self, event_id: str, owner: str, now: datetime) -> Claimed:
        """See :meth:`EventLedger.claim`.

        The usual case, a first delivery, is one ``create()`` with its exists-precondition;
        only a marker that already exists needs the transaction.
        """
        from google.api_core.exceptions import AlreadyExists
        from google.cloud import firestore

        reference = self._document(event_id)
        try:
            reference.create(
                self._running(owner, now, Progress(), attempts=1), timeout=TIMEOUT_SECONDS
            )
            return Claimed(Claim.WORK)
        except AlreadyExists:
            pass

        @firestore.transactional
        def claim(transaction: firestore.Transaction) -> Claimed:
            snapshot = reference.get(transaction=transaction, timeout=TIMEOUT_SECONDS)
            data: dict[str, Any] = (snapshot.to_dict() or {}) if snapshot.exists else {}
            if data.get("status") == "done":
                return Claimed(Claim.DONE)
            if data and data.get("owner") != owner and data["lease_until"] > now:
                return Claimed(Claim.BUSY)
            progress = Progress(
                page_token=data.get("page_token"),
                pages=int(data.get("pages", 0)),
                total=int(data.get("total", 0)),
            )
            attempts = int(data.get("attempts", 0)) + 1
            transaction.set(reference, self._running(owner, now, progress, attempts))
            return Claimed(Claim.WORK, progress)

        claimed: Claimed = claim(self._client.transaction())
        return claimed

    def _running(
        self, owner: str, now: datetime, progress: Progress, attempts: int
    ) -> dict[str, Any]:
        return {
            "status": "running",
            "owner": owner,
            "lease_until": now + self._lease,
            "page_token": progress.page_token,
            "pages": progress.pages,
            "total": progress.total,
            "attempts": attempts,
            "expires_at": now + RETENTION,
        }

    def checkpoint(self, event_id: str, owner: str, progress: Progress, now: datetime) -> None:
        """See :meth:`EventLedger.checkpoint`."""
        self._document(event_id).update(
            {
                "page_token": progress.page_token,
                "pages": progress.pages,
                "total": progress.total,
                "lease_until": now + self._lease,
            },
            retry=None,
            timeout=TIMEOUT_SECONDS,
        )

    def finish(self, event_id: str, owner: str, outcome: str, now: datetime) -> None:
        """See :meth:`EventLedger.finish`."""
        self._document(event_id).update(
            {"status": "done", "outcome": outcome, "finished_at": now, "page_token": None},
            retry=None,
            timeout=TIMEOUT_SECONDS,
        )

    def release(self, event_id: str, owner: str) -> None:
        """See :meth:`EventLedger.release`."""
        from datetime import UTC

        self._document(event_id).update(
            {"lease_until": datetime(1970, 1, 1, tzinfo=UTC)}, retry=None, timeout=TIMEOUT_SECONDS
        )

    def recent_failures(self, limit: int = 5, scan: int = 500) -> list[tuple[datetime, str]]:
        """When and with which error code the latest events failed for good (newest first).

        Only the ``scan`` most recently finished markers are read (one single-field index).
        """
        from google.cloud import firestore

        query = (
            self._client.collection(self._collection)
            .order_by("finished_at", direction=firestore.Query.DESCENDING)
            .limit(scan)
        )
        failures: list[tuple[datetime, str]] = []
        for snapshot in query.stream():
            data = snapshot.to_dict() or {}
            if data.get("outcome") not in (None, "complete"):
                failures.append((data["finished_at"], str(data["outcome"])))
                if len(failures) >= limit:
                    break
        return failures

    def _document(self, event_id: str) -> firestore.DocumentReference:
        name = hashlib.sha256(event_id.encode("utf-8")).hexdigest()
        document: firestore.DocumentReference = self._client.collection(self._collection).document(
            name
        )
        return document


_READS = futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="read-alongside")


def read_alongside[T](read: Callable[..., T], *args: object, **kwargs: object) -> futures.Future[T]:
    """Start a read the work will need while :func:`exactly_once` claims the event.

    Neither needs the other's answer, so both travel in the same round trip. Nothing is decided
    on the read before the claim, and a duplicate delivery drops it unused. More reads in flight
    than workers queue, which is slower, never wrong.
    """
    return _READS.submit(contextvars.copy_context().run, functools.partial(read, *args, **kwargs))


_MARKING = futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="ledger-done")
_marks: dict[str, futures.Future[None]] = {}
"""``done`` marks in flight on this instance, by event."""
_marks_lock = threading.Lock()


def _mark_done_later(ledger: EventLedger, event_id: str, owner: str, now: datetime) -> None:
    """Send the ``done`` mark without waiting for it (see the module docstring)."""

    def mark() -> None:
        try:
            ledger.finish(event_id, owner, "complete", now)
        except Exception as error:  # the lease lapses instead; a duplicate then redoes the work
            logger.warning(
                "event not marked done",
                extra={"json_fields": {"event_id": event_id, "error": type(error).__name__}},
            )
        finally:
            with _marks_lock:
                if _marks.get(event_id) is pending:
                    del _marks[event_id]

    with _marks_lock:
        pending = _MARKING.submit(contextvars.copy_context().run, mark)
        _marks[event_id] = pending


def settle(event_id: str | None = None, timeout: float = TIMEOUT_SECONDS) -> None:
    """Wait until this instance's ``done`` marks in flight (of ``event_id``, or all) have landed.

    A duplicate delivered to the same instance settles its event before claiming it, so it finds
    the event done rather than busy.
    """
    with _marks_lock:
        pending = [f for key, f in _marks.items() if event_id is None or key == event_id]
    futures.wait(pending, timeout=timeout)


def exactly_once[R](
    ledger: EventLedger,
    event_id: str,
    work: Callable[[Progress, Callable[[Progress], None]], R],
    *,
    now: Clock,
    on_failure: Callable[[AppError], None] | None = None,
) -> R | None:
    """Run ``work`` for ``event_id`` to its end once, however often the event is delivered.

    Args:
        ledger: where the claims live.
        event_id: the event's stable ID (the same on every redelivery).
        work: given the progress an earlier attempt recorded and a ``checkpoint`` to record more.
        now: the clock.
        on_failure: told a permanent failure before the event is marked done with its code.

    Returns:
        What ``work`` returned (its ``done`` mark still on its way: see the module docstring);
        ``None`` when an earlier delivery already finished it.

    Raises:
        TransientError: another delivery holds a live claim.
        AppError: what ``work`` raised (Google's errors mapped by ``google_errors``); after a
            retryable one the claim is released, so a redelivery resumes at once.
    """
    owner = uuid.uuid4().hex
    settle(event_id)
    claimed = ledger.claim(event_id, owner, now())
    if claimed.claim is Claim.DONE:
        logger.info("duplicate delivery ignored", extra={"json_fields": {"event_id": event_id}})
        return None
    if claimed.claim is Claim.BUSY:
        raise TransientError("another delivery of this event is still being processed")
    try:
        with google_errors.mapped():
            result = work(
                claimed.progress,
                lambda progress: ledger.checkpoint(event_id, owner, progress, now()),
            )
    except AppError as error:
        if error.retryable:
            with contextlib.suppress(Exception):  # the lease expires by itself otherwise
                ledger.release(event_id, owner)
            raise
        if on_failure is not None:
            on_failure(error)
        ledger.finish(event_id, owner, error.code, now())
        raise
    _mark_done_later(ledger, event_id, owner, now())
    return result
