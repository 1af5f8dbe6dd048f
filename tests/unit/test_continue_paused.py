"""Continuing a paused read (``pipeline.mailbox.continue_paused``) when it cannot be published,
or need not be: the delivery is redelivered, nothing is lost and nothing loops."""

from __future__ import annotations

import base64
from concurrent import futures
from typing import Any

import pytest

from functions.errors import QuotaPaused, TransientError
from functions.pipeline.ledger import REPLAY_OF
from functions.pipeline.mailbox import continue_paused

TOPIC = "projects/p/topics/mailbox-requests"
MESSAGE = {"data": base64.b64encode(b'{"user_id": "1"}').decode(), "messageId": "m-2"}


class Publisher:
    """Records publishes; fails them when told to."""

    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.published: list[tuple[str, bytes, dict[str, str]]] = []

    def publish(self, topic: str, data: bytes, **attributes: str) -> futures.Future[str]:
        future: futures.Future[str] = futures.Future()
        if self.fail:
            future.set_exception(RuntimeError("unavailable"))
        else:
            self.published.append((topic, data, attributes))
            future.set_result("m-3")
        return future


def paused(*, progressed: bool) -> QuotaPaused:
    pause = QuotaPaused("paused")
    pause.progressed = progressed
    return pause


def test_a_pause_after_progress_is_continued_under_the_root_message():
    publisher = Publisher()
    message: dict[str, Any] = {**MESSAGE, "attributes": {REPLAY_OF: "m-1", "origin": "crm"}}

    continue_paused(publisher, TOPIC, message, paused(progressed=True))

    assert publisher.published == [
        (TOPIC, b'{"user_id": "1"}', {REPLAY_OF: "m-1", "origin": "crm"})
    ]


def test_a_pause_without_progress_is_raised_for_a_redelivery():
    publisher = Publisher()
    with pytest.raises(QuotaPaused):
        continue_paused(publisher, TOPIC, MESSAGE, paused(progressed=False))
    assert publisher.published == []


def test_a_continuation_that_cannot_be_published_has_the_delivery_redelivered():
    with pytest.raises(TransientError) as raised:
        continue_paused(Publisher(fail=True), TOPIC, MESSAGE, paused(progressed=True))
    assert raised.value.retryable
