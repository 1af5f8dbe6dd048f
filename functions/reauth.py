"""Telling the pipeline that a user must consent again (``REAUTH_TOPIC``).

Sent once per transition to ``reauth_required``: the token store records the transition with
``reauth_notified`` false and this module flips it after Pub/Sub accepted the event, so an event
lost to a crash in between is sent by the next attempt, and a repeated failure sends nothing new.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import urlencode

from functions.errors import TransientError
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
