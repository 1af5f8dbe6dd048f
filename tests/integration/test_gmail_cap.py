"""Gmail's per-user cap on calls in flight holds across instances (issue 17, item 5): slot
documents in the Firestore emulator, each "instance" a cap or a ``Services`` on its own Firestore
client, and the sandbox refusing past its count of calls in flight per user as Gmail does."""

from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from google.cloud import firestore

from devstack.consent_browser import ConsentBrowser
from functions.config import get_settings
from functions.errors import TransientError
from functions.gmail import api as gmail
from functions.gmail.limits import MAX_CALLS_PER_USER, FirestoreGmailSlots, GmailCap, Hold
from functions.gmail.session import GmailSession
from functions.pipeline import ledger
from functions.pipeline.mailbox import read_mailbox
from functions.pipeline.requests import MailboxRequest
from functions.services import Services
from tests.integration.flow import connect
from tests.integration.results import pull_until_closed, results_subscription

pytestmark = pytest.mark.integration

EMAIL = "ada@example.com"
K = MAX_CALLS_PER_USER
SESSIONS = 3 * K
"""Sessions of one user at once, over two instances: more than the cap."""
CALLS = 3
"""Gmail calls each session makes, one after another."""


@pytest.fixture
def user_id(apps, firestore_client) -> str:
    assert connect(apps, ConsentBrowser(), EMAIL).final.status_code == 200
    [document] = firestore_client.collection("gmail_credentials").stream()
    return str(document.id)


@pytest.fixture
def refusals(sandbox, monkeypatch) -> Iterator[collections.Counter[str]]:
    """Gmail calls the sandbox refused for too many in flight, per user; Gmail's cap set to K
    and its calls slowed so that they overlap."""
    state = sandbox.state
    begin = state.begin_call
    refused: collections.Counter[str] = collections.Counter()

    def begin_call(email: str) -> bool:
        admitted: bool = begin(email)
        if not admitted:
            refused[email] += 1
        return admitted

    monkeypatch.setattr(state, "begin_call", begin_call)
    latency, limit = state.behaviour.latency_ms, state.behaviour.concurrent_requests_per_user
    state.behaviour.latency_ms, state.behaviour.concurrent_requests_per_user = 40, K
    yield refused
    state.behaviour.latency_ms, state.behaviour.concurrent_requests_per_user = latency, limit


def _instance(emulator_env, publisher, *, slots: int = K, budget: float | None = None) -> Services:
    """A ``Services`` as one instance has it: its own Firestore client, hence its own cap."""
    settings = get_settings()
    if budget is not None:
        settings = dataclasses.replace(settings, work_budget_seconds=budget)

    class Instance(Services):
        @functools.cached_property
        def gmail_cap(self) -> GmailCap:
            store = FirestoreGmailSlots(self.firestore, settings.credentials_collection)
            return GmailCap(store, hold_for=timedelta(seconds=60), slots=slots)

    client = firestore.Client(project=emulator_env.project)
    return Instance(settings, firestore_client=client, publisher=publisher)


def _cap(emulator_env, later: timedelta = timedelta(0)) -> GmailCap:
    """A cap as one instance has it, on its own Firestore client; its clock ``later`` ahead."""
    client = firestore.Client(project=emulator_env.project)
    return GmailCap(
        FirestoreGmailSlots(client, "gmail_credentials"),
        hold_for=HOLD,
        now=lambda: datetime.now(UTC) + later,
    )


HOLD = timedelta(seconds=60)


def _sessions_at_once(instances: list[Services], user_id: str) -> None:
    """``SESSIONS`` sessions of the user at once, spread over ``instances``, each making
    ``CALLS`` Gmail calls in turn."""
    start = threading.Barrier(SESSIONS)

    def session(n: int) -> None:
        services = instances[n % len(instances)]
        user = services.token_store.get(user_id)
        assert user is not None
        start.wait()
        with GmailSession(services, user) as gmail_session:
            for _ in range(CALLS):
                gmail_session.execute(
                    lambda api: gmail.list_request(api, page_token=None, remaining=5)
                )

    with ThreadPoolExecutor(max_workers=SESSIONS) as pool:
        list(pool.map(session, range(SESSIONS)))
    for services in instances:
        services.gmail_cap.settle()


def test_two_instances_together_keep_gmails_cap_and_without_it_gmail_refuses(
    emulator_env, publisher, firestore_client, sandbox, user_id, refusals
):
    # WHEN more sessions than the cap run at once for one user, on two instances
    _sessions_at_once([_instance(emulator_env, publisher) for _ in range(2)], user_id)

    # THEN Gmail refused none of their calls, and every slot was given back
    assert refusals[EMAIL] == 0
    assert sandbox.state.call_counts().get("gmail.messages.list", 0) >= SESSIONS * CALLS
    user = firestore_client.collection("gmail_credentials").document(user_id)
    assert list(user.collection("gmail_slots").stream()) == []

    # AND the same sessions with a cap too large to hold are refused (retried: they finish)
    uncapped = [_instance(emulator_env, publisher, slots=SESSIONS) for _ in range(2)]
    _sessions_at_once(uncapped, user_id)
    assert refusals[EMAIL] > 0


def test_a_crashed_holders_slots_are_taken_over_once_expired_by_one_instance_each(emulator_env):
    user = f"u-{uuid.uuid4().hex[:8]}"
    crashed = _cap(emulator_env)
    held = [crashed.take(user, 1.0) for _ in range(K)]  # and never given back
    assert len({hold.index for hold in held}) == K

    # WHILE they live, another instance finds none
    assert _cap(emulator_env).try_take(user) is None

    # WHEN they have expired, two instances race for twice as many slots as there are
    others = [_cap(emulator_env, later=HOLD + timedelta(seconds=1)) for _ in range(2)]

    def take(n: int) -> Hold | None:
        try:
            return others[n % 2].take(user, 0.5)
        except TransientError:
            return None

    with ThreadPoolExecutor(max_workers=2 * K) as pool:
        taken = [hold for hold in pool.map(take, range(2 * K)) if hold is not None]

    # THEN each slot went to one of them
    assert sorted(hold.index for hold in taken) == list(range(K))


def test_a_released_slot_goes_to_the_next_session_here_or_elsewhere(emulator_env):
    user = f"u-{uuid.uuid4().hex[:8]}"
    here, elsewhere = _cap(emulator_env), _cap(emulator_env)
    held = [here.take(user, 1.0) for _ in range(K)]
    with pytest.raises(TransientError):
        elsewhere.take(user, 0.2)

    # WHEN a thread here waits for a slot, and one is given back
    with ThreadPoolExecutor(max_workers=1) as pool:
        waiting = pool.submit(here.take, user, 5.0)
        time.sleep(0.2)
        assert not waiting.done()  # all held here: it waits, without asking Firestore
        started = time.monotonic()
        here.release(held[0])
        # THEN it gets that slot as soon as it is deleted
        again = waiting.result(timeout=5)
    assert again.index == held[0].index
    assert time.monotonic() - started < 1.0

    # AND a slot given back here goes to another instance's session
    here.release(held[1])
    here.release(held[1])  # once only
    here.settle()
    assert elsewhere.take(user, 2.0).index == held[1].index


def test_different_users_do_not_contend(emulator_env):
    busy, other = f"u-{uuid.uuid4().hex[:8]}", f"u-{uuid.uuid4().hex[:8]}"
    cap = _cap(emulator_env)
    for _ in range(K):
        cap.take(busy, 1.0)
    started = time.monotonic()
    assert all(cap.try_take(other) is not None for _ in range(K))
    assert time.monotonic() - started < 1.0
    assert _cap(emulator_env).try_take(busy) is None


def test_a_request_finding_every_slot_held_past_its_budget_is_redelivered_and_loses_nothing(
    emulator_env, publisher, subscriber, firestore_client, sandbox, user_id
):
    sandbox.state.seed_mailbox(EMAIL, 30)
    results = results_subscription(emulator_env)
    busy = _cap(emulator_env)
    held = [busy.take(user_id, 1.0) for _ in range(K)]
    services = _instance(emulator_env, publisher, budget=1.0)
    request = MailboxRequest(user_id=user_id, request_id="r-busy", include_spam_trash=True)

    # WHEN every slot of the user stays held for the budget
    sandbox.state.reset_calls()
    started = time.monotonic()
    with pytest.raises(TransientError):
        read_mailbox(services, "default", request, "e-busy")

    # THEN the delivery fails as transient after its budget, without calling Gmail, with its
    # claim given up and nothing published
    assert 1.0 <= time.monotonic() - started < 5.0
    assert not any(name.startswith("gmail.") for name in sandbox.state.call_counts())
    name = hashlib.sha256(b"e-busy").hexdigest()
    marker = firestore_client.collection("processed_events").document(name).get().to_dict()
    assert marker["status"] == "running"
    assert marker["lease_until"] < datetime.now(UTC)

    # AND once a slot comes back, the redelivery reads everything once
    for hold in held:
        busy.release(hold)
    busy.settle()
    read_mailbox(services, "default", request, "e-busy")
    published = pull_until_closed(subscriber, results)  # the first attempt's would come first
    assert [body["type"] for body in published].count("complete") == 1
    ids = [
        item["id"] for body in published if body["type"] == "messages" for item in body["messages"]
    ]
    assert len(ids) == len(set(ids)) == 30
    ledger.settle()
    services.gmail_cap.settle()


def test_no_session_leaves_its_slot_held(
    emulator_env, publisher, firestore_client, sandbox, user_id
):
    # GIVEN a delivery of an event already done: its slot, taken alongside the claim, goes back
    sandbox.state.seed_mailbox(EMAIL, 5)
    services = _instance(emulator_env, publisher)
    request = MailboxRequest(user_id=user_id, request_id="r-twice")
    read_mailbox(services, "default", request, "e-twice")
    ledger.settle()
    read_mailbox(services, "default", request, "e-twice")
    services.gmail_cap.settle()
    user = firestore_client.collection("gmail_credentials").document(user_id)
    assert list(user.collection("gmail_slots").stream()) == []


def test_a_slot_outlives_the_waits_before_its_session_and_the_last_calls_timeout(
    function_env, firestore_client
):
    from functions.gmail.api import TIMEOUT_SECONDS
    from functions.grants.access import WAIT_SECONDS
    from functions.pipeline.ledger import TIMEOUT_SECONDS as LEDGER_SECONDS

    # GIVEN an instance's cap, as the services build it
    services = Services(get_settings(), firestore_client=firestore_client)
    user = f"u-{uuid.uuid4().hex[:8]}"
    taken_at = datetime.now(UTC)

    # WHEN a slot is taken ahead of a session (alongside the ledger's claim)
    hold = services.gmail_cap.try_take(user)

    # THEN it lives through the ledger's wait, another instance's refresh, the whole budget and
    # a call begun at its very end, so no other instance can take it while it may be in use
    assert hold is not None
    stored = firestore_client.document(f"gmail_credentials/{user}/gmail_slots/{hold.index}")
    lives = stored.get().to_dict()["expires_at"] - taken_at
    budget = services.settings.work_budget_seconds
    assert lives >= timedelta(seconds=LEDGER_SECONDS + WAIT_SECONDS + budget + TIMEOUT_SECONDS)
    services.gmail_cap.release(hold)
    services.gmail_cap.settle()
