"""One instance serving several requests at once (issue 17, item 5): Gmail's per-user cap on calls
in flight holds across threads and across two ``Services`` (two sets of clients in one process),
and every request completes exactly once. Correctness only; the throughput is ``bench.concurrency``.

The sandbox stands in for Gmail: its per-user count of calls in flight is recorded at its door.
"""

from __future__ import annotations

import collections
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from devstack.consent_browser import ConsentBrowser
from tests.integration.flow import connect
from tests.integration.results import pull_all, results_subscription

EMAILS = ("ada@example.com", "bob@example.com")
REQUESTS_PER_USER = 8
"""Twice the cap: each request makes one call at a time."""
MESSAGES = 30


@pytest.fixture
def results(emulator_env, function_env):
    return results_subscription(emulator_env)


@pytest.fixture
def peaks(sandbox, monkeypatch):
    """The most Gmail calls in flight at once, per user, as the sandbox saw them."""
    state = sandbox.state
    begin, end = state.begin_call, state.end_call
    lock = threading.Lock()
    open_calls: collections.Counter[str] = collections.Counter()
    peak: collections.Counter[str] = collections.Counter()

    def begin_call(email: str) -> bool:
        with lock:  # counted as it arrives: a call Gmail refuses for the cap was over it
            open_calls[email] += 1
            peak[email] = max(peak[email], open_calls[email])
        admitted: bool = begin(email)
        if not admitted:
            with lock:
                open_calls[email] -= 1
        return admitted

    def end_call(email: str) -> None:
        with lock:
            open_calls[email] -= 1
        end(email)

    monkeypatch.setattr(state, "begin_call", begin_call)
    monkeypatch.setattr(state, "end_call", end_call)
    latency, limit = state.behaviour.latency_ms, state.behaviour.concurrent_requests_per_user
    state.behaviour.latency_ms = 40  # calls overlap, as Gmail's do
    yield peak
    state.behaviour.latency_ms = latency
    state.behaviour.concurrent_requests_per_user = limit


def test_concurrent_requests_keep_each_users_cap_and_complete_once(
    apps, sandbox, firestore_client, publisher, subscriber, results, peaks
):
    from functions.config import get_settings
    from functions.gmail.limits import MAX_CALLS_PER_USER
    from functions.pipeline.mailbox import read_mailbox
    from functions.pipeline.requests import MailboxRequest
    from functions.services import Services

    users = {}
    for email in EMAILS:
        assert connect(apps, ConsentBrowser(), email).final.status_code == 200
        sandbox.state.seed_mailbox(email, MESSAGES)
    for document in firestore_client.collection("gmail_credentials").stream():
        users[(document.to_dict() or {})["email"]] = document.id
    # Gmail itself refuses past the cap: a breach would be a 429 retried, not a failure
    sandbox.state.behaviour.concurrent_requests_per_user = MAX_CALLS_PER_USER
    instances = [
        Services(get_settings(), firestore_client=firestore_client, publisher=publisher)
        for _ in range(2)
    ]
    work = [
        (instances[n % 2], users[email], f"req-{uuid.uuid4().hex[:8]}")
        for email in EMAILS
        for n in range(REQUESTS_PER_USER)
    ]
    start = threading.Barrier(len(work))

    def serve(item: tuple[Services, str, str]) -> None:
        services, user_id, request_id = item
        start.wait()
        request = MailboxRequest(
            user_id=user_id, request_id=request_id, format="metadata", include_spam_trash=True
        )
        read_mailbox(services, "default", request, event_id=uuid.uuid4().hex)

    sandbox.state.reset_calls()
    with ThreadPoolExecutor(max_workers=len(work)) as pool:
        list(pool.map(serve, work))

    assert all(peaks[email] <= MAX_CALLS_PER_USER for email in EMAILS), dict(peaks)
    assert any(peaks[email] > 1 for email in EMAILS), dict(peaks)  # the requests did overlap
    published = pull_all(subscriber, results)
    completes = collections.Counter(
        body["_attributes"]["request_id"] for body in published if body["type"] == "complete"
    )
    assert completes == {request_id: 1 for _, _, request_id in work}
    for _, _, request_id in work:
        ids = [
            item["id"]
            for body in published
            if body["type"] == "messages" and body["_attributes"]["request_id"] == request_id
            for item in body["messages"]
        ]
        assert len(ids) == len(set(ids)) == MESSAGES, request_id
