"""users.watch / users.stop and the Gmail push notifications published to a Pub/Sub emulator.

A tiny local HTTP server stands in for the emulator and records each REST publish call.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import selectors
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.gmail_watch import WatchRequestError, parse
from tests.sandbox.sandbox_helpers import EMAIL

WATCH = "/gmail/v1/users/me/watch"
STOP = "/gmail/v1/users/me/stop"
TOPIC = "projects/sandbox/topics/gmail-push"  # the test client's project is "sandbox"
WEEK_MS = 7 * 86_400_000
REPO = Path(__file__).resolve().parents[2]


class FakeEmulator:
    """Records `POST /v1/{topic}:publish` calls as (path, JSON body); knows `topics`."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.topics = {TOPIC}
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                known = self.path.removeprefix("/v1/") in recorder.topics
                body = b"{}" if known else b'{"error": {"code": 404}}'
                self.send_response(200 if known else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                recorder.calls.append((self.path, json.loads(self.rfile.read(length))))
                body = b'{"messageIds": ["1"]}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"

    def notifications(self) -> list[tuple[str, Any]]:
        """(topic path, decoded data) of every publish call."""
        out = []
        for path, body in self.calls:
            (message,) = body["messages"]
            out.append((path, json.loads(base64.b64decode(message["data"]))))
        return out


@pytest.fixture
def emulator(state) -> Iterator[FakeEmulator]:
    fake = FakeEmulator()
    thread = threading.Thread(target=fake.server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    state.update_behaviour({"pubsub_emulator_host": fake.host})
    try:
        yield fake
    finally:
        fake.server.shutdown()
        thread.join(timeout=5)
        fake.server.server_close()


@pytest.fixture
def mailbox(state):
    return state.seed_mailbox(EMAIL, 50, seed=5)


@pytest.fixture(autouse=True)
def gmail_may_publish(state):
    """The topic is granted to gmail-api-push@system.gserviceaccount.com, as infra/ does."""
    state.grant_push_publisher(TOPIC)


def _watch(http, bearer, **body: Any) -> Any:
    return http.post(WATCH, headers=bearer, json={"topicName": TOPIC, **body})


def test_watch_answers_the_current_history_id_and_a_7_day_expiration(
    http, bearer, state, clock, mailbox
):
    response = _watch(http, bearer, labelIds=["INBOX"])

    assert response.status_code == 200
    assert response.json == {
        "historyId": str(state.mailbox(EMAIL).history_id),
        "expiration": str(int(clock() * 1000) + WEEK_MS),
    }
    watch = state.watch(EMAIL)
    assert watch is not None
    assert watch.topic_name == TOPIC
    assert watch.label_ids == {"INBOX"}
    assert not watch.exclude


@pytest.mark.parametrize(
    "body",
    [
        {"topicName": "gmail-push"},
        {"topicName": "projects/p/subscriptions/s"},
        {"topicName": "projects/p/topics/"},
        {"topicName": "projects/p/topics/1abc"},
        {"topicName": "projects/p/topics/goog-reserved"},
        {},
        {"topicName": TOPIC, "labelIds": "INBOX"},
        {"topicName": TOPIC, "labelFilterBehavior": "SOMETIMES"},
        {"topicName": TOPIC, "labelFilterAction": "maybe"},
    ],
)
def test_a_bad_watch_request_is_invalid_argument(http, bearer, state, body):
    response = http.post(WATCH, headers=bearer, json=body)

    assert response.status_code == 400
    assert response.json["error"]["errors"][0]["reason"] == "invalidArgument"
    assert state.watch(EMAIL) is None


def test_a_topic_of_another_project_is_invalid_argument(http, bearer, state):
    # WatchRequest.topicName: the project "must exactly match your Google developer project id
    # (the one executing this watch request)"
    state.grant_push_publisher("projects/other-project/topics/gmail-push")

    response = _watch(http, bearer, topicName="projects/other-project/topics/gmail-push")

    assert response.status_code == 400
    assert response.json["error"]["message"] == (
        "Invalid topicName does not match projects/sandbox/topics/*"
    )
    assert state.watch(EMAIL) is None


def test_a_topic_gmail_may_not_publish_to_is_permission_denied(http, bearer, state):
    # WatchRequest.topicName: "you must have already granted gmail 'publish' permission on it"
    topic = "projects/sandbox/topics/not-granted"

    response = _watch(http, bearer, topicName=topic)

    assert response.status_code == 403
    assert response.json["error"] == {
        "code": 403,
        "message": f"Error sending test message to Cloud PubSub {topic} : "
        "User not authorized to perform this action.",
        "errors": [
            {
                "message": f"Error sending test message to Cloud PubSub {topic} : "
                "User not authorized to perform this action.",
                "domain": "global",
                "reason": "forbidden",
            }
        ],
        "status": "PERMISSION_DENIED",
    }
    assert state.watch(EMAIL) is None


def test_with_an_emulator_the_topic_must_exist_there(http, bearer, state, emulator):
    # WatchRequest.topicName: "This topic name must already exist in Cloud Pub/Sub"
    emulator.topics.clear()

    refused = _watch(http, bearer)
    emulator.topics.add(TOPIC)
    accepted = _watch(http, bearer)

    assert refused.status_code == 403
    assert accepted.status_code == 200


def test_an_unreachable_emulator_is_a_backend_error(http, bearer, state):
    state.update_behaviour({"pubsub_emulator_host": "127.0.0.1:9"})  # discard port: refused

    response = _watch(http, bearer)

    assert response.status_code == 500
    assert response.json["error"]["errors"][0]["reason"] == "backendError"


def test_topics_are_granted_over_the_admin_hook(http, bearer, state):
    topic = "projects/sandbox/topics/over-http"

    granted = http.post("/_sandbox/push-topics", json={"topic_name": topic})

    assert granted.status_code == 200
    assert state.may_push_to(topic)
    assert _watch(http, bearer, topicName=topic).status_code == 200
    bad = http.post("/_sandbox/push-topics", json={"topic_name": "topics/x"})
    assert bad.status_code == 400


def test_a_new_watch_replaces_the_old_one_and_stop_removes_it(http, bearer, state, mailbox):
    _watch(http, bearer, labelIds=["INBOX"])
    _watch(http, bearer, labelIds=["SPAM"], labelFilterBehavior="EXCLUDE")

    watch = state.watch(EMAIL)
    assert watch is not None
    assert (watch.label_ids, watch.exclude) == ({"SPAM"}, True)
    stopped = http.post(STOP, headers=bearer)
    assert stopped.status_code == 204
    assert stopped.data == b""
    assert state.watch(EMAIL) is None
    assert http.post(STOP, headers=bearer).status_code == 204  # stopping twice is fine
    counts = state.call_counts()
    assert (counts["gmail.watch"], counts["gmail.stop"]) == (2, 2)


def test_watch_costs_100_units_and_stop_1(http, bearer, state, mailbox):
    state.update_behaviour({"quota_units_per_minute": 101})

    assert _watch(http, bearer).status_code == 200
    assert _watch(http, bearer).status_code == 403
    assert http.post(STOP, headers=bearer).status_code == 204
    assert http.post(STOP, headers=bearer).status_code == 403


def test_watch_and_stop_need_a_token(http):
    assert http.post(WATCH, json={"topicName": TOPIC}).status_code == 401
    assert http.post(STOP).status_code == 401


@pytest.mark.parametrize(
    ("body", "labels", "pushed"),
    [
        ({}, ("SENT",), True),
        ({"labelIds": ["INBOX"]}, ("INBOX", "UNREAD"), True),
        ({"labelIds": ["INBOX"]}, ("SENT",), False),
        ({"labelIds": ["INBOX"], "labelFilterBehavior": "INCLUDE"}, ("SENT",), False),
        ({"labelIds": ["SPAM"], "labelFilterBehavior": "EXCLUDE"}, ("SPAM",), False),
        ({"labelIds": ["SPAM"], "labelFilterBehavior": "exclude"}, ("INBOX",), True),
        ({"labelIds": ["SPAM"], "labelFilterAction": "exclude"}, ("SPAM",), False),
        ({"labelIds": ["SPAM"], "labelFilterAction": "include"}, ("SPAM",), True),
        (
            {
                "labelIds": ["SPAM"],
                "labelFilterAction": "exclude",
                "labelFilterBehavior": "INCLUDE",
            },
            ("SPAM",),
            True,
        ),
    ],
)
def test_the_label_filter_decides_what_is_pushed(
    http, bearer, state, emulator, mailbox, body, labels, pushed
):
    _watch(http, bearer, **body)

    state.deliver_messages(EMAIL, 1, labels=labels)

    assert len(emulator.calls) == (1 if pushed else 0)


def test_one_notification_per_delivery_with_the_new_history_id(http, bearer, state, emulator):
    # GIVEN a watch on the inbox and a Pub/Sub emulator
    _watch(http, bearer, labelIds=["INBOX"])

    # WHEN three messages arrive in one delivery, then two more
    state.deliver_messages(EMAIL, 3)
    last = state.deliver_messages(EMAIL, 2)

    # THEN Gmail's notification went to the topic once per delivery, naming the new history id
    first_id = last[-1].history_id - 1
    assert emulator.notifications() == [
        (f"/v1/{TOPIC}:publish", {"emailAddress": EMAIL, "historyId": first_id}),
        (f"/v1/{TOPIC}:publish", {"emailAddress": EMAIL, "historyId": last[0].history_id}),
    ]
    assert last[0].history_id == state.mailbox(EMAIL).history_id


def test_nothing_is_published_without_an_emulator_a_watch_or_after_expiry(
    http, bearer, state, clock, emulator, mailbox
):
    state.deliver_messages(EMAIL, 1)  # no watch yet
    _watch(http, bearer)
    state.update_behaviour({"pubsub_emulator_host": ""})
    state.deliver_messages(EMAIL, 1)  # no emulator
    state.update_behaviour({"pubsub_emulator_host": emulator.host})
    clock.advance(WEEK_MS / 1000)
    state.deliver_messages(EMAIL, 1)  # the watch has expired
    _watch(http, bearer)
    http.post(STOP, headers=bearer)
    state.deliver_messages(EMAIL, 1)  # stopped

    assert emulator.calls == []


def test_a_failed_publish_is_logged_not_raised(http, bearer, state, mailbox, caplog):
    assert _watch(http, bearer).status_code == 200
    state.update_behaviour({"pubsub_emulator_host": "127.0.0.1:9"})  # discard port: refused

    with caplog.at_level(logging.WARNING, logger="sandbox.pubsub_push"):
        added = state.deliver_messages(EMAIL, 2)

    assert len(added) == 2
    assert TOPIC in caplog.text


def test_deliveries_over_the_admin_hook_publish_too(http, bearer, emulator, mailbox):
    _watch(http, bearer)

    http.post(f"/_sandbox/mailboxes/{EMAIL}/deliveries", json={"count": 1})

    assert len(emulator.calls) == 1


def test_the_emulator_host_is_a_behaviour_knob(http, state):
    response = http.post("/_sandbox/behaviour", json={"pubsub_emulator_host": "localhost:8085"})

    assert response.json["pubsub_emulator_host"] == "localhost:8085"
    assert state.behaviour.pubsub_emulator_host == "localhost:8085"
    for bad in ("http://localhost:8085", "a b", 8085):
        assert (
            http.post("/_sandbox/behaviour", json={"pubsub_emulator_host": bad}).status_code == 400
        )


def test_the_watch_is_visible_over_the_admin_hook(http, bearer, mailbox):
    assert http.get(f"/_sandbox/watches/{EMAIL}").status_code == 404
    expiration = _watch(http, bearer, labelIds=["INBOX"]).json["expiration"]

    assert http.get(f"/_sandbox/watches/{EMAIL}").json == {
        "topicName": TOPIC,
        "labelIds": ["INBOX"],
        "labelFilterBehavior": "INCLUDE",
        "expiration": expiration,
    }


def test_parse_reports_what_is_wrong():
    with pytest.raises(WatchRequestError, match="topicName"):
        parse({"topicName": "topics/x"}, 0)
    with pytest.raises(WatchRequestError, match="JSON"):
        parse(None, 0)
    assert parse({"topicName": TOPIC}, 1.5).expiration_ms == 1500 + WEEK_MS


def test_gmail_client_watches_and_stops(gmail, state, emulator):
    users = gmail.users()

    answer = users.watch(
        userId="me",
        body={"topicName": TOPIC, "labelIds": ["INBOX"], "labelFilterBehavior": "include"},
    ).execute()
    state.deliver_messages(EMAIL, 1)
    stopped = users.stop(userId="me").execute()
    state.deliver_messages(EMAIL, 1)

    assert int(answer["historyId"]) < state.mailbox(EMAIL).history_id
    assert int(answer["expiration"]) > 0
    assert stopped == ""  # 204: no response schema, so googleapiclient gives ""
    assert len(emulator.calls) == 1


def _first_line(process: subprocess.Popen[str], timeout: float = 15.0) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        assert selector.select(timeout), "the sandbox printed nothing"
    return process.stdout.readline()


def test_cli_sets_the_emulator_host_and_refuses_a_bad_one():
    command = [sys.executable, "-m", "sandbox", "--port=0", "--redirect-uri=http://localhost:8082/"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    bad = subprocess.run(
        [*command, "--pubsub-emulator-host=http://x"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    process = subprocess.Popen(
        [*command, "--pubsub-emulator-host=127.0.0.1:8681"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        match = re.search(r"(http://\S+)", _first_line(process))
        assert match
        knobs = requests.get(match[1] + "/_sandbox/behaviour", timeout=5).json()
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert bad.returncode == 2
    assert "--pubsub-emulator-host" in bad.stderr
    assert knobs["pubsub_emulator_host"] == "127.0.0.1:8681"
