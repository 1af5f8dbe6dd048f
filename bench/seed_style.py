"""The seed's approach to reading a mailbox, on current libraries, as the baseline.

Google's sample builds fresh credentials from the stored refresh token on every use (so every
request refreshes), and ``ListMessages`` follows ``nextPageToken`` with Gmail's default page size
of 100.
"""

from __future__ import annotations

from typing import Any

from functions.services import Services

SEED_PAGE_SIZE = 100


def seed_list(services: Services, user_id: str, max_pages: int | None = None) -> int:
    """List the user's mailbox the seed's way; return how many IDs came back."""
    from googleapiclient.discovery import build

    from functions.grants.access import credentials_for

    stored = services.token_store.get(user_id)  # get_stored_credentials
    assert stored is not None
    assert stored.refresh_token is not None
    credentials = credentials_for(stored.refresh_token, services.oauth_client)
    service: Any = build(
        "gmail",
        "v1",
        credentials=credentials,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": services.settings.gmail_api_root},
    )
    messages = service.users().messages()
    request = messages.list(userId="me", includeSpamTrash=True, maxResults=SEED_PAGE_SIZE)
    listed = pages = 0
    while request is not None and (max_pages is None or pages < max_pages):
        response = request.execute()
        listed += len(response.get("messages", []))
        pages += 1
        request = messages.list_next(request, response)
    return listed
