"""Pub/Sub events that are not what Pub/Sub and Gmail send are refused as malformed (and so
acknowledged), never a crash that Pub/Sub would redeliver until the message is dead-lettered."""

from __future__ import annotations

import base64
import json

import pytest

from functions.errors import MalformedRequest
from functions.pipeline.ledger import REPLAY_OF, event_key
from functions.pipeline.push import Notification, parse_notification

SOURCE = "//pubsub.googleapis.com/projects/p/topics/gmail-push"


def notification(body: object) -> dict[str, object]:
    return {"message": {"data": base64.b64encode(json.dumps(body).encode()).decode()}}


def test_gmail_notifications_are_read():
    parsed = parse_notification(notification({"emailAddress": "a@b.c", "historyId": "123"}))

    assert parsed == Notification("a@b.c", 123)


@pytest.mark.parametrize(
    "body",
    [
        {"emailAddress": "a@b.c", "historyId": "\u00b2"},  # a digit to isdigit(), not to int()
        {"emailAddress": "a@b.c", "historyId": "1" * 5000},  # past int()'s digit limit
        {"emailAddress": "a@b.c", "historyId": str(2**64)},
        {"emailAddress": "a@b.c", "historyId": 2**64},
        {"emailAddress": "a@b.c", "historyId": True},
        {"emailAddress": "\ud800@b.c", "historyId": 1},  # no UTF-8 to query Firestore with
        {"emailAddress": "a\n@b.c", "historyId": 1},
        {"emailAddress": "\u00e9" * 127 + "@b.c", "historyId": 1},  # 258 bytes
    ],
)
def test_notifications_gmail_would_never_send_are_malformed(body):
    with pytest.raises(MalformedRequest):
        parse_notification(notification(body))


def test_an_event_key_names_the_topic_and_the_message_or_the_one_it_replays():
    assert event_key(SOURCE, "7", None) == f"{SOURCE}#7"
    assert event_key(SOURCE, "7", {REPLAY_OF: "3"}) == f"{SOURCE}#3"


@pytest.mark.parametrize(
    ("source", "message_id", "attributes"),
    [
        (SOURCE, "7", {REPLAY_OF: "\ud800"}),  # cannot be digested as UTF-8
        (SOURCE, "7", {REPLAY_OF: "\U0001f600" * 257}),  # over Pub/Sub's 1,024 bytes
        (SOURCE, "7", {REPLAY_OF: {"x": 1}}),
        (SOURCE, "7", {REPLAY_OF: ""}),
        (SOURCE, None, None),
        (SOURCE, "\x00", None),
        (None, "7", None),
        (SOURCE + "\u00e9" * 600, "7", None),
    ],
)
def test_event_keys_from_parts_pub_sub_never_sends_are_malformed(source, message_id, attributes):
    with pytest.raises(MalformedRequest):
        event_key(source, message_id, attributes)
