"""Listing a user's mailbox while they are offline: stored grant → Gmail → results.

Each mailbox request runs once (``functions.event_ledger``), page by page: pages are published,
and every couple of seconds, once they are all accepted, the next page token is checkpointed, so
a run cut short by a crash or an outage resumes close to where it stopped when Pub/Sub
redelivers, and a page published twice carries the same result ID.
Gmail calls use the shared access token (``functions.access_tokens``), retry transient failures
within the invocation's budget (``functions.retry``), and take a per-user slot
(``functions.user_limits``). A grant that no longer works marks the user ``reauth_required`` and
tells ``REAUTH_TOPIC`` once.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from functions import gmail, google_errors, page_stream, retry
from functions.access_tokens import live_access_token
from functions.errors import (
    AccessTokenRefused,
    AppError,
    ReauthRequired,
    TransientError,
    UnknownUser,
)
from functions.event_ledger import Claim, Progress
from functions.mailbox_request import MailboxRequest
from functions.reauth import notify_reauth
from functions.results import ResultPublisher
from functions.services import Services
from functions.token_store import Status, StoredCredentials
from functions.user_limits import gmail_slot

logger = logging.getLogger(__name__)

CHECKPOINT_SECONDS = 2.0
"""How often a long listing records its progress. A resumed run republishes at most the pages
of the last two seconds, under the same result IDs; checkpointing every page would add a
Firestore write to every Gmail round trip."""


def read_mailbox(services: Services, request: MailboxRequest, event_id: str) -> None:
    """Run one mailbox request to its end, exactly once per event.

    Raises:
        AppError: retryable ones for Pub/Sub to redeliver; permanent ones after their error
            result was published (so the caller only acknowledges).
        Exception: anything unexpected, left for Pub/Sub to redeliver.
    """
    ledger = services.event_ledger
    owner = uuid.uuid4().hex
    claimed = ledger.claim(event_id, owner, services.now())
    fields = {"user_id": request.user_id, "request_id": request.request_id}
    if claimed.claim is Claim.DONE:
        logger.info("duplicate delivery ignored", extra={"json_fields": fields})
        return
    if claimed.claim is Claim.BUSY:
        raise TransientError("another delivery of this request is still being processed")
    results = ResultPublisher(
        services.publisher,
        services.settings.results_topic_path(),
        request.user_id,
        request.request_id,
    )
    try:
        progress = list_mailbox(
            services,
            request,
            results,
            claimed.progress,
            lambda progress: ledger.checkpoint(event_id, owner, progress, services.now()),
        )
    except Exception as error:
        classified = google_errors.classify(error)
        if classified is None:
            raise
        if classified.retryable:
            with contextlib.suppress(Exception):  # the lease expires by itself otherwise
                ledger.release(event_id, owner)
            raise classified from None
        results.error(classified.code, str(classified))
        ledger.finish(event_id, owner, classified.code, services.now())
        raise classified from None
    ledger.finish(event_id, owner, "complete", services.now())
    logger.info(
        "mailbox listed",
        extra={"json_fields": {**fields, "total": progress.total, "pages": progress.pages}},
    )


def list_mailbox(
    services: Services,
    request: MailboxRequest,
    results: ResultPublisher,
    progress: Progress,
    checkpoint: Callable[[Progress], None],
) -> Progress:
    """List every message matching ``request`` from ``progress`` on, publishing page by page.

    Raises:
        UnknownUser: nothing is stored for the user.
        ReauthRequired: the grant is gone or too narrow (the user is marked).
        TransientError: worth retrying; progress so far is checkpointed.
        GmailRequestRejected: Gmail refused the request itself.
    """
    user = active_user(services, request.user_id)
    try:
        session = GmailSession(services, user)
        progress = _pages(session, request, results, progress, checkpoint)
    except ReauthRequired as lost:
        mark_reauth_required(services, user, lost.reason)
        raise
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

    Pages come from ``functions.page_stream``: the next one is on its way while the current one
    is published (except with ``format=metadata``, whose batch calls share the session).
    """
    listed_before = progress.pages > 0 and progress.page_token is None
    if listed_before:  # an earlier attempt listed everything but did not complete
        return progress
    limit = request.max_messages

    def fetch(page_token: str | None, remaining: int | None) -> Any:
        return session.execute(
            functools.partial(
                gmail.list_request, request=request, page_token=page_token, remaining=remaining
            )
        )

    remaining = None if limit is None else limit - progress.total
    if remaining == 0:
        return progress
    metadata = request.format == "metadata"
    stream = page_stream.pages_in_turn if metadata else page_stream.pages
    last_checkpoint = time.monotonic()
    with contextlib.closing(stream(fetch, progress.page_token, remaining)) as responses:
        for response in responses:
            page: list[dict[str, str]] = gmail.message_refs(response)[:remaining]
            next_token = response.get("nextPageToken") or None
            remaining = None if limit is None else limit - progress.total - len(page)
            if page and metadata:
                from functions.metadata import describe

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
    return progress


class GmailSession:
    """Gmail calls for one user: a shared live access token, retries within the budget, and one
    new access token when Gmail refuses the current one (401, in or out of a batch: it may have
    been revoked, or expired early). Only the token endpoint refusing the refresh token
    (``invalid_grant``) means the user must consent again; a new token refused too is left to
    Pub/Sub's redelivery."""

    def __init__(self, services: Services, user: StoredCredentials) -> None:
        self._services = services
        self._user = user
        self._budget = retry.Budget(services.settings.work_budget_seconds)
        self._token = live_access_token(services, user)
        self._service = gmail.build_gmail(self._token, services.settings.gmail_api_root)

    def execute(self, make_call: Callable[[gmail.GmailApi], Any]) -> Any:
        """Build the call on the service and execute it, as the rules above say."""
        return self._refreshing(lambda: self._once(make_call))

    def execute_batch(
        self, make_calls: Mapping[str, Callable[[gmail.GmailApi], Any]]
    ) -> dict[str, Any]:
        """Run the calls (at most 100) as one batch request; retry failed ones within the budget.

        Returns:
            Each call's response by key; ``None`` for a message Gmail no longer has (404).
        """
        from googleapiclient.http import BatchHttpRequest

        done: dict[str, Any] = {}
        batch_uri = self._services.settings.gmail_api_root.rstrip("/") + "/" + gmail.BATCH_PATH

        def attempt() -> None:
            failures: dict[str, Exception] = {}

            def collect(key: str, response: Any, exception: Exception | None) -> None:
                if exception is None:
                    done[key] = response
                elif getattr(getattr(exception, "resp", None), "status", 0) == 404:
                    done[key] = None
                else:
                    failures[key] = exception

            batch = BatchHttpRequest(callback=collect, batch_uri=batch_uri)
            for key, make_call in make_calls.items():
                if key not in done:
                    batch.add(make_call(self._service), request_id=key)
            with gmail_slot(self._user.user_id):
                batch.execute()
            if failures:  # the first one decides: retried if transient, raised otherwise
                raise next(iter(failures.values()))

        self._refreshing(attempt)
        return done

    def _refreshing(self, action: Callable[[], Any]) -> Any:
        try:
            return retry.call(action, budget=self._budget, now=self._services.now)
        except AccessTokenRefused:
            pass  # expired early or revoked on its own: the refresh token decides
        self._token = live_access_token(self._services, self._user, refused=self._token)
        self._service = gmail.build_gmail(self._token, self._services.settings.gmail_api_root)
        try:
            return retry.call(action, budget=self._budget, now=self._services.now)
        except AccessTokenRefused:
            raise TransientError("Gmail refused a newly minted access token too") from None

    def _once(self, make_call: Callable[[gmail.GmailApi], Any]) -> Any:
        with gmail_slot(self._user.user_id):
            return make_call(self._service).execute(num_retries=0)


def active_user(services: Services, user_id: str) -> StoredCredentials:
    """The user's stored credentials, if they may be used.

    Raises:
        UnknownUser: nothing is stored for the user.
        ReauthRequired: the user must consent again (re-telling ``REAUTH_TOPIC`` if an earlier
            attempt failed before it could), or their time-limited grant has ended.
    """
    stored = services.token_store.get(user_id)
    if stored is None:
        raise UnknownUser("no credentials are stored for this user")
    if stored.status is not Status.ACTIVE or stored.usable_refresh_token is None:
        reason = stored.status_reason or stored.status.value
        if not stored.reauth_notified:
            notify_reauth(services, stored.user_id, stored.email, reason)
        raise ReauthRequired("the user must consent again", reason=reason)
    if stored.grant_expires_at is not None and stored.grant_expires_at <= services.now():
        # A time-limited grant has ended: Google would refuse the token, so it is not asked.
        mark_reauth_required(services, stored, "grant_expired")
        raise ReauthRequired("the user's time-limited grant has ended", reason="grant_expired")
    return stored


def mark_reauth_required(services: Services, user: StoredCredentials, reason: str) -> None:
    """Mark the user, and tell ``REAUTH_TOPIC`` on the transition."""
    changed = services.token_store.mark_reauth_required(user.user_id, reason, services.now())
    logger.warning(
        "user needs to consent again",
        extra={
            "json_fields": {
                "event": "reauth_required",
                "user_id": user.user_id,
                "reason": reason,
                "transition": changed,
            }
        },
    )
    if changed:
        notify_reauth(services, user.user_id, user.email, reason)


__all__ = ["AppError", "GmailSession", "active_user", "list_mailbox", "read_mailbox"]
