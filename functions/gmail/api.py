"""Step 4 of the guide: read the mailbox with the stored grant (the seed's ``build_service``
and ``ListMessages``).

The Gmail service comes from googleapiclient's bundled discovery document (no discovery round
trip at cold start) with its root taken from ``GMAIL_API_ROOT``. Each thread keeps one
:class:`GmailClient` (httplib2 is not thread-safe): its connection to Gmail, so that a warm
instance pays no TCP and TLS handshake per request, and the service built on it, so that it
parses the discovery document once rather than on every request. Calls carry the access token
their caller gives (from ``functions.grants.access``), and never refresh it on their own:
refreshing is coordinated across instances there. Listing asks for the largest page, 500 IDs
(``users.messages.list``), so N messages cost ⌈N/500⌉ calls.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from functions.errors import AccessTokenRefused

if TYPE_CHECKING:
    import httplib2
    from google.oauth2.credentials import Credentials

PAGE_SIZE = 500
"""Gmail's largest ``maxResults`` for ``users.messages.list``."""
TIMEOUT_SECONDS = 30.0
BATCH_PATH = "batch/gmail/v1"
"""Gmail's batch endpoint, relative to the API root."""

MessageRef = dict[str, str]


class GmailApi:
    """The Gmail v1 resources we call, each built once, when first used.

    googleapiclient builds a resource object anew, from the discovery document, on every
    ``users()`` or ``messages()`` call (about 0.7 ms); a mailbox read makes one call per page.
    """

    def __init__(self, service: Any) -> None:
        self.users = service.users()

    @functools.cached_property
    def messages(self) -> Any:
        """``users.messages``."""
        return self.users.messages()

    @functools.cached_property
    def history(self) -> Any:
        """``users.history`` (only the push path reads it)."""
        return self.users.history()


class GmailClient:
    """One thread's Gmail API: a kept connection, and the service built on it once.

    Building the service parses googleapiclient's discovery document (about 7 ms of CPU), which
    an instance serving 8 requests at once cannot afford on each. The service's credentials are
    this client's own; :meth:`acting_for` sets the caller's access token on them just before its
    calls are built and sent, so requests for different users may take turns on one thread, and
    a thread's client is used by one thread at a time, as its connection must be.
    """

    def __init__(self, api_root: str, transport: httplib2.Http | None = None) -> None:
        import google_auth_httplib2
        from googleapiclient.discovery import build

        self.transport = transport or new_transport()
        self._credentials = _access_token_credentials()(token=None)
        http = google_auth_httplib2.AuthorizedHttp(
            self._credentials, http=self.transport, refresh_status_codes=()
        )
        service = build(
            "gmail",
            "v1",
            http=http,
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": api_root},
        )
        self._api = GmailApi(service)

    def acting_for(self, access_token: str) -> GmailApi:
        """The Gmail API, sending ``access_token`` with the calls built and executed next.

        A 401 surfaces as :class:`AccessTokenRefused` for the caller to act on, whether it
        answers a call (an ``HttpError``, classified in ``google_errors``) or a part of a batch:
        there googleapiclient asks the credentials to refresh, and these say the token was
        refused instead of raising google-auth's ``RefreshError``.
        """
        self._credentials.token = access_token
        return self._api


def new_transport() -> httplib2.Http:
    """A connection pool to Gmail, for one thread to keep (see :class:`GmailClient`)."""
    import httplib2

    return httplib2.Http(timeout=TIMEOUT_SECONDS)


@functools.cache
def _access_token_credentials() -> type[Credentials]:
    """Credentials that hold an access token only; built once, when first needed."""
    from google.oauth2.credentials import Credentials

    class AccessTokenCredentials(Credentials):
        def refresh(self, request: object) -> None:
            raise AccessTokenRefused("Gmail refused the access token (401 inside a batch)")

    return AccessTokenCredentials


def list_request(
    api: GmailApi,
    *,
    page_token: str | None,
    remaining: int | None,
    query: str | None = None,
    label_ids: tuple[str, ...] = (),
    include_spam_trash: bool = False,
) -> Any:
    """The ``users.messages.list`` call for one result page (at most :data:`PAGE_SIZE` IDs)."""
    params: dict[str, Any] = {
        "userId": "me",
        "maxResults": min(PAGE_SIZE, remaining) if remaining else PAGE_SIZE,
        "includeSpamTrash": include_spam_trash,
    }
    if query:
        params["q"] = query
    if label_ids:
        params["labelIds"] = list(label_ids)
    if page_token:
        params["pageToken"] = page_token
    return api.messages.list(**params)


def message_refs(response: dict[str, Any]) -> list[MessageRef]:
    """The ``{"id", "threadId"}`` items of a list response."""
    return [
        {"id": str(item["id"]), "threadId": str(item.get("threadId", ""))}
        for item in response.get("messages", [])
    ]
