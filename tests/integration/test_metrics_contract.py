"""The log-based metrics of infra/log_metrics.json, held against the lines the functions really
write: a renamed field or message breaks this test, not the dashboard.

Every entry point runs in its own functions-framework process as deployed (the ``served``
fixture of test_log_leaks.py). The flow goes through every outcome an operator charts: a consent
completed, one declined, one without the Gmail permission; listings (one refreshing the access
token, one delivered twice, one refused by Gmail's rate limit with 429); a watch, a push and the
same push again; a renewal refused by the rate limit; a security event from Google (Cross-Account
Protection) through the receiver; the grant revoked at Google and found by a listing. Each JSON
line each process wrote becomes the LogEntry Cloud Logging makes of it (tests/infra/log_query.py),
and each metric's filter and label extractors are evaluated on them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack import deployment
from devstack.consent_browser import ConsentBrowser, query_of
from devstack.emulators import DEFAULT_PROJECT
from sandbox import risc
from tests.infra.log_query import log_entry, metric_problems, parse_extractor, parse_filter
from tests.integration import test_log_leaks
from tests.integration.conftest import GMAIL_ANSWERS, GMAIL_REFUSES
from tests.integration.results import cloud_event, pull_until_closed, results_subscription
from tests.integration.test_log_leaks import Platform

pytestmark = pytest.mark.integration

served = test_log_leaks.served  # the same fixture: every entry point served as deployed

METRICS_FILE = Path(__file__).resolve().parents[2] / "infra" / "log_metrics.json"
EMAIL = "metrics.check@example.com"
GMAIL_SCOPE = "https://www.googleapis.com/auth/gmail.readonly"
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def load_metrics() -> dict[str, dict[str, Any]]:
    """infra/log_metrics.json's metrics, each with its key as ``name``."""
    metrics = json.loads(METRICS_FILE.read_text())["metrics"]
    return {key: {"name": key, **metric} for key, metric in metrics.items()}


def entries_of(written: Mapping[str, list[str]]) -> list[dict[str, Any]]:
    """Every line each served function wrote, as the LogEntry Cloud Logging makes of it."""
    definition = deployment.load()
    entries = []
    for target, lines in written.items():
        for line in lines:
            record = json.loads(line)
            assert isinstance(record, dict), (target, line)
            entries.append(log_entry(record, definition.functions[target].name))
    return entries


def all_problems(
    metrics: Mapping[str, Mapping[str, Any]], entries: list[dict[str, Any]]
) -> list[str]:
    return [
        problem
        for metric in metrics.values()
        if not metric.get("future")
        for problem in metric_problems(metric, entries)
    ]


def run_the_flow(
    platform: Platform, sandbox: Any, firestore_client: Any, emulator_env: Any, subscriber: Any
) -> None:
    browser = ConsentBrowser()

    def consent(*, action: str = "allow", untick: tuple[str, ...] = ()) -> requests.Response:
        first = platform.get(
            "authorize", params={"login_hint": EMAIL}, headers=browser.cookie_header()
        )
        assert first.status_code == 302, first.text
        browser.remember(first.raw.headers.getlist("Set-Cookie"))
        page = browser.open_consent(first.headers["Location"])
        location = browser.answer(page, email=EMAIL, action=action, untick=untick)
        answered = platform.get(
            "oauth2callback", params=query_of(location), headers=browser.cookie_header()
        )
        browser.remember(answered.raw.headers.getlist("Set-Cookie"))
        return answered

    def listing(
        user_id: str, message_id: str = "", *, results_expected: bool = True
    ) -> requests.Response:
        results = results_subscription(emulator_env)
        delivery = cloud_event({"user_id": user_id}, message_id=message_id)
        response = requests.post(
            platform.urls["list_messages"].rstrip("/") + delivery["path"],
            headers={**delivery["headers"], **platform._trace()},
            json=delivery["json"],
            timeout=60,
        )
        if response.status_code == 200 and results_expected:
            pull_until_closed(subscriber, results, timeout=20)
        return response

    # consents: declined, without the Gmail permission, then completed
    assert consent(action="cancel").status_code < 500
    assert consent(untick=(GMAIL_SCOPE,)).status_code < 500
    assert consent().status_code == 303
    [user] = firestore_client.collection("gmail_credentials").stream()

    # listings: with the consent's token, after a refresh, the same delivery twice, rate-limited
    sandbox.state.seed_mailbox(EMAIL, 5)
    assert listing(user.id).status_code == 200
    user.reference.update({"access_token_expires_at": LONG_AGO})
    assert listing(user.id, message_id="twice").status_code == 200
    assert listing(user.id, message_id="twice", results_expected=False).status_code == 200
    sandbox.state.update_behaviour({**GMAIL_REFUSES, "quota_refusal_status": 429})
    try:
        assert listing(user.id).status_code == 500  # Pub/Sub redelivers
    finally:
        sandbox.state.update_behaviour(GMAIL_ANSWERS)

    # Gmail push: a watch, new mail, the notification, the same notification again
    assert platform.post("watch", json={"user_id": user.id}).status_code == 200
    sandbox.state.deliver_messages(EMAIL, 2)
    notification = {"emailAddress": EMAIL, "historyId": sandbox.state.mailbox(EMAIL).history_id}
    results = results_subscription(emulator_env)
    assert platform.event("gmail_push", notification).status_code == 200
    pull_until_closed(subscriber, results, timeout=20)
    assert platform.event("gmail_push", notification).status_code == 200

    # the daily renewal, refused by the rate limit
    sandbox.state.update_behaviour({**GMAIL_REFUSES, "quota_refusal_status": 429})
    try:
        assert platform.post("renew_watches").status_code == 200
        unit = {"user_id": user.id, "run_id": "metrics"}
        assert platform.event("upkeep_user", unit).status_code == 500  # redelivered
    finally:
        sandbox.state.update_behaviour({**GMAIL_ANSWERS, "quota_refusal_status": 403})

    # a security event from Google, pushed to the receiver (recorded, nothing revoked)
    sandbox.state.risc.update_stream(
        DEFAULT_PROJECT,
        {
            "delivery": {"delivery_method": risc.PUSH, "url": platform.urls["security_events"]},
            "events_requested": list(risc.EVENT_TYPES.values()),
        },
    )
    event = requests.post(
        f"{sandbox.base_url}/_sandbox/risc/events",
        json={"event": "account-credential-change-required", "email": EMAIL},
        timeout=30,
    )
    assert event.status_code == 200, event.text
    assert event.json()["status"] == 202, event.text
    sandbox.state.risc.streams.clear()

    # the grant revoked at Google, found by the next listing
    sandbox.state.revoke_user(EMAIL)
    assert listing(user.id).status_code == 200


@pytest.fixture
def written(served, sandbox, firestore_client, emulator_env, subscriber) -> dict[str, list[str]]:
    """Every line each function wrote during the flow, by entry point."""
    run_the_flow(Platform(served.urls), sandbox, firestore_client, emulator_env, subscriber)
    served.stop()
    lines: dict[str, list[str]] = served.lines()
    return lines


def test_every_metric_counts_real_lines_and_extracts_its_labels(written) -> None:
    metrics = load_metrics()
    entries = entries_of(written)
    assert all_problems(metrics, entries) == []

    # the metrics an operator reads first, with the label values this flow must produce
    def values(key: str, label: str) -> set[str | None]:
        matches = parse_filter(metrics[key]["filter"])
        _, extract = parse_extractor(metrics[key]["labels"][label]["extractor"])
        return {extract(entry) for entry in entries if matches(entry)}

    assert values("consent_outcomes", "outcome") == {
        "connected",
        "declined",
        "lacks a required permission",
    }
    assert values("reauth_transitions", "reason") == {"invalid_grant"}
    assert {"listed", "duplicate", "redelivered", "failed"} <= values("mailbox_requests", "outcome")
    assert values("google_errors", "class") == {"429", "invalid_grant"}
    assert values("token_refreshes", "rotated") <= {"true", "false"}
    assert {"published", "already read"} <= values("push_notifications", "outcome")
    assert values("watch_renewal_failures", "error") == {"transient"}
    assert values("security_events", "event_type") == {"account-credential-change-required"}

    # a future metric's line exists nowhere yet: when it does, drop `future` so it is enforced
    for metric in metrics.values():
        if metric.get("future"):
            matches = parse_filter(metric["filter"])
            assert not any(matches(entry) for entry in entries), metric["name"]

    # MUTATIONS: the same lines, with a renamed field on either side, fail the contract.
    # A filter naming a field the functions do not write matches nothing.
    renamed = {**metrics["reauth_transitions"]}
    renamed["filter"] = renamed["filter"].replace("jsonPayload.event=", "jsonPayload.evnt=")
    assert metric_problems(renamed, entries) == [
        "reauth_transitions: its filter matches none of the "
        f"{len(entries)} lines the functions wrote"
    ]
    # A field renamed in the code (reason → cause) leaves the label empty.
    recoded = {
        target: [line.replace('"reason":', '"cause":') for line in lines]
        for target, lines in written.items()
    }
    assert any(
        "reauth_transitions: label reason (jsonPayload.reason) extracts nothing" in problem
        for problem in all_problems(metrics, entries_of(recoded))
    )
    # A message reworded in the code stops being counted.
    reworded = {
        target: [
            line.replace('"access token refreshed"', '"access token renewed"') for line in lines
        ]
        for target, lines in written.items()
    }
    assert "token_refreshes: its filter matches none" in " ".join(
        all_problems(metrics, entries_of(reworded))
    )
