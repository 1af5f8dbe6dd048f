"""Listing a user's mailbox while they are offline: stored grant → Gmail → results.

Each mailbox request runs once (``functions.pipeline.ledger``), page by page: pages are published,
and every couple of seconds, once they are all accepted, the next page token is checkpointed, so
a run cut short by a crash or an outage resumes close to where it stopped when Pub/Sub
redelivers, and a page published twice carries the same result ID.
Gmail calls use the shared access token (``functions.grants.access``), retry transient failures
within the invocation's budget (``functions.gmail.retry``), and hold one of the user's slots
(``functions.gmail.limits``), taken alongside the ledger's claim. A grant that no longer works
marks the user ``reauth_required`` and tells ``REAUTH_TOPIC`` once. A request refused before any
of this is answered by :func:`refuse_request`.

Every request comes from one pipeline (the topic it was published to), and is answered on that
pipeline's results topic only. A user who did not grant the pipeline, or who is unknown, gets
``not_authorized`` there before anything of theirs is read.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from functions.errors import (
    AppError,
    GmailRequestRejected,
    MalformedRequest,
    QuotaPaused,
    ReauthRequired,
    TransientError,
)
from functions.gmail import api as gmail
from functions.gmail import paging
from functions.gmail.limits import Hold
from functions.gmail.metadata import describe
from functions.gmail.session import GmailAccess, GmailSession
from functions.grants.reauth import Reauthorizing, active_user, marking_lost_grant
from functions.grants.store import StoredCredentials
from functions.pipeline.ledger import (
    REPLAY_OF,
    EventLedger,
    Progress,
    exactly_once,
    read_alongside,
)
from functions.pipeline.requests import MailboxRequest
from functions.pipeline.results import ResultPublisher

if TYPE_CHECKING:
    from google.cloud.pubsub_v1 import PublisherClient

logger = logging.getLogger(__name__)


class ReadingMailboxes(GmailAccess, Reauthorizing, Protocol):
    """What reading a mailbox uses (the composition root provides it)."""

    @property
    def event_ledger(self) -> EventLedger: ...
    @property
    def publisher(self) -> PublisherClient: ...


CHECKPOINT_SECONDS = 2.0
"""How often a long listing records its progress. A resumed run republishes at most the pages
of the last two seconds, under the same result IDs; checkpointing every page would add a
Firestore write to every Gmail round trip."""


def read_mailbox(
    services: ReadingMailboxes, pipeline: str, request: MailboxRequest, event_id: str
) -> None:
    """Run one mailbox request of ``pipeline`` to its end, exactly once per event.

    Raises:
        AppError: retryable ones for Pub/Sub to redeliver; permanent ones after their error
            result was published (so the caller only acknowledges).
        Exception: anything unexpected, left for Pub/Sub to redeliver.
    """
    fields = {"user_id": request.user_id, "request_id": request.request_id}
    results = ResultPublisher(
        services.publisher,
        services.settings.results_topic_path(pipeline),
        request.user_id,
        request.request_id,
    )
    # While claiming; the grant is checked on this read, before any token is opened. A slot
    # that no session takes on (a duplicate, a user not authorized) goes back when it is over.
    stored = read_alongside(services.token_store.get, request.user_id, granted_to=pipeline)
    slot = read_alongside(services.gmail_cap.try_take, request.user_id)
    try:
        progress = exactly_once(
            services.event_ledger,
            event_id,
            lambda progress, checkpoint: list_mailbox(
                services,
                pipeline,
                request,
                results,
                progress,
                checkpoint,
                read=stored.result,
                slot=slot.result,
            ),
            now=services.now,
            on_failure=lambda error: results.error(error.code, str(error), reason=_reason(error)),
        )
    finally:
        services.gmail_cap.release_taken(slot)
    if progress is None:
        return
    logger.info(
        "mailbox listed",
        extra={"json_fields": {**fields, "total": progress.total, "pages": progress.pages}},
    )


def refuse_request(services: ReadingMailboxes, pipeline: str, error: MalformedRequest) -> None:
    """Tell the sender (``pipeline``) of a refused request why, if it named a user or a
    request ID.

    The ``invalid_request`` error is published under ``<request_id>:error`` like any other, so a
    redelivery publishes a duplicate that consumers drop. A request that named neither reaches
    nobody: the caller only logs it.

    Raises:
        TransientError: publishing failed; Pub/Sub redelivers and this runs again.
    """
    if not error.names_a_request:
        return
    results = ResultPublisher(
        services.publisher,
        services.settings.results_topic_path(pipeline),
        error.user_id,
        error.request_id or "",
    )
    results.error("invalid_request", "the mailbox request was refused", reason=str(error))


def _reason(error: AppError) -> str | None:
    """The specific cause an error completion carries, when there is one."""
    if isinstance(error, GmailRequestRejected | ReauthRequired):
        return error.reason
    return None


def list_mailbox(
    services: ReadingMailboxes,
    pipeline: str,
    request: MailboxRequest,
    results: ResultPublisher,
    progress: Progress,
    checkpoint: Callable[[Progress], None],
    *,
    read: Callable[[], StoredCredentials | None] | None = None,
    slot: Callable[[], Hold | None] | None = None,
) -> Progress:
    """List every message matching ``request`` from ``progress`` on, publishing page by page.

    ``read`` gives the user's document, and ``slot`` one of their Gmail slots, when they were
    taken ahead (see :func:`read_mailbox`).

    Raises:
        NotAuthorized: the user is unknown or did not grant ``pipeline``.
        ReauthRequired: the grant is gone or too narrow (the user is marked).
        TransientError: worth retrying; progress so far is checkpointed.
        GmailRequestRejected: Gmail refused the request itself.
    """
    user = active_user(services, request.user_id, pipeline=pipeline, read=read)
    with marking_lost_grant(services, user), GmailSession(services, user, slot=slot) as session:
        progress = _pages(session, request, results, progress, checkpoint)
    limit = request.max_messages
    results.complete(
        total=progress.total,
        pages=progress.pages,
        truncated=limit is not None and progress.total >= limit,
    )
    return progress


def _pages(
    session: GmailSession,
    request: MailboxRequest,
    results: ResultPublisher,
    progress: Progress,
    checkpoint: Callable[[Progress], None],
) -> Progress:
    """Fetch, publish and checkpoint pages from ``progress`` on.

    Pages come from ``functions.gmail.paging``: the next one is on its way while the current one
    is published (except with ``format=metadata``, whose batch calls share the session).
    """
    listed_before = progress.pages > 0 and progress.page_token is None
    if listed_before:  # an earlier attempt listed everything but did not complete
        return progress
    limit = request.max_messages

    def fetch(page_token: str | None, remaining: int | None) -> Any:
        return session.execute(
            functools.partial(
                gmail.list_request,
                query=request.query,
                label_ids=request.label_ids,
                include_spam_trash=request.include_spam_trash,
                page_token=page_token,
                remaining=remaining,
            )
        )

    remaining = None if limit is None else limit - progress.total
    if remaining == 0:
        return progress
    started = progress
    metadata = request.format == "metadata"
    stream = paging.pages_in_turn if metadata else paging.pages
    last_checkpoint = time.monotonic()
    try:
        with contextlib.closing(stream(fetch, progress.page_token, remaining)) as responses:
            for response in responses:
                page: list[dict[str, str]] = gmail.message_refs(response)[:remaining]
                next_token = response.get("nextPageToken") or None
                remaining = None if limit is None else limit - progress.total - len(page)
                if page and metadata:
                    page = describe(session, page)
                if page:
                    results.batch(progress.pages + 1, page)
                    progress = Progress(next_token, progress.pages + 1, progress.total + len(page))
                else:
                    progress = replace(progress, page_token=next_token)
                if next_token is None or remaining == 0:
                    break
                if time.monotonic() - last_checkpoint >= CHECKPOINT_SECONDS:
                    results.flush()  # everything before the checkpoint is published first
                    checkpoint(progress)
                    last_checkpoint = time.monotonic()
    except TransientError as error:
        # Gmail's quota or the budget ended this invocation: what was read so far is kept
        with contextlib.suppress(Exception):  # if it cannot be, the last checkpoint holds
            results.flush()
            checkpoint(progress)
            if isinstance(error, QuotaPaused):  # only progress on record may be continued
                error.progressed = progress != started
        raise
    return progress


CONTINUE_TIMEOUT_SECONDS = 30.0


def continue_paused(
    publisher: PublisherClient, topic: str, message: dict[str, Any], pause: QuotaPaused
) -> None:
    """Continue a read that ``pause`` ended after progress, by a new message instead of a
    redelivery: the same data and attributes on the same requests ``topic``, with ``REPLAY_OF``
    naming the original message, so the ledger resumes the original event's checkpoint under
    its request and result IDs. Pub/Sub counts redeliveries of one message toward
    ``max_delivery_attempts``; a long paced read would be dead-lettered although every pause
    made progress. A pause without progress is re-raised (a redelivery, with backoff), so
    nothing can loop.

    Raises:
        QuotaPaused: the pause made no progress.
        TransientError: the continuation could not be published; the delivery is redelivered.
    """
    if not pause.progressed:
        raise pause
    attributes = dict(message.get("attributes") or {})
    attributes[REPLAY_OF] = attributes.get(REPLAY_OF) or str(
        message.get("messageId") or message.get("message_id") or ""
    )
    data = base64.b64decode(str(message.get("data", "")))
    try:
        publisher.publish(topic, data, **attributes).result(timeout=CONTINUE_TIMEOUT_SECONDS)
    except Exception as error:
        raise TransientError("the paused read's continuation was not published") from error
    logger.info(
        "paused read continued by a new message",
        extra={"json_fields": {"replay_of": attributes[REPLAY_OF]}},
    )


__all__ = ["continue_paused", "list_mailbox", "read_mailbox", "refuse_request"]
