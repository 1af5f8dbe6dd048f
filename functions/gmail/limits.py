"""Gmail's per-user cap on calls in flight, held across threads and instances.

Gmail limits the requests in flight per user, counted over every client of that user together,
and answers 429 "Too many concurrent requests for user" past it (Resolve errors,
https://developers.google.com/workspace/gmail/api/guides/handle-errors). The event functions serve
several requests at once (``sizing.concurrency``) on as many instances as Pub/Sub's backlog asks
for, so a count kept in one process would not hold: the cap is :data:`MAX_CALLS_PER_USER` slot
documents per user in Firestore, ``{CREDENTIALS_COLLECTION}/{user ID}/gmail_slots/{0..K-1}``.

A :class:`~functions.gmail.session.GmailSession` holds one slot for its lifetime. Its calls are
sequential (``paging`` lends it to one thread at a time), so K sessions make at most K calls at
once, and a session pays for the cap once rather than per call:

- a slot is taken with ``create()``, an atomic test-and-set as for the refresh lease
  (``functions.grants.lease``), at an index picked at random among those this instance does not
  hold: uncontended, one round trip, which a mailbox request makes alongside its ledger claim;
- when that one is taken, the user's slots are read in one query and a free or expired one is
  taken; an expired one (a crashed holder's) with an update conditional on the version read, so
  of two instances taking it over, one wins;
- when all K are held, it waits with jittered backoff within the work budget, then raises
  :class:`~functions.errors.TransientError`: Pub/Sub redelivers, nothing is lost;
- a slot expires when its holder's work budget ends, counting the bounded waits before a session
  starts and the timeout of a call begun at the end (plus :data:`SLOT_MARGIN` for clocks), so a
  crashed holder blocks one for at most that; a TTL policy on ``expires_at`` removes leftovers;
- it is given back (deleted if still ours: conditional on the version we wrote) in the
  background, so no request waits for it. Until that lands this instance leaves the index alone.
  It leaves as the session ends, before the results are published, so it has normally landed
  by the answer, after which Cloud Run may throttle the instance's CPU (a release held up there
  lands when the instance next runs, or the slot expires).

Within an instance the slots it holds are known: while all K of a user's are held here, a thread
waits for one of them to come back instead of asking Firestore. The per-user quota in units is
paced separately (``functions.gmail.pacing``).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import random
import threading
import time
import uuid
from concurrent import futures
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from functions import clock
from functions.errors import TransientError

if TYPE_CHECKING:
    from google.cloud import firestore

logger = logging.getLogger(__name__)

MAX_CALLS_PER_USER = 4
"""Gmail calls one user may have in flight from all instances together. Gmail publishes no
number for its cap, and counts the user's other clients (the Gmail apps, other services) in it:
four is our choice, below the sandbox's default of ten, and more would rarely read faster, since
one reader alone can spend the user's quota in units (``functions.gmail.pacing``)."""
SLOT_MARGIN = timedelta(seconds=10)
"""How long a slot outlives its holder's work budget: room for clocks that disagree."""
WAIT_BASE_SECONDS = 0.05
WAIT_MAX_SECONDS = 2.0
"""Backoff between looks at a user's slots while all are held (full jitter, as ``retry``)."""
RELEASE_TIMEOUT_SECONDS = 10.0
WRITE_TIMEOUT_SECONDS = 10.0
"""How long taking a slot may wait on Firestore (as the ledger's writes): not retried, so that an
outage fails the request in seconds rather than holding it for the client's minute of retries."""
SLOTS = "gmail_slots"
"""The subcollection of the user's document that holds the slots."""


@dataclass(frozen=True)
class Slot:
    """A slot as stored: until when it is held, and the version of the write that took it."""

    expires_at: datetime
    version: datetime


class SlotStore(Protocol):
    """Where the slots live (Firestore: :class:`FirestoreGmailSlots`)."""

    def create(self, user_id: str, index: int, owner: str, expires_at: datetime) -> datetime | None:
        """Create slot ``index``; the version written, or ``None`` when it exists."""
        ...

    def take_over(
        self, user_id: str, index: int, seen: datetime, owner: str, expires_at: datetime
    ) -> datetime | None:
        """Take slot ``index`` if it is still at version ``seen``; the version written, or
        ``None`` when it changed or went."""
        ...

    def slots(self, user_id: str) -> dict[int, Slot]:
        """The user's slots that exist, by index."""
        ...

    def give_back(self, user_id: str, index: int, version: datetime) -> None:
        """Delete slot ``index`` if it is still at ``version`` (ours)."""


@dataclass
class Hold:
    """One slot held: what gives it back."""

    user_id: str
    index: int
    owner: str
    version: datetime
    released: bool = field(default=False, compare=False)


class CappingGmailCalls(Protocol):
    """What a Gmail session uses to keep the cap (the composition root provides it)."""

    @property
    def gmail_cap(self) -> GmailCap: ...


class GmailCap:
    """At most ``slots`` Gmail calls in flight per user, over every instance that shares the
    store (see the module docstring). One per instance: it knows the slots this instance holds."""

    def __init__(
        self,
        store: SlotStore,
        *,
        hold_for: timedelta,
        slots: int = MAX_CALLS_PER_USER,
        now: clock.Clock = clock.utcnow,
    ) -> None:
        """``hold_for``: how long a slot is held at most (the work budget and the margin)."""
        self._store = store
        self._hold_for = hold_for
        self._slots = slots
        self._now = now
        self._changed = threading.Condition()
        self._here: dict[tuple[str, int], tuple[str, float]] = {}
        """Slots this instance holds, tries or gives back: owner and local expiry by index."""
        self._releases: set[futures.Future[None]] = set()

    def try_take(self, user_id: str) -> Hold | None:
        """One slot if the first one tried is free: at most one round trip, never waits (what
        goes alongside other work; :meth:`take` does the rest)."""
        index = self._reserve(user_id, range(self._slots))
        return None if index is None else self._create(user_id, index)

    def take(self, user_id: str, wait_seconds: float, *, tried: bool = False) -> Hold:
        """A slot of ``user_id``, waiting up to ``wait_seconds`` while all are held; ``tried``:
        a :meth:`try_take` already failed, so it starts by reading the user's slots.

        Raises:
            TransientError: all were held by live holders for that long.
        """
        deadline = time.monotonic() + wait_seconds
        attempt = 1 if tried else 0
        while True:
            hold = self.try_take(user_id) if attempt == 0 else None
            hold = hold or self._free_or_expired(user_id)
            if hold is not None:
                return hold
            left = deadline - time.monotonic()
            if left <= 0:
                raise TransientError(
                    f"all {self._slots} of the user's Gmail slots stayed held within the budget"
                )
            delay = random.uniform(0.0, min(WAIT_MAX_SECONDS, WAIT_BASE_SECONDS * 2**attempt))  # noqa: S311 - jitter
            with self._changed:  # woken early when a slot held here comes back
                self._changed.wait(min(delay, left))
            attempt += 1

    def release(self, hold: Hold | None) -> None:
        """Give ``hold`` back in the background (once; nothing for ``None``)."""
        if hold is None:
            return
        with self._changed:
            if hold.released:
                return
            hold.released = True

        def give_back() -> None:
            try:
                self._store.give_back(hold.user_id, hold.index, hold.version)
            except Exception as error:  # it expires instead
                logger.warning(
                    "Gmail slot not given back",
                    extra={"json_fields": {"user_id": hold.user_id, "error": type(error).__name__}},
                )
            finally:
                self._forget(hold.user_id, hold.index, hold.owner)

        with self._changed:
            pending = _RELEASES.submit(contextvars.copy_context().run, give_back)
            self._releases.add(pending)
        pending.add_done_callback(self._released)

    def release_taken(self, taken: futures.Future[Hold | None]) -> None:
        """Give back what ``taken`` (a :meth:`try_take` started ahead) took, once it is done,
        unless a session took it on and gave it back already."""
        context = contextvars.copy_context()  # the request's, whichever thread runs this
        taken.add_done_callback(
            lambda done: context.run(
                self.release, done.result() if done.exception() is None else None
            )
        )

    def settle(self, timeout: float = RELEASE_TIMEOUT_SECONDS) -> None:
        """Wait until the slots given back on this instance are deleted (tests; shutdown)."""
        with self._changed:
            pending = list(self._releases)
        futures.wait(pending, timeout=timeout)

    def _released(self, done: futures.Future[None]) -> None:
        with self._changed:
            self._releases.discard(done)

    def _reserve(self, user_id: str, indexes: range | list[int]) -> int | None:
        """Mark one of ``indexes`` that this instance does not hold as tried here; which."""
        with self._changed:
            here = self._free_here(user_id)
            free = [index for index in indexes if index in here]
            if not free:
                return None
            index = random.choice(free)  # noqa: S311 - spreads instances over the slots
            expiry = time.monotonic() + self._hold_for.total_seconds()
            self._here[(user_id, index)] = ("", expiry)
            return index

    def _free_here(self, user_id: str) -> set[int]:
        """The user's indexes this instance neither holds nor tries (a hold past its expiry,
        never given back, counts as free); call with the lock held."""
        now = time.monotonic()
        return {
            index
            for index in range(self._slots)
            if self._here.get((user_id, index), ("", 0.0))[1] <= now
        }

    def _forget(self, user_id: str, index: int, owner: str) -> None:
        with self._changed:
            if self._here.get((user_id, index), ("", 0.0))[0] == owner:
                del self._here[(user_id, index)]
                self._changed.notify_all()

    def _create(self, user_id: str, index: int, seen: Slot | None = None) -> Hold | None:
        """Take slot ``index`` (reserved here): create it, or take it over from version
        ``seen``; unreserved again when that fails."""
        owner = uuid.uuid4().hex
        expires_at = self._now() + self._hold_for
        version = None
        try:
            if seen is None:
                version = self._store.create(user_id, index, owner, expires_at)
            else:
                version = self._store.take_over(user_id, index, seen.version, owner, expires_at)
        finally:
            with self._changed:
                if version is None:
                    del self._here[(user_id, index)]
                else:
                    self._here[(user_id, index)] = (owner, self._here[(user_id, index)][1])
        return None if version is None else Hold(user_id, index, owner, version)

    def _free_or_expired(self, user_id: str) -> Hold | None:
        """Read the user's slots at once and take one that is missing or expired."""
        with self._changed:
            if not self._free_here(user_id):
                return None  # all held here: wait for one of ours to come back
        stored = self._store.slots(user_id)
        now = self._now()
        open_ = [i for i in range(self._slots) if i not in stored or stored[i].expires_at <= now]
        random.shuffle(open_)
        for index in open_:
            if self._reserve(user_id, [index]) is not None:
                hold = self._create(user_id, index, stored.get(index))
                if hold is not None:
                    return hold
        return None


_RELEASES = futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="gmail-slot-release")
"""Slots given back after a session, without the request waiting (see the module docstring)."""


class FirestoreGmailSlots:
    """:class:`SlotStore` as ``{collection}/{user_id}/gmail_slots/{index}`` documents with
    ``owner`` and ``expires_at`` (a TTL field)."""

    def __init__(self, client: firestore.Client, collection: str) -> None:
        self._client = client
        self._collection = collection

    def create(self, user_id: str, index: int, owner: str, expires_at: datetime) -> datetime | None:
        """See :meth:`SlotStore.create`."""
        from google.api_core.exceptions import AlreadyExists, GoogleAPICallError

        reference = self._slots(user_id).document(str(index))
        try:
            written = reference.create(
                {"owner": owner, "expires_at": expires_at},
                retry=None,
                timeout=WRITE_TIMEOUT_SECONDS,
            )
        except AlreadyExists:
            return None
        except GoogleAPICallError:
            # The answer may be lost, not the write: the slot is ours if it names us.
            snapshot = reference.get(timeout=WRITE_TIMEOUT_SECONDS)
            if snapshot.exists and (snapshot.to_dict() or {}).get("owner") == owner:
                found: datetime = snapshot.update_time
                return found
            raise
        version: datetime = written.update_time
        return version

    def take_over(
        self, user_id: str, index: int, seen: datetime, owner: str, expires_at: datetime
    ) -> datetime | None:
        """See :meth:`SlotStore.take_over`."""
        from google.api_core.exceptions import FailedPrecondition, NotFound

        reference = self._slots(user_id).document(str(index))
        try:
            written = reference.update(
                {"owner": owner, "expires_at": expires_at},
                option=self._client.write_option(last_update_time=seen),
                retry=None,
                timeout=WRITE_TIMEOUT_SECONDS,
            )
        except (FailedPrecondition, NotFound):
            return None
        version: datetime = written.update_time
        return version

    def slots(self, user_id: str) -> dict[int, Slot]:
        """See :meth:`SlotStore.slots`."""
        found: dict[int, Slot] = {}
        for snapshot in self._slots(user_id).stream():
            data = snapshot.to_dict() or {}
            if snapshot.id.isdigit() and "expires_at" in data:
                found[int(snapshot.id)] = Slot(data["expires_at"], snapshot.update_time)
        return found

    def give_back(self, user_id: str, index: int, version: datetime) -> None:
        """See :meth:`SlotStore.give_back`."""
        from google.api_core.exceptions import FailedPrecondition, NotFound

        reference = self._slots(user_id).document(str(index))
        with contextlib.suppress(FailedPrecondition, NotFound):  # taken over: no longer ours
            reference.delete(option=self._client.write_option(last_update_time=version))

    def _slots(self, user_id: str) -> firestore.CollectionReference:
        user = self._client.collection(self._collection).document(user_id)
        slots: firestore.CollectionReference = user.collection(SLOTS)
        return slots
