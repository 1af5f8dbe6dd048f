"""At most a few Gmail calls in flight per user from one instance.

Gmail limits concurrent requests per user (it answers 429 "Too many concurrent requests for
user" past it), and an instance serving several requests for one user at once would hit that
limit itself (the event functions serve 8 requests at once: ``sizing.concurrency``). A
semaphore per user keeps each instance polite, whichever of its threads and ``Services`` call.
Instances do not share it: several instances serving one user at once may still meet Gmail's
429, which is retried within the work budget like any rate limit. The per-user quota in units is
paced separately (``functions.gmail.pacing``); refusals are waited out (``functions.gmail.retry``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

MAX_CALLS_PER_USER = 4

_lock = threading.Lock()
_slots: dict[str, threading.BoundedSemaphore] = {}


@contextlib.contextmanager
def gmail_slot(user_id: str) -> Iterator[None]:
    """Hold one of the user's call slots for the duration of the block."""
    with _lock:
        slot = _slots.setdefault(user_id, threading.BoundedSemaphore(MAX_CALLS_PER_USER))
    with slot:
        yield
