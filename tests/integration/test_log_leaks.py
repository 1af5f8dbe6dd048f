"""The logs of the whole flow, as deployed: one JSON line per record, labelled, never a secret.

Every entry point runs in its own process the way Cloud Run functions runs it
(``devstack.functions.start_function``: the ``functions-framework`` console script, gunicorn,
``LOG_EXECUTION_ID=true``, ``K_SERVICE``...), with ``LOG_LEVEL=DEBUG`` so that oauthlib,
requests-oauthlib and urllib3 log request bodies and URLs. Each request carries a trace of its own,
as Cloud Run's do. After consent, a callback (and bad ones), listings (one with a refresh, one
finding the grant revoked), a watch and a push, renewal, reconnection and a disconnect, every
line each process wrote is read and must be a JSON object with a severity, written once, labelled
with the execution ID of the request it was logged in, and free of every secret the flow handled.
"""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from cloudevents.http import CloudEvent

from devstack import deployment
from devstack.consent_browser import ConsentBrowser, query_of
from devstack.functions import function_url, start_function
from devstack.ports import free_port
from devstack.processes import ManagedProcess, stop_together
from devstack.stack import FUNCTIONS
from functions.clock import utcnow
from functions.consent import pending as flow
from functions.crypto import parse_keyring
from functions.grants.access import live_access_token
from functions.logging_setup import REDACTED, event_context, redact
from functions.services import get_services
from tests.integration.conftest import GMAIL_ANSWERS, GMAIL_REFUSES
from tests.integration.flow import connect
from tests.integration.results import cloud_event, pull_until_closed, results_subscription

pytestmark = pytest.mark.integration

EMAIL = "leak.check@example.com"
LABELS = "logging.googleapis.com/labels"
TRACE = "logging.googleapis.com/trace"
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)
OWN_THREADS = (
    "google.cloud.pubsub_v1.publisher.",
    "google.pubsub_v1.services.publisher.",
    "asyncio",
)
"""Loggers that log from threads of their own: the Pub/Sub client's commit thread, and asyncio
for gunicorn's control server (a loop in a thread of the arbiter). What they log belongs to no
request (functions-framework could not label it either); everything else a function logs once it
serves requests does."""


@dataclass
class Served:
    """The entry points, each served by its own functions-framework process."""

    urls: dict[str, str]
    processes: dict[str, ManagedProcess]

    def stop(self) -> None:
        stop_together(list(self.processes.values()))

    def lines(self) -> dict[str, list[str]]:
        """Every line each process wrote (stdout and stderr), by entry point."""
        return {
            target: Path(process.log_path).read_text(encoding="utf-8").splitlines()
            for target, process in self.processes.items()
        }


@pytest.fixture
def served(function_env: dict[str, str], tmp_path: Path) -> Iterator[Served]:
    env = {**function_env, "LOG_LEVEL": "DEBUG", "PYTHONUNBUFFERED": "1"}
    ports: dict[str, int] = {}
    for target, _ in FUNCTIONS:
        while (port := free_port()) in ports.values():
            pass
        ports[target] = port
    definition = deployment.load()
    processes = {
        target: start_function(
            target,
            kind,
            ports[target],
            {**env, **deployment.platform_environment(definition.functions[target])},
            tmp_path,
            wait=False,
        )
        for target, kind in FUNCTIONS
    }
    running = Served({t: function_url(p) for t, p in ports.items()}, processes)
    try:
        for target, process in processes.items():
            process.wait_for_http(running.urls[target], 60)
        yield running
    finally:
        running.stop()


class Platform:
    """Sends requests as Cloud Run delivers them: each with a trace and span of its own."""

    def __init__(self, urls: dict[str, str]) -> None:
        self.urls = urls
        self.traces: list[str] = []

    def _trace(self) -> dict[str, str]:
        trace, span = uuid.uuid4().hex, random.getrandbits(63) or 1
        self.traces.append(trace)
        return {
            "X-Cloud-Trace-Context": f"{trace}/{span};o=1",
            "traceparent": f"00-{trace}-{span:016x}-01",
        }

    def get(self, target: str, **kwargs: Any) -> requests.Response:
        headers = {**kwargs.pop("headers", {}), **self._trace()}
        return requests.get(
            self.urls[target], headers=headers, allow_redirects=False, timeout=60, **kwargs
        )

    def post(self, target: str, **kwargs: Any) -> requests.Response:
        headers = {**kwargs.pop("headers", {}), **self._trace()}
        return requests.post(self.urls[target], headers=headers, timeout=60, **kwargs)

    def event(self, target: str, payload: dict[str, Any]) -> requests.Response:
        """A Pub/Sub push delivery as the deployed subscription sends it (topic in the path)."""
        topic = deployment.load().functions[target].topic
        delivery = cloud_event(
            payload,
            topic={"gmail_push": "gmail-push", "upkeep": "daily-upkeep"}.get(
                topic or "", "mailbox-requests"
            ),
        )
        headers = {**delivery["headers"], **self._trace()}
        url = self.urls[target].rstrip("/") + delivery["path"]
        return requests.post(url, headers=headers, json=delivery["json"], timeout=60)


def test_the_whole_flow_as_deployed_logs_each_record_once_labelled_and_without_a_secret(
    served, sandbox, firestore_client, emulator_env, subscriber
):
    platform = Platform(served.urls)
    secrets: set[str] = set()
    browser = ConsentBrowser()

    def authorize(**params: str) -> requests.Response:
        response = platform.get("authorize", params=params, headers=browser.cookie_header())
        assert response.status_code == 302, response.text
        browser.remember(response.raw.headers.getlist("Set-Cookie"))
        return response

    def callback(location: str) -> requests.Response:
        response = platform.get(
            "oauth2callback", params=query_of(location), headers=browser.cookie_header()
        )
        browser.remember(response.raw.headers.getlist("Set-Cookie"))
        return response

    def consent(email: str) -> str:
        """Authorize, consent at the provider, call back; the callback URL it was sent to."""
        first = authorize(login_hint=email)
        state = query_of(first.headers["Location"])["state"]
        secrets.add(state)
        keys = parse_keyring(sandbox.cookie_keys.read_bytes())
        pending = flow.open_flow(keys, browser.cookies, state, secure=False, now=utcnow())
        secrets.add(pending.code_verifier)
        secrets.update(browser.cookies.values())
        page = browser.open_consent(first.headers["Location"])
        location = browser.answer(page, email=email)
        secrets.add(query_of(location)["code"])
        answered = callback(location)
        assert answered.status_code == 303, answered.text
        secrets.update(browser.cookies.values())
        return location

    def listing(user_id: str) -> None:
        results = results_subscription(emulator_env)
        assert platform.event("list_messages", {"user_id": user_id}).status_code == 200
        pull_until_closed(subscriber, results)
        secrets.update(sandbox.state.issued_tokens())

    # consent, then the page behind the callback's 303
    location = consent(EMAIL)
    assert platform.get("oauth2callback", headers=browser.cookie_header()).status_code == 200
    [user] = firestore_client.collection("gmail_credentials").stream()
    secrets.update(sandbox.state.issued_tokens())

    # bad input on the way: a replay, a forged code, a provider error
    refused = callback(location)  # shown behind a clean URL, as every outcome is
    assert refused.status_code == 303
    assert platform.get("oauth2callback", headers=browser.cookie_header()).status_code >= 400
    forged = authorize()
    forged_state = query_of(forged.headers["Location"])["state"]
    secrets.add(forged_state)
    platform.get(
        "oauth2callback",
        params={"state": forged_state, "code": "4/0forged-code-value"},
        headers=browser.cookie_header(),
    )
    secrets.add("4/0forged-code-value")
    platform.get("oauth2callback", params={"error": "server_error", "state": forged_state})

    # listings: with the consent's token, then after a refresh, then one left to Pub/Sub to
    # retry (the function raises: functions-framework and Flask log the crash)
    sandbox.state.seed_mailbox(EMAIL, 30)
    listing(user.id)
    user.reference.update({"access_token_expires_at": LONG_AGO})
    listing(user.id)
    sandbox.state.update_behaviour(GMAIL_REFUSES)
    try:
        assert platform.event("list_messages", {"user_id": user.id}).status_code == 500
    finally:
        sandbox.state.update_behaviour(GMAIL_ANSWERS)

    # Gmail push: a watch, new mail, the notification, the daily renewal
    assert platform.post("watch", json={"user_id": user.id}).status_code == 200
    sandbox.state.deliver_messages(EMAIL, 3)
    results = results_subscription(emulator_env)
    notification = {"emailAddress": EMAIL, "historyId": sandbox.state.mailbox(EMAIL).history_id}
    assert platform.event("gmail_push", notification).status_code == 200
    pull_until_closed(subscriber, results)
    assert platform.post("renew_watches").status_code == 200
    unit = {"user_id": user.id, "run_id": "log-leaks"}
    assert platform.event("upkeep_user", unit).status_code == 200
    secrets.update(sandbox.state.issued_tokens())

    # the grant revoked at Google, found by the next listing; consent again; disconnect
    sandbox.state.revoke_user(EMAIL)  # forgets the tokens: they were collected above
    listing(user.id)
    consent(EMAIL)
    secrets.update(sandbox.state.issued_tokens())
    assert platform.post("disconnect", json={"user_id": user.id}).status_code == 200
    secrets.add(json.loads(sandbox.client_json.read_text())["web"]["client_secret"])

    served.stop()
    written = served.lines()

    # every line is one JSON record with a severity, and none is written twice in a row
    records: list[dict[str, Any]] = []
    for target, lines in written.items():
        serving = False
        for number, line in enumerate(lines):
            try:
                record = json.loads(line)
            except ValueError:
                pytest.fail(f"{target} wrote a line that is not JSON: {line!r}")
            assert isinstance(record, dict), (target, line)
            assert record.get("severity"), (target, line)
            # (a client library logs each RPC alike: two sent at once, such as the ledger's
            # claim and a Gmail slot, are two records with the same line)
            twice = number > 0 and line == lines[number - 1]
            assert not twice or record["logger"].startswith("google."), (target, line)
            # from its first request on, every record belongs to one (start-up logs come before)
            serving = serving or LABELS in record
            if serving and not record["logger"].startswith(OWN_THREADS):
                assert "execution_id" in record.get(LABELS, {}), (target, line)
            records.append(record)

    # each request has one execution ID of its own, on every record it logged; events too run
    # in a context of their own (the trace of their distributed-tracing extension)
    traces = {f"projects/{emulator_env.project}/traces/{t}" for t in platform.traces}
    for target in ("list_messages", "gmail_push"):
        for line in written[target]:
            record = json.loads(line)
            if record["logger"].startswith("functions."):
                assert record.get(TRACE) in traces, (target, line)
    executions: dict[str, set[str]] = {}
    for record in records:
        if record.get(TRACE) in traces:
            executions.setdefault(record[TRACE], set()).add(record[LABELS]["execution_id"])
    assert all(len(labels) == 1 for labels in executions.values()), executions
    assert len({label for labels in executions.values() for label in labels}) == len(executions)

    # each event of ours written exactly as often as it happened
    events = Counter(r["message"] for r in records if r["logger"].startswith("functions."))
    assert events["user connected"] == 2
    assert events["access token refreshed"] == 1
    assert events["user needs to consent again"] == 1
    assert events["daily upkeep dispatched"] == 1
    assert events["daily upkeep done"] == 1
    assert events["user disconnected"] == 1

    # the capture is real: every function served, library debug output and our events are in it
    assert len(executions) > 10
    assert {t for t, lines in written.items() if any(LABELS in line for line in lines)} == {
        t for t, _ in FUNCTIONS
    }
    loggers = {record["logger"] for record in records}
    assert {
        "requests_oauthlib.oauth2_session",
        "urllib3.connectionpool",
        "googleapiclient.discovery",
        "google.cloud.pubsub_v1.publisher._batch.thread",
    } <= loggers
    assert events["link rejected"] >= 1
    assert events["message will be redelivered"] == 1
    [crash] = [r for r in records if r["logger"] == "list_messages"]  # Flask's app logger
    assert crash["severity"] == "ERROR"
    assert "execution_id" in crash[LABELS]

    # and no secret anywhere
    assert len(secrets) > 10
    text = "\n".join(line for lines in written.values() for line in lines)
    assert {secret for secret in secrets if secret in text} == set()
    assert "Bearer sbx" not in text
    assert "Basic c2J4" not in text


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
