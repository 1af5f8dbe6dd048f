"""Step 4 of the guide: read the mailbox with the stored grant (the seed's ``build_service``
and ``ListMessages``).

The Gmail service comes from googleapiclient's bundled discovery document (no discovery round
trip at cold start) with its root taken from ``GMAIL_API_ROOT``. Listing asks for the maximum
page of 500 IDs (``users.messages.list``), so N messages cost ⌈N/500⌉ calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from functions.mailbox_request import MailboxRequest
from functions.oauth_client import OAuthClient

if TYPE_CHECKING:
    from google.oauth2.credentials import Credentials

PAGE_SIZE = 500
"""Gmail's largest ``maxResults`` for ``users.messages.list``."""
TIMEOUT_SECONDS = 30.0
NUM_RETRIES = 2
"""googleapiclient's own retries (with backoff) of 429 and 5xx within one invocation."""

MessageRef = dict[str, str]


def credentials_for(refresh_token: str, client: OAuthClient) -> Credentials:
    """User credentials that mint access tokens from the stored refresh token.

    No scopes are passed: the refresh then yields the whole grant, and google-auth does not
    refuse a grant whose scope string is spelled differently from the request.
    """
    from google.oauth2.credentials import Credentials

    return Credentials(  # type: ignore[no-untyped-call]
        token=None,
        refresh_token=refresh_token,
        token_uri=client.token_uri,
        client_id=client.client_id,
        client_secret=client.client_secret,
    )


def build_gmail(credentials: Credentials, api_root: str) -> Any:
    """A Gmail v1 service authorized with ``credentials``."""
    import google_auth_httplib2
    import httplib2
    from googleapiclient.discovery import build

    http = google_auth_httplib2.AuthorizedHttp(
        credentials, http=httplib2.Http(timeout=TIMEOUT_SECONDS)
    )
    return build(
        "gmail",
        "v1",
        http=http,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": api_root},
    )


def iter_message_pages(service: Any, request: MailboxRequest) -> Iterator[list[MessageRef]]:
    """Yield the matching message references page by page, following ``nextPageToken``.

    Stops at ``request.max_messages`` when set; the last page is cut to fit.
    """
    remaining = request.max_messages
    params: dict[str, Any] = {
        "userId": "me",
        "maxResults": min(PAGE_SIZE, remaining) if remaining else PAGE_SIZE,
        "includeSpamTrash": request.include_spam_trash,
    }
    if request.query:
        params["q"] = request.query
    if request.label_ids:
        params["labelIds"] = list(request.label_ids)
    messages = service.users().messages()
    call = messages.list(**params)
    while call is not None:
        response = call.execute(num_retries=NUM_RETRIES)
        page = [
            {"id": str(item["id"]), "threadId": str(item.get("threadId", ""))}
            for item in response.get("messages", [])
        ]
        if remaining is not None:
            page = page[:remaining]
            remaining -= len(page)
        if page:
            yield page
        if remaining == 0:
            return
        call = messages.list_next(call, response)
