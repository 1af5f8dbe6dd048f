"""Gmail calls for one user: the shared access token, retries within the budget, one of the
user's slots (``functions.gmail.limits``), and the user's quota units spent at the pace Gmail
allows (``functions.gmail.pacing``).

Every Gmail call of a mailbox listing, a push notification or a watch goes through a
:class:`GmailSession`; what a failure means comes from ``functions.google_errors``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from functions.config import Settings
from functions.errors import AccessTokenRefused, TransientError
from functions.gmail import api as gmail
from functions.gmail import pacing, retry
from functions.gmail.limits import CappingGmailCalls, Hold
from functions.grants.access import TokenMinting, live_access_token
from functions.grants.store import StoredCredentials


class GmailAccess(TokenMinting, CappingGmailCalls, Protocol):
    """What a Gmail session uses: minting access tokens, the Gmail settings, and this thread's
    Gmail client (its kept connection and the service built on it)."""

    settings: Settings

    @property
    def gmail(self) -> gmail.GmailClient: ...


class GmailSession:
    """Gmail calls for one user: a shared live access token, retries within the budget, and one
    new access token when Gmail refuses the current one (401, in or out of a batch: it may have
    been revoked, or expired early). Only the token endpoint refusing the refresh token
    (``invalid_grant``) means the user must consent again; a new token refused too is left to
    Pub/Sub's redelivery.

    Its calls, and its refreshes, go over the clients of the thread that made it, kept by the
    services: a session is used by one thread at a time (``paging`` lends it to its worker while
    the caller waits), so a request's page fetcher reuses them instead of opening its own. Each
    call is built and sent with the session's own access token (:meth:`GmailClient.acting_for`),
    so sessions for different users may take turns on one thread's client."""

    def __init__(
        self,
        services: GmailAccess,
        user: StoredCredentials,
        *,
        slot: Callable[[], Hold | None] | None = None,
    ) -> None:
        """Being used by one thread at a time, a session makes one Gmail call at a time; it holds
        one of the user's slots (``functions.gmail.limits``) from here until :meth:`close` (use
        it as a context manager). ``slot`` gives one taken ahead, if one was.

        Raises:
            TransientError: every slot of the user stayed held within the budget.
        """
        self._services = services
        self._user = user
        self._budget = retry.Budget(services.settings.work_budget_seconds)
        self._token_transport = services.token_transport
        self._gmail = services.gmail
        self._token = live_access_token(services, user, transport=self._token_transport)
        self._pacer = pacing.pacer_for(user.user_id, quota(services.settings))
        self._cap = services.gmail_cap
        self._slot = (slot and slot()) or self._cap.take(
            user.user_id, self._budget.left(), tried=slot is not None
        )

    def __enter__(self) -> GmailSession:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Give the slot back (in the background: nothing waits for it)."""
        self._cap.release(self._slot)

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
            api = self._gmail.acting_for(self._token)
            units = 0
            for key, make_call in make_calls.items():
                if key not in done:
                    request = make_call(api)
                    units += self._pacer.quota.cost(request.methodId)
                    batch.add(request, request_id=key)
            self._pacer.spend(units)
            batch.execute()
            for failure in failures.values():  # one refusal slows the pace once, not per call
                if self._note_refusal(failure):
                    break
            if failures:  # the first one decides: retried if transient, raised otherwise
                raise next(iter(failures.values()))

        self._refreshing(attempt)
        return done

    def calls_per_batch(self, method: str) -> int:
        """How many calls of ``method`` one batch may carry without outrunning the pace."""
        return self._pacer.calls_at_once(method)

    def expect(self, method: str, calls: int) -> None:
        """Raise at once if ``calls`` calls of ``method`` (``messages.get``) cannot all be paced
        within the budget left, so that work is cut between pages rather than in the middle of one.

        Raises:
            QuotaPaused: as said; a continuation or a redelivery goes on from here.
        """
        units = self._pacer.quota.cost(method) * calls
        self._pacer.check(units, self._budget.left(), self._budget.seconds)

    def _refreshing(self, action: Callable[[], Any]) -> Any:
        try:
            return retry.call(action, budget=self._budget, now=self._services.now)
        except AccessTokenRefused:
            pass  # expired early or revoked on its own: the refresh token decides
        self._token = live_access_token(
            self._services, self._user, refused=self._token, transport=self._token_transport
        )
        try:
            return retry.call(action, budget=self._budget, now=self._services.now)
        except AccessTokenRefused:
            raise TransientError("Gmail refused a newly minted access token too") from None

    def _once(self, make_call: Callable[[gmail.GmailApi], Any]) -> Any:
        request = make_call(self._gmail.acting_for(self._token))
        self._pacer.spend(self._pacer.quota.cost(request.methodId))
        try:
            return request.execute(num_retries=0)
        except Exception as error:
            self._note_refusal(error)
            raise

    def _note_refusal(self, error: BaseException) -> bool:
        """Slow the pacer down if Gmail refused a call for quota, stating when to retry (a
        refusal for too many calls in flight states no time, and says nothing of the pace).

        Returns:
            Whether it was such a refusal.
        """
        delay = retry.stated_delay(error, self._services.now())
        if delay is not None:
            self._pacer.refused(delay)
        return delay is not None


def quota(settings: Settings) -> pacing.Quota:
    """The per-user Gmail quota ``settings`` describe."""
    profile = pacing.QUOTAS[settings.gmail_quota_profile]
    return dataclasses.replace(profile, window_seconds=settings.gmail_quota_window_seconds)
