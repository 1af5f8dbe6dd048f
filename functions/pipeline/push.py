"""Reading what changed when Gmail pushes a notification (``history.list``).

Gmail's notification says only whose mailbox changed and its new ``historyId``. The new
messages are those added since the position stored with the user's watch; they are published to
the results topic of each pipeline the user granted (and no other) like a mailbox request's
results (``request_id`` ``push:<historyId>``), and the stored position then moves forward. When
the stored position is too old, Gmail answers 404 and the guide's answer is a full sync: list the
watched labels completely and restart from the profile's current ``historyId``. See the
"Synchronizing clients with Gmail" guide.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from functions.errors import GmailRequestRejected, MalformedRequest
from functions.gmail import api as gmail
from functions.gmail import paging
from functions.gmail.session import GmailSession
from functions.grants.reauth import marking_lost_grant
from functions.grants.store import StoredCredentials
from functions.pipeline.ledger import EventLedger, exactly_once, read_alongside
from functions.pipeline.results import ResultPublisher
from functions.pipeline.watch import Watching, WatchState
from functions.sizes import is_text

if TYPE_CHECKING:
    from google.cloud.pubsub_v1 import PublisherClient

logger = logging.getLogger(__name__)


class ReadingChanges(Watching, Protocol):
    """What reading pushed changes uses (the composition root provides it)."""

    @property
    def event_ledger(self) -> EventLedger: ...
    @property
    def publisher(self) -> PublisherClient: ...


_EMAIL_BYTES = 254
"""RFC 5321 §4.5.3.1.3, in octets."""
_HISTORY_ID_END = 2**64
"""Gmail's ``historyId`` is an unsigned 64-bit integer."""
_HISTORY_ID_DIGITS = len(str(_HISTORY_ID_END))


@dataclass(frozen=True)
class Notification:
    """Gmail's push message."""

    email: str
    history_id: int


def json_message(event_data: Any, missing: str) -> dict[str, Any]:
    """The JSON object a Pub/Sub ``messagePublished`` CloudEvent carries.

    Raises:
        MalformedRequest: (``missing``) there is none.
    """
    message = event_data.get("message") if isinstance(event_data, dict) else None
    try:
        body = json.loads(base64.b64decode(message["data"], validate=True))  # type: ignore[index]
    except (TypeError, KeyError, binascii.Error, ValueError):
        raise MalformedRequest(missing) from None
    if not isinstance(body, dict):
        raise MalformedRequest(missing)
    return body


def parse_notification(event_data: Any) -> Notification:
    """Read ``{"emailAddress", "historyId"}`` out of a Pub/Sub CloudEvent's data.

    Raises:
        MalformedRequest: anything else.
    """
    body = json_message(event_data, "the event carries no Gmail notification")
    email = body.get("emailAddress")
    history_id = body.get("historyId")
    if isinstance(history_id, str) and history_id.isascii() and history_id.isdigit():
        history_id = int(history_id) if len(history_id) <= _HISTORY_ID_DIGITS else None
    if not is_text(email, _EMAIL_BYTES) or "@" not in str(email):
        raise MalformedRequest("the notification has no emailAddress")
    if (
        not isinstance(history_id, int)
        or isinstance(history_id, bool)
        or not 0 < history_id < _HISTORY_ID_END
    ):
        raise MalformedRequest("the notification has no historyId")
    return Notification(str(email), history_id)


def read_changes(services: ReadingChanges, notification: Notification, event_id: str) -> int:
    """Publish the messages added since the stored position; return how many.

    Raises:
        ReauthRequired: the grant is gone (the user is marked).
        TransientError: worth retrying (Pub/Sub redelivers the notification).
    """
    found = read_alongside(services.watch_positions.watched_by_address, notification.email)
    total = exactly_once(
        services.event_ledger,
        event_id,
        lambda _progress, _checkpoint: _changes(services, found.result(), notification),
        now=services.now,
    )
    return total or 0


def _changes(
    services: ReadingChanges,
    matches: list[tuple[StoredCredentials, WatchState]],
    notification: Notification,
) -> int:
    """Publish the changes, unless there is nothing to read for whom the notification names."""
    fields = {"history_id": notification.history_id, "matches": len(matches)}
    if len(matches) != 1:
        # Nobody, or several documents claiming one address (a reassigned Workspace address):
        # acknowledged, never guessed. The address itself is personal data and stays out.
        message = (
            "notification for no watched active user ignored"
            if not matches
            else "notification matches several watched users; ignored"
        )
        logger.log(
            logging.WARNING if matches else logging.INFO, message, extra={"json_fields": fields}
        )
        return 0
    [(user, watch)] = matches
    if notification.history_id <= int(watch.history_id):
        logger.info("notification already read", extra={"json_fields": fields})
        return 0
    return _publish_changes(services, user, watch, notification)


def _publish_changes(
    services: ReadingChanges, user: StoredCredentials, watch: WatchState, notification: Notification
) -> int:
    with GmailSession(services, user) as session, marking_lost_grant(services, user):
        try:
            latest, added = _added_since(session, watch)
            source = "history"
        except GmailRequestRejected as rejected:
            if rejected.http_status != 404:
                raise
            latest, added = _full_sync(session, watch)
            source = "full_sync"
    pages = [added[i : i + gmail.PAGE_SIZE] for i in range(0, len(added), gmail.PAGE_SIZE)]
    sent = []
    for pipeline in user.pipelines:  # each pipeline the user granted, and no other
        results = ResultPublisher(
            services.publisher,
            services.settings.results_topic_path(pipeline),
            user.user_id,
            f"push:{notification.history_id}",
        )
        for number, page in enumerate(pages, start=1):
            results.batch(number, page)
        results.complete(total=len(added), pages=len(pages), truncated=False, wait=False)
        sent.append(results)
    for results in sent:  # every pipeline's results travel together; all accepted, then on
        results.flush()
    services.watch_positions.advance(user.user_id, latest, seen=watch)
    logger.info(
        "changes published",
        extra={"json_fields": {"user_id": user.user_id, "total": len(added), "source": source}},
    )
    return len(added)


def _added_since(session: GmailSession, watch: WatchState) -> tuple[str, list[gmail.MessageRef]]:
    """Messages added since ``watch.history_id`` in the watched labels, oldest first, once each."""
    params: dict[str, Any] = {
        "userId": "me",
        "startHistoryId": watch.history_id,
        "historyTypes": ["messageAdded"],
        "maxResults": gmail.PAGE_SIZE,
    }
    if len(watch.label_ids) == 1:
        params["labelId"] = watch.label_ids[0]

    def fetch(page_token: str | None, _remaining: int | None) -> Any:
        call = {**params, **({"pageToken": page_token} if page_token else {})}
        return session.execute(lambda api: api.history.list(**call))

    wanted = set(watch.label_ids)
    added: dict[str, gmail.MessageRef] = {}
    latest = watch.history_id
    for response in paging.pages_in_turn(fetch, None, None):
        latest = str(response.get("historyId", latest))
        for record in response.get("history", []):
            for item in record.get("messagesAdded", []):
                message = item.get("message", {})
                labels = set(message.get("labelIds", []))
                if wanted and labels and not labels & wanted:
                    continue
                added.setdefault(
                    str(message["id"]),
                    {"id": str(message["id"]), "threadId": str(message.get("threadId", ""))},
                )
    return latest, list(added.values())


def _full_sync(session: GmailSession, watch: WatchState) -> tuple[str, list[gmail.MessageRef]]:
    """Everything in the watched labels, and the position to read changes from afterwards."""
    profile = session.execute(lambda api: api.users.getProfile(userId="me"))

    def fetch(page_token: str | None, remaining: int | None) -> Any:
        return session.execute(
            functools.partial(
                gmail.list_request,
                label_ids=watch.label_ids,
                page_token=page_token,
                remaining=remaining,
            )
        )

    listed: list[gmail.MessageRef] = []
    for response in paging.pages_in_turn(fetch, None, None):
        listed += gmail.message_refs(response)
    return str(profile["historyId"]), listed
