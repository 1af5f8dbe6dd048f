"""No token, code, state, verifier, client secret or Authorization header reaches a log line.

The whole flow runs with every logger at DEBUG (oauthlib, requests-oauthlib and urllib3 log
request bodies and URLs there) through the production JSON formatter; then the captured lines
are searched for every secret the flow handled.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from cloudevents.http import CloudEvent

from devstack.consent_browser import ConsentBrowser, query_of
from functions import flow_cookies
from functions.access_tokens import live_access_token
from functions.clock import utcnow
from functions.logging_setup import REDACTED, JsonFormatter, event_context, redact
from functions.services import get_services
from functions.token_crypto import parse_keyring
from tests.integration.flow import callback, connect, start
from tests.integration.results import cloud_event, pull_until_closed, results_subscription

pytestmark = pytest.mark.integration

EMAIL = "leak.check@example.com"
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def test_the_whole_flow_logs_no_secret(
    apps, sandbox, firestore_client, emulator_env, subscriber, captured
):
    secrets: set[str] = set()
    browser = ConsentBrowser()

    # consent, with the verifier opened from the browser's sealed flow cookie
    first = start(apps, browser, login_hint=EMAIL)
    first_state = query_of(first.headers["Location"])["state"]
    secrets.add(first_state)
    keys = parse_keyring(sandbox.token_keys.read_bytes()).derive(flow_cookies.KEY_PURPOSE)
    pending = flow_cookies.open_flow(keys, browser.cookies, first_state, secure=False, now=utcnow())
    secrets.add(pending.code_verifier)
    secrets.update(browser.cookies.values())
    page = browser.open_consent(first.headers["Location"])
    location = browser.answer(page, email=EMAIL)
    secrets.add(query_of(location)["code"])
    answered = callback(apps, browser, location, trace="0123456789abcdef0123456789abcdef/1")
    assert answered.status_code == 303
    [user] = firestore_client.collection("gmail_credentials").stream()

    # bad input on the way: a replay, a forged code, a provider error
    callback(apps, browser, location)
    forged = start(apps, browser)
    forged_state = query_of(forged.headers["Location"])["state"]
    secrets.add(forged_state)
    apps.oauth2callback.get(
        "/",
        query_string={"state": forged_state, "code": "4/0forged-code-value"},
        headers=browser.cookie_header(),
    )
    secrets.add("4/0forged-code-value")
    apps.oauth2callback.get("/", query_string={"error": "server_error", "state": forged_state})

    # a mailbox read, then a revocation found by the next read, then a disconnect
    results = results_subscription(emulator_env)
    apps.list_messages.post("/", **cloud_event({"user_id": user.id, "max_messages": 10}))
    pull_until_closed(subscriber, results)
    secrets.update(sandbox.state.issued_tokens())  # revocation forgets them
    sandbox.state.revoke_user(EMAIL)
    apps.list_messages.post("/", **cloud_event({"user_id": user.id}))
    pull_until_closed(subscriber, results)
    assert connect(apps, ConsentBrowser(), EMAIL).final.status_code == 200
    secrets.update(sandbox.state.issued_tokens())
    assert apps.disconnect.post("/", json={"user_id": user.id}).status_code == 200

    secrets.update(browser.cookies.values())
    secrets.update(sandbox.state.issued_tokens())
    secrets.add(json.loads(sandbox.client_json.read_text())["web"]["client_secret"])
    lines = captured.getvalue().splitlines()

    # the capture is real: library debug output and our security events are in it
    loggers = {json.loads(line)["logger"] for line in lines}
    assert {"requests_oauthlib.oauth2_session", "urllib3.connectionpool"} <= loggers
    messages = [json.loads(line)["message"] for line in lines]
    assert "link rejected" in messages
    assert "user needs to consent again" in messages
    assert "user disconnected" in messages
    traced = [json.loads(line) for line in lines if "logging.googleapis.com/trace" in line]
    assert traced[0]["logging.googleapis.com/trace"] == (
        f"projects/{emulator_env.project}/traces/0123456789abcdef0123456789abcdef"
    )

    assert len(secrets) > 8
    leaked = {secret for secret in secrets if any(secret in line for line in lines)}
    assert leaked == set()
    assert not [line for line in lines if "Bearer sbx" in line or "Basic c2J4" in line]


def test_tokens_read_or_minted_during_an_event_are_secrets_of_that_event(
    apps, firestore_client, emulator_env
):
    # GIVEN a connected user whose cached access token has expired
    assert connect(apps, ConsentBrowser(), EMAIL).final.status_code == 200
    [document] = firestore_client.collection("gmail_credentials").stream()
    document.reference.update({"access_token_expires_at": LONG_AGO})
    services = get_services()
    event = CloudEvent({"type": "google.cloud.pubsub.topic.v1.messagePublished", "source": "t"}, {})

    # WHEN an event reads the stored tokens and has a new access token minted
    with event_context(event, emulator_env.project):
        user = services.token_store.get(document.id)
        assert user is not None
        minted = live_access_token(services, user)

        # THEN each is redacted for the rest of the event, even where no credential pattern
        # would see it (glued to a word character, a token escapes the ``sbx-`` prefix pattern)
        for token in (user.refresh_token, user.access_token, minted):
            assert token
            assert redact(f"x{token}") == f"x{REDACTED}"
    assert minted != user.access_token
