"""Listing a user's mailbox while they are offline: stored grant → Gmail → results.

The stored refresh token is used as it is; if the provider rotates it during the refresh, the new
one is written back, so it is never lost. A grant that no longer works marks the user
``reauth_required`` before the error goes up.
"""

from __future__ import annotations

import logging

from functions import gmail, google_errors
from functions.errors import ReauthRequired, UnknownUser
from functions.mailbox_request import MailboxRequest
from functions.reauth import notify_reauth
from functions.results import ResultPublisher
from functions.services import Services
from functions.token_store import Status

logger = logging.getLogger(__name__)


def list_mailbox(services: Services, request: MailboxRequest, results: ResultPublisher) -> None:
    """List every message matching ``request`` and publish the IDs page by page.

    Raises:
        UnknownUser: nothing is stored for the user.
        ReauthRequired: the grant is gone or too narrow (the user is marked).
        TransientError: worth retrying; nothing about the user changed.
        GmailRequestRejected: Gmail refused the request itself.
    """
    stored = services.token_store.get(request.user_id)
    if stored is None:
        raise UnknownUser("no credentials are stored for this user")
    token = stored.usable_refresh_token
    if stored.status is not Status.ACTIVE or token is None:
        reason = stored.status_reason or stored.status.value
        if not stored.reauth_notified:  # an earlier attempt failed before telling anyone
            notify_reauth(services, stored.user_id, stored.email, reason)
        raise ReauthRequired("the user must consent again", reason=reason)
    credentials = gmail.credentials_for(token, services.oauth_client)
    service = gmail.build_gmail(credentials, services.settings.gmail_api_root)
    try:
        for page in gmail.iter_message_pages(service, request):
            results.batch(page)
    except Exception as error:
        classified = google_errors.classify(error)
        if classified is None:
            raise
        if isinstance(classified, ReauthRequired):
            changed = services.token_store.mark_reauth_required(
                request.user_id, classified.reason, services.now()
            )
            logger.warning(
                "user needs to consent again",
                extra={
                    "json_fields": {
                        "event": "reauth_required",
                        "user_id": request.user_id,
                        "reason": classified.reason,
                        "transition": changed,
                    }
                },
            )
            if changed:
                notify_reauth(services, stored.user_id, stored.email, classified.reason)
        raise classified from None
    truncated = request.max_messages is not None and results.total >= request.max_messages
    results.complete(truncated=truncated)
    if credentials.refresh_token and credentials.refresh_token != token:
        services.token_store.update_refresh_token(
            request.user_id, credentials.refresh_token, services.now()
        )
    logger.info(
        "mailbox listed",
        extra={
            "json_fields": {
                "user_id": request.user_id,
                "request_id": request.request_id,
                "total": results.total,
                "pages": results.pages,
            }
        },
    )
