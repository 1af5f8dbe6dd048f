"""Telling the pipelines that a user must consent again (``REAUTH_TOPIC``).

The event goes to the re-auth topic of each pipeline the user granted, and to no other: its
``authorize_url`` may be e-mailed to the user, so only a pipeline the user chose may hear of them.
Sent once per transition to ``reauth_required``: the token store records the transition with
``reauth_notified`` false and this module flips it after Pub/Sub accepted the event, so an event
lost to a crash in between is sent by the next attempt, and a repeated failure sends nothing new.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlencode

from functions.clock import Clock
from functions.config import Settings
from functions.errors import NotAuthorized, ReauthRequired, TransientError, UnknownUser
from functions.grants.store import GrantStore, Status, StoredCredentials, UserDocuments

if TYPE_CHECKING:
    from google.cloud.pubsub_v1 import PublisherClient

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 60.0
GRANT_EXPIRED = "grant_expired"
"""The re-auth reason once a time-limited grant has ended (``grants.upkeep`` says so first)."""


class ReauthStatus(UserDocuments):
    """The re-auth status on the user's document: the transition and whether it was told."""

    def mark_required(self, user_id: str, reason: str, now: datetime) -> bool:
        """Flag that the user must consent again; ``True`` only on the transition.

        The transition leaves ``reauth_notified`` false until :meth:`mark_notified`, so a
        re-auth event lost to a crash is sent on the next attempt, and only once.
        """
        from google.cloud import firestore

        reference = self._document(user_id)

        @firestore.transactional
        def mark(transaction: firestore.Transaction) -> bool:
            snapshot = reference.get(transaction=transaction)
            data = snapshot.to_dict() if snapshot.exists else None
            if data is None or data.get("status") != Status.ACTIVE.value:
                return False
            transaction.update(
                reference,
                {
                    "status": Status.REAUTH_REQUIRED.value,
                    "status_reason": reason,
                    "reauth_notified": False,
                    "updated_at": now,
                },
            )
            return True

        return bool(mark(self._client.transaction()))

    def mark_notified(self, user_id: str) -> None:
        """Record that the re-auth event for the current transition was published."""
        self._document(user_id).update({"reauth_notified": True})


class Reauthorizing(Protocol):
    """What reading a user and telling ``REAUTH_TOPIC`` use (the composition root provides it)."""

    settings: Settings
    now: Clock

    @property
    def token_store(self) -> GrantStore: ...
    @property
    def reauth_status(self) -> ReauthStatus: ...
    @property
    def publisher(self) -> PublisherClient: ...


def authorize_link(base: str | None, email: str | None, pipeline: str) -> str | None:
    """The consent link to give the user for ``pipeline``, hinted with their e-mail.

    It names the pipeline: with several, ``authorize`` refuses a link that does not.
    """
    if base is None:
        return None
    params = {"pipeline": pipeline, **({"login_hint": email} if email else {})}
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}{urlencode(params)}"


def notify_reauth(services: Reauthorizing, user: StoredCredentials, reason: str) -> None:
    """Publish ``{"user_id", "email", "reason", "authorize_url"}`` to the re-auth topic of each
    pipeline the user granted, each with the consent link for that pipeline, and record that it
    was sent.

    Raises:
        TransientError: Pub/Sub did not accept the event; the caller's retry will resend it
            (a pipeline that got it already drops the duplicate, or acts on it twice).
    """
    sent = []
    try:
        for pipeline in user.pipelines:
            topic = services.settings.reauth_topic_path(pipeline)
            if topic is None:
                continue
            event = {
                "user_id": user.user_id,
                "email": user.email,
                "reason": reason,
                "authorize_url": authorize_link(
                    services.settings.authorize_url, user.email, pipeline
                ),
            }
            data = json.dumps(event).encode()
            sent.append(
                services.publisher.publish(topic, data, user_id=user.user_id, reason=reason)
            )
        for future in sent:
            future.result(timeout=PUBLISH_TIMEOUT_SECONDS)
    except Exception as error:
        raise TransientError(
            f"publishing the re-auth event failed: {type(error).__name__}"
        ) from None
    if not sent:
        return
    services.reauth_status.mark_notified(user.user_id)
    logger.warning(
        "re-auth event published",
        extra={"json_fields": {"user_id": user.user_id, "reason": reason, "pipelines": len(sent)}},
    )


def active_user(
    services: Reauthorizing,
    user_id: str,
    *,
    pipeline: str | None = None,
    read: Callable[[], StoredCredentials | None] | None = None,
) -> StoredCredentials:
    """The user's stored credentials, if they may be used (by ``pipeline``, when one asks).

    Args:
        services: the token store and where a lost grant is told.
        user_id: whose credentials.
        pipeline: the pipeline asking, if one does.
        read: the user's document already on its way (a mailbox request reads it while the
            ledger claims the event), read as ``token_store.get(user_id, granted_to=pipeline)``
            reads it, so a pipeline not granted opens no token; by default it is read here.

    Raises:
        NotAuthorized: ``pipeline`` is given and the user is unknown or did not grant it;
            checked first, so such a request touches nothing of the user's.
        UnknownUser: nothing is stored for the user.
        ReauthRequired: the user must consent again (re-telling ``REAUTH_TOPIC`` if an earlier
            attempt failed before it could), or their time-limited grant has ended.
    """
    stored = read() if read is not None else services.token_store.get(user_id, granted_to=pipeline)
    if stored is not None and stored.status is Status.DISCONNECTING:
        stored = None  # the user asked to be forgotten: as if nothing were stored
    if stored is None and pipeline is not None:
        raise NotAuthorized("the user has not granted this pipeline access to their mailbox")
    if stored is None:
        raise UnknownUser("no credentials are stored for this user")
    if stored.status is not Status.ACTIVE or stored.usable_refresh_token is None:
        reason = stored.status_reason or stored.status.value
        if not stored.reauth_notified:
            notify_reauth(services, stored, reason)
        raise ReauthRequired("the user must consent again", reason=reason)
    if stored.grant_expires_at is not None and stored.grant_expires_at <= services.now():
        # A time-limited grant has ended: Google would refuse the token, so it is not asked.
        mark_reauth_required(services, stored, GRANT_EXPIRED)
        raise ReauthRequired("the user's time-limited grant has ended", reason=GRANT_EXPIRED)
    return stored


def mark_reauth_required(services: Reauthorizing, user: StoredCredentials, reason: str) -> None:
    """Mark the user, and tell ``REAUTH_TOPIC`` on the transition."""
    changed = services.reauth_status.mark_required(user.user_id, reason, services.now())
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
        notify_reauth(services, user, reason)


@contextlib.contextmanager
def marking_lost_grant(services: Reauthorizing, user: StoredCredentials) -> Iterator[None]:
    """Run the block; if it finds the grant gone (:class:`ReauthRequired`), mark the user."""
    try:
        yield
    except ReauthRequired as lost:
        mark_reauth_required(services, user, lost.reason)
        raise
