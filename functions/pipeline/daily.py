"""The daily job, fanned out: one unit of work per user, through Pub/Sub.

Cloud Scheduler calls ``renew_watches`` once a day. Walking every user in that one invocation
would outlast any deadline at ten thousand users, and one user's failure would fail (and, on the
scheduler's retry, redo) everyone's. So ``renew_watches`` only dispatches (:func:`dispatch`):
it pages through the users' document IDs (an empty projection, no field read) and publishes one
small message per user, ``{"user_id", "run_id"}``, to ``UPKEEP_TOPIC``. ``upkeep_user`` takes
each (:func:`upkeep_user`) and does that user's share, in this order:

1. the grant's upkeep (``grants.upkeep``): the warning before a time-limited grant ends, the
   mark once it has, the refresh of an idle one, the retry of a failed revocation;
2. then, if the user is still active and watched, the renewal of their Gmail watch
   (``pipeline.watch``): an ended grant renews no watch.

The run ID is the day (UTC), so every delivery of a user's unit that day, a redelivery, a
replayed dead letter or a second dispatch after the scheduler retried, runs it once
(``pipeline.ledger.exactly_once``, keyed by run and user rather than by Pub/Sub message). A
failure that may pass is redelivered for that user alone, and dead-lettered after the push
subscription's attempts; one that cannot is logged and acknowledged (``handlers.pubsub_events``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from functions.consent.identify import is_user_id
from functions.errors import AppError, MalformedRequest, TransientError
from functions.grants.store import Status
from functions.grants.upkeep import GrantUpkeep, keep_grant_alive
from functions.pipeline.ledger import EventLedger, exactly_once
from functions.pipeline.push import json_message
from functions.pipeline.watch import Watching, renew_watch

if TYPE_CHECKING:
    from google.cloud.pubsub_v1 import PublisherClient

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 60.0
_RUN_ID_BYTES = 64
LEDGER_PREFIX = "daily-upkeep"
"""The ledger key of a user's unit: ``daily-upkeep/<run ID>/<user ID>``."""


class DailyUpkeep(GrantUpkeep, Watching, Protocol):
    """What the daily job uses (the composition root provides it)."""

    @property
    def event_ledger(self) -> EventLedger: ...
    @property
    def publisher(self) -> PublisherClient: ...


@dataclass(frozen=True)
class UnitOfWork:
    """One user's share of one day's run."""

    user_id: str
    run_id: str

    @property
    def ledger_key(self) -> str:
        """The same for every delivery of this unit, whichever message carried it."""
        return f"{LEDGER_PREFIX}/{self.run_id}/{self.user_id}"


@dataclass(frozen=True)
class Dispatched:
    """What :func:`dispatch` did."""

    run_id: str
    users: int

    def as_json(self) -> dict[str, object]:
        """The ``renew_watches`` answer."""
        return {"run_id": self.run_id, "dispatched": self.users}


def run_id_of_today(services: DailyUpkeep) -> str:
    """Today's run ID: the UTC date, so a second dispatch the same day repeats no one's unit."""
    return services.now().date().isoformat()


def dispatch(services: DailyUpkeep, run_id: str | None = None) -> Dispatched:
    """Publish one unit of work per stored user to ``UPKEEP_TOPIC``, a page at a time.

    Every user is dispatched, whatever their status: the status is read once, by the unit,
    where it is acted on (a tombstone's revocation is retried, a lapsed user is passed over).

    Raises:
        ConfigError: ``UPKEEP_TOPIC`` is not set.
        TransientError: a publish failed; the scheduler's retry dispatches again, and the
            units already done that day are not repeated.
    """
    run_id = run_id or run_id_of_today(services)
    topic = services.settings.upkeep_topic_path()
    users = 0
    for page in services.token_store.user_ids():
        pending = [
            services.publisher.publish(
                topic,
                json.dumps({"user_id": user_id, "run_id": run_id}).encode(),
                user_id=user_id,
                run_id=run_id,
            )
            for user_id in page
        ]
        try:
            for future in pending:
                future.result(timeout=PUBLISH_TIMEOUT_SECONDS)
        except Exception as error:
            raise TransientError(
                f"publishing the daily units failed: {type(error).__name__}"
            ) from None
        users += len(page)
    dispatched = Dispatched(run_id, users)
    logger.info("daily upkeep dispatched", extra={"json_fields": dispatched.as_json()})
    return dispatched


def parse_unit(event_data: Any) -> UnitOfWork:
    """Read ``{"user_id", "run_id"}`` out of a Pub/Sub CloudEvent's data.

    Raises:
        MalformedRequest: anything else.
    """
    body = json_message(event_data, "the event carries no daily unit of work")
    user_id, run_id = body.get("user_id"), body.get("run_id")
    if not is_user_id(user_id):
        raise MalformedRequest("the daily unit has no valid user_id")
    if (
        not (isinstance(run_id, str) and run_id.isascii() and run_id.isprintable())
        or not 0 < len(run_id) <= _RUN_ID_BYTES
    ):
        raise MalformedRequest("the daily unit has no valid run_id")
    return UnitOfWork(user_id=user_id, run_id=run_id)


def upkeep_user(services: DailyUpkeep, unit: UnitOfWork) -> dict[str, str | None] | None:
    """Do one user's share of the day, once however often it is delivered.

    Returns:
        What was done (``grant``: an outcome of ``grants.upkeep`` or ``None``; ``watch``:
        ``renewed`` or ``None``), or ``None`` when an earlier delivery already did it.

    Raises:
        AppError: the unit failed; ``retryable`` says whether it is worth redelivering.
    """
    return exactly_once(
        services.event_ledger,
        unit.ledger_key,
        lambda _progress, _checkpoint: _upkeep(services, unit.user_id),
        now=services.now,
    )


def _upkeep(services: DailyUpkeep, user_id: str) -> dict[str, str | None]:
    found = services.watch_positions.find_user(user_id)
    if found is None:
        return {"grant": None, "watch": None}  # disconnected since the dispatch
    user, watch = found
    fields = {"user_id": user_id}
    try:
        grant = keep_grant_alive(services, user)
    except AppError as error:
        logger.warning(
            "grant upkeep failed", extra={"json_fields": {**fields, "error": error.code}}
        )
        raise
    renewed = None
    if user.status is Status.ACTIVE and watch is not None and grant not in ("expired", "lost"):
        try:
            renew_watch(services, user)
        except AppError as error:
            logger.warning(
                "watch renewal failed", extra={"json_fields": {**fields, "error": error.code}}
            )
            raise
        renewed = "renewed"
    outcome = {"grant": grant, "watch": renewed}
    logger.info("daily upkeep done", extra={"json_fields": {**fields, **outcome}})
    return outcome
