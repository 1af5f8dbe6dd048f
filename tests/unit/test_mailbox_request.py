"""Mailbox requests are parsed strictly; anything malformed is a ``MalformedRequest``."""

from __future__ import annotations

import base64
import json

import pytest

from functions.errors import MalformedRequest
from functions.pipeline.ledger import REPLAY_OF
from functions.pipeline.requests import MailboxRequest, parse_event, parse_request


def envelope(payload: object, message_id: str = "m-1") -> dict[str, object]:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return {
        "message": {"data": base64.b64encode(data).decode(), "messageId": message_id},
        "subscription": "projects/p/subscriptions/s",
    }


def test_only_user_id_is_required_and_message_id_becomes_the_request_id():
    assert parse_event(envelope({"user_id": "123"})) == MailboxRequest(
        user_id="123", request_id="m-1"
    )


def test_a_continuation_or_replay_keeps_the_original_messages_request_id():
    # GIVEN new messages that continue (or replay) message m-1
    def continuing(payload: object) -> dict[str, object]:
        event = envelope(payload, message_id="m-2")
        event["message"] = {**event["message"], "attributes": {REPLAY_OF: "m-1"}}  # type: ignore[dict-item]
        return event

    # THEN their results are those of m-1's request; a request_id given still wins
    assert parse_event(continuing({"user_id": "123"})).request_id == "m-1"
    assert parse_event(continuing({"user_id": "123", "request_id": "r"})).request_id == "r"


def test_every_field_of_the_contract_is_read():
    request = parse_request(
        json.dumps(
            {
                "user_id": "1234567890",
                "query": "label:UNREAD",
                "label_ids": ["INBOX"],
                "max_messages": 1000,
                "include_spam_trash": False,
                "request_id": "optional-caller-id",
            }
        ).encode()
    )

    assert request == MailboxRequest(
        user_id="1234567890",
        request_id="optional-caller-id",
        query="label:UNREAD",
        label_ids=("INBOX",),
        max_messages=1000,
        include_spam_trash=False,
    )


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"\xff\xfe",
        [1, 2],
        {},
        {"user_id": ""},
        {"user_id": 42},
        {"user_id": "a/b"},
        {"user_id": ".."},
        {"user_id": "1", "max_messages": 0},
        {"user_id": "1", "max_messages": True},
        {"user_id": "1", "max_messages": "10"},
        {"user_id": "1", "label_ids": "INBOX"},
        {"user_id": "1", "label_ids": [""]},
        {"user_id": "1", "include_spam_trash": "yes"},
        {"user_id": "1", "query": "x" * 3000},
        {"user_id": "1", "lable_ids": ["INBOX"]},
    ],
)
def test_malformed_requests_are_refused(payload):
    with pytest.raises(MalformedRequest):
        parse_event(envelope(payload))


@pytest.mark.parametrize(
    "data",
    [None, {}, {"message": {}}, {"message": {"data": "***"}}, {"message": {"data": 5}}, "x"],
)
def test_malformed_envelopes_are_refused(data):
    with pytest.raises(MalformedRequest):
        parse_event(data)


@pytest.mark.parametrize(
    ("payload", "user_id", "request_id"),
    [
        ({"user_id": "1", "max_messages": 0}, "1", "m-1"),
        ({"user_id": "a/b", "request_id": "r"}, "a/b", "r"),
        ({"request_id": "r", "query": 5}, None, "r"),
        ({"user_id": "1", "request_id": "x" * 300}, "1", "x" * 300),
        # Too big to repeat in the error (JSON escapes it up to three times over): the message ID.
        ({"user_id": "1", "request_id": "\u00e9" * 600_000}, "1", "m-1"),
        ({"user_id": "\u00e9" * 600_000, "request_id": "r"}, None, "r"),
    ],
)
def test_a_refused_request_keeps_what_it_named_so_its_sender_can_be_told(
    payload, user_id, request_id
):
    with pytest.raises(MalformedRequest) as refused:
        parse_event(envelope(payload, message_id="m-1"))

    assert (refused.value.user_id, refused.value.request_id) == (user_id, request_id)
    assert refused.value.names_a_request


@pytest.mark.parametrize("payload", [{"query": "x"}, {"user_id": 7}, {"user_id": ""}, [1]])
def test_a_refused_request_naming_nobody_names_nobody(payload):
    with pytest.raises(MalformedRequest) as refused:
        parse_event(envelope(payload, message_id="m-1"))

    assert not refused.value.names_a_request


@pytest.mark.parametrize(
    "payload",
    [
        # 256 four-byte characters: 1,024 bytes, and 1,033 as "<request_id>:complete", past
        # Pub/Sub's 1,024-byte attribute limit, so every publish of its results failed.
        {"user_id": "1", "request_id": "\U0001f600" * 256},
        {"user_id": "1", "request_id": "\u00e9" * 200},
        {"user_id": "1", "request_id": "\ud800"},
        {"user_id": "1", "query": "\u65e5" * 1000},
        {"user_id": "1", "label_ids": ["\u00e9" * 200]},
        {"user_id": "1", "label_ids": ["IN\nBOX"]},
        {"user_id": "__abc__"},
    ],
)
def test_values_over_their_size_in_bytes_or_unusable_as_ids_are_refused(payload):
    with pytest.raises(MalformedRequest):
        parse_request(json.dumps({"request_id": "r", **payload}).encode())


def test_every_result_attribute_of_an_accepted_request_fits_pub_sub():
    from functions.sizes import PUBSUB_ATTRIBUTE_BYTES

    longest = parse_request(json.dumps({"user_id": "1", "request_id": "\u00e9" * 128}).encode())

    for part in ("complete", "error", "1000000"):
        assert len(f"{longest.request_id}:{part}".encode()) <= PUBSUB_ATTRIBUTE_BYTES
