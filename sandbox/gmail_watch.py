"""users.watch requests: which topic to notify, about which labels, until when.

https://developers.google.com/workspace/gmail/api/reference/rest/v1/users/watch and the guide
"Push notifications": a watch lasts seven days, replaces any earlier one, and its label filter
decides which changes are pushed. `labelFilterBehavior` replaces the deprecated
`labelFilterAction`; when both are given the newer one wins. This module checks the request's
form; whether Gmail may publish to the topic is the watch endpoint's to check.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

WATCH_DAYS = 7
_DAY_MS = 86_400_000
_TOPIC = re.compile(
    r"^projects/[A-Za-z0-9][A-Za-z0-9.:_-]*/topics/[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$"
)
_TOPIC_HELP = "Invalid topicName does not match projects/SOME-PROJECT/topics/SOME-TOPIC"
_FILTERS = ("include", "exclude")


class WatchRequestError(ValueError):
    """The WatchRequest body is malformed; the message is what Gmail would say."""


@dataclass(frozen=True)
class Watch:
    """An active watch on one mailbox."""

    topic_name: str  # projects/P/topics/T
    label_ids: frozenset[str]
    exclude: bool
    expiration_ms: int

    def wants(self, labels: Collection[str]) -> bool:
        """Whether a change to a message with `labels` is pushed: all are, without labelIds."""
        if not self.label_ids:
            return True
        return bool(self.label_ids & set(labels)) != self.exclude

    def active(self, now: float) -> bool:
        """False once the seven days are over."""
        return now * 1000 < self.expiration_ms

    def as_dict(self) -> dict[str, object]:
        """The watch as JSON-ready values, in WatchRequest's field names."""
        return {
            "topicName": self.topic_name,
            "labelIds": sorted(self.label_ids),
            "labelFilterBehavior": "EXCLUDE" if self.exclude else "INCLUDE",
            "expiration": str(self.expiration_ms),
        }


def parse(body: object, now: float) -> Watch:
    """Validate a WatchRequest JSON body; the watch expires WATCH_DAYS after `now`.

    Raises:
        WatchRequestError: not an object, a bad topicName, labelIds or filter value.
    """
    if not isinstance(body, dict):
        raise WatchRequestError("Invalid JSON payload received.")
    topic = body.get("topicName")
    if not isinstance(topic, str) or not is_topic_name(topic):
        raise WatchRequestError(_TOPIC_HELP)
    labels = body.get("labelIds", [])
    if not isinstance(labels, list) or not all(isinstance(x, str) and x for x in labels):
        raise WatchRequestError("Invalid labelIds: expected a list of label ids")
    behaviour = body.get("labelFilterBehavior") or body.get("labelFilterAction") or "include"
    if not isinstance(behaviour, str) or behaviour.lower() not in _FILTERS:
        raise WatchRequestError(f"Invalid label filter: {behaviour}")
    return Watch(
        topic_name=topic,
        label_ids=frozenset(labels),
        exclude=behaviour.lower() == "exclude",
        expiration_ms=int(now * 1000) + WATCH_DAYS * _DAY_MS,
    )


def is_topic_name(value: str) -> bool:
    """Whether `value` is a Pub/Sub topic name Gmail would accept the form of."""
    return bool(_TOPIC.match(value)) and not _topic_id(value).startswith("goog")


def topic_project(topic_name: str) -> str:
    """The project ID in `projects/P/topics/T`."""
    return topic_name.split("/", 2)[1]


def _topic_id(topic_name: str) -> str:
    return topic_name.rsplit("/", 1)[1]
