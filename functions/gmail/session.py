"""Gmail calls for one user: the shared access token, retries within the budget, a per-user slot.

Every Gmail call of a mailbox listing, a push notification or a watch goes through a
:class:`GmailSession`; what a failure means comes from ``functions.google_errors``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from functions.config import Settings
from functions.errors import AccessTokenRefused, TransientError
from functions.gmail import api as gmail
from functions.gmail import retry
from functions.gmail.limits import gmail_slot
from functions.grants.access import TokenMinting, live_access_token
from functions.grants.store import StoredCredentials

if TYPE_CHECKING:
    import httplib2


class GmailAccess(TokenMinting, Protocol):
    """What a Gmail session uses: minting access tokens, the Gmail settings, and this thread's
    kept connection to Gmail."""

    settings: Settings

    @property
    def gmail_http(self) -> httplib2.Http: ...


class GmailSession:
    """Gmail calls for one user: a shared live access token, retries within the budget, and one
    new access token when Gmail refuses the current one (401, in or out of a batch: it may have
    been revoked, or expired early). Only the token endpoint refusing the refresh token
    (``invalid_grant``) means the user must consent again; a new token refused too is left to
    Pub/Sub's redelivery.

    Its calls, and its refreshes, go over the connections of the thread that made it, kept by the
    services: a session is used by one thread at a time (``paging`` lends it to its worker while
    the caller waits), so a request's page fetcher reuses them instead of opening its own."""

    def __init__(self, services: GmailAccess, user: StoredCredentials) -> None:
        self._services = services
        self._user = user
        self._budget = retry.Budget(services.settings.work_budget_seconds)
        self._token_transport = services.token_transport
        self._gmail_http = services.gmail_http
        self._token = live_access_token(services, user, transport=self._token_transport)
        self._service = self._build()

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
        self._token = live_access_token(
            self._services, self._user, refused=self._token, transport=self._token_transport
        )
        self._service = self._build()
        try:
            return retry.call(action, budget=self._budget, now=self._services.now)
        except AccessTokenRefused:
            raise TransientError("Gmail refused a newly minted access token too") from None

    def _build(self) -> gmail.GmailApi:
        api_root = self._services.settings.gmail_api_root
        return gmail.build_gmail(self._token, api_root, self._gmail_http)

    def _once(self, make_call: Callable[[gmail.GmailApi], Any]) -> Any:
        with gmail_slot(self._user.user_id):
            return make_call(self._service).execute(num_retries=0)
