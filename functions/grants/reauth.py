"""Telling the pipeline that a user must consent again (``REAUTH_TOPIC``).

Sent once per transition to ``reauth_required``: the token store records the transition with
``reauth_notified`` false and this module flips it after Pub/Sub accepted the event, so an event
lost to a crash in between is sent by the next attempt, and a repeated failure sends nothing new.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from urllib.parse import urlencode

from functions.errors import ReauthRequired, TransientError, UnknownUser
from functions.grants.store import Status, StoredCredentials
from functions.services import Services

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 60.0


def authorize_link(base: str | None, email: str | None) -> str | None:
    """The consent link to give the user, hinted with their e-mail."""
    if base is None:
        return None
    if not email:
        return base
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}{urlencode({'login_hint': email})}"


def notify_reauth(services: Services, user_id: str, email: str | None, reason: str) -> None:
    """Publish ``{"user_id", "email", "reason", "authorize_url"}`` and record that it was sent.

    Raises:
        TransientError: Pub/Sub did not accept the event; the caller's retry will resend it.
    """
    topic = services.settings.reauth_topic_path()
    if topic is None:
        return
    event = {
        "user_id": user_id,
        "email": email,
        "reason": reason,
        "authorize_url": authorize_link(services.settings.authorize_url, email),
    }
    try:
        services.publisher.publish(
            topic, json.dumps(event).encode(), user_id=user_id, reason=reason
        ).result(timeout=PUBLISH_TIMEOUT_SECONDS)
    except Exception as error:
        raise TransientError(
            f"publishing the re-auth event failed: {type(error).__name__}"
        ) from None
    services.token_store.mark_reauth_notified(user_id)
    logger.warning(
        "re-auth event published", extra={"json_fields": {"user_id": user_id, "reason": reason}}
    )


def active_user(services: Services, user_id: str) -> StoredCredentials:
    """The user's stored credentials, if they may be used.

    Raises:
        UnknownUser: nothing is stored for the user.
        ReauthRequired: the user must consent again (re-telling ``REAUTH_TOPIC`` if an earlier
            attempt failed before it could).
    """
    stored = services.token_store.get(user_id)
    if stored is None:
        raise UnknownUser("no credentials are stored for this user")
    if stored.status is not Status.ACTIVE or stored.usable_refresh_token is None:
        reason = stored.status_reason or stored.status.value
        if not stored.reauth_notified:
            notify_reauth(services, stored.user_id, stored.email, reason)
        raise ReauthRequired("the user must consent again", reason=reason)
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


@contextlib.contextmanager
def marking_lost_grant(services: Services, user: StoredCredentials) -> Iterator[None]:
    """Run the block; if it finds the grant gone (:class:`ReauthRequired`), mark the user."""
    try:
        yield
    except ReauthRequired as lost:
        mark_reauth_required(services, user, lost.reason)
        raise
