"""The critical path of a warm mailbox request, counted through latency proxies in front of the
emulators: which storage round trips it waits for one after another, and that the concurrency
behind that count keeps each event's results published once, and only then marked done."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent import futures
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.cloud import firestore

from bench.latency_proxy import LatencyProxy, Rpc, sequential_round_trips
from devstack.consent_browser import ConsentBrowser
from functions.config import get_settings
from functions.errors import TransientError
from functions.gmail.limits import SLOTS, FirestoreGmailSlots
from functions.pipeline import ledger
from functions.pipeline.ledger import Claim, FirestoreEventLedger
from functions.pipeline.mailbox import read_mailbox
from functions.pipeline.push import Notification, read_changes
from functions.pipeline.requests import MailboxRequest
from functions.pipeline.watch import start_watch
from functions.services import Services, make_publisher
from tests.integration.flow import connect
from tests.integration.results import pull_all, pull_until_closed, results_subscription

pytestmark = pytest.mark.integration

EMAIL = "ada@example.com"
ROUND_TRIP_MS = 40
BEFORE_THE_ACK = 2
"""The ledger's claim, the user's document and one of the user's Gmail slots together, then the
results' publish."""
IN_ALL = 3
"""And the ledger's ``done``, which must follow the publish and is not waited for. The Gmail
slot's release is one more write nothing waits for: it leaves as the session ends, alongside the
publish; held back here until the count is taken, to show that nothing waits for it."""
PUSH_BEFORE_THE_ACK = 4
"""The user's lookup with the claim, then one of the user's Gmail slots (its key, the user ID,
comes from the lookup, so it cannot go alongside), the publish, and the position's write."""


@pytest.fixture
def user_id(apps, firestore_client):
    assert connect(apps, ConsentBrowser(), EMAIL).final.status_code == 200
    [document] = firestore_client.collection("gmail_credentials").stream()
    return document.id


@pytest.fixture
def slow_storage(function_env, emulator_env, monkeypatch) -> Iterator[dict[str, LatencyProxy]]:
    """Firestore and Pub/Sub clients made within reach the emulators at ``ROUND_TRIP_MS``."""
    with (
        LatencyProxy("firestore", emulator_env.firestore_host, ROUND_TRIP_MS) as store,
        LatencyProxy("pubsub", emulator_env.pubsub_host, ROUND_TRIP_MS) as pubsub,
    ):
        monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", store.host_port)
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub.host_port)
        yield {"firestore": store, "pubsub": pubsub}


def _request(user_id: str, request_id: str | None = None) -> MailboxRequest:
    return MailboxRequest(
        user_id=user_id, request_id=request_id or uuid.uuid4().hex, include_spam_trash=True
    )


def _rpcs(proxies: dict[str, LatencyProxy]) -> list[Rpc]:
    return sorted((rpc for p in proxies.values() for rpc in p.rpcs()), key=lambda r: r.opened)


def _slot_releases_held_back(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Gmail slots given back from now on wait, in the background, until the event is set."""
    give_back = FirestoreGmailSlots.give_back
    let_go = threading.Event()

    def held_back(self: FirestoreGmailSlots, *args: Any) -> None:
        let_go.wait(timeout=30)
        give_back(self, *args)

    monkeypatch.setattr(FirestoreGmailSlots, "give_back", held_back)
    return let_go


@contextlib.contextmanager
def _counted(
    services: Services,
    slow_storage: dict[str, LatencyProxy],
    monkeypatch: pytest.MonkeyPatch,
    publisher: Any,
) -> Iterator[list[Rpc]]:
    """Within: one warm run whose storage RPCs are counted, from a quiet start (earlier done
    marks and slots settled); Gmail slots given back meanwhile are held back until the count is
    taken, so that a release cannot land within it. Yields the RPCs, filled in on leaving."""
    ledger.settle()
    services.gmail_cap.settle()
    let_go = _slot_releases_held_back(monkeypatch)
    for proxy in slow_storage.values():
        proxy.reset()
    rpcs: list[Rpc] = []
    yield rpcs
    ledger.settle()
    rpcs += _rpcs(slow_storage)
    let_go.set()
    services.gmail_cap.settle()
    publisher.stop()


def _slots_held(firestore_client, user_id: str) -> list[str]:
    user = firestore_client.collection("gmail_credentials").document(user_id)
    return [slot.id for slot in user.collection(SLOTS).stream()]


def test_a_warm_small_request_waits_for_two_storage_round_trips_and_marks_done_after(
    slow_storage, emulator_env, sandbox, user_id, firestore_client, monkeypatch
):
    # GIVEN a warm instance (clients connected, one request served) and a 100-message mailbox
    sandbox.state.seed_mailbox(EMAIL, 100)
    publisher = make_publisher()
    services = Services(
        get_settings(),
        firestore_client=firestore.Client(project=emulator_env.project),
        publisher=publisher,
    )
    read_mailbox(services, "default", _request(user_id), uuid.uuid4().hex)

    # WHEN the next request is served
    event_id = uuid.uuid4().hex
    with _counted(services, slow_storage, monkeypatch, publisher) as rpcs:
        read_mailbox(services, "default", _request(user_id), event_id)
        acknowledged = time.monotonic()

    # THEN its Gmail slot was given back without it waiting ...
    assert _slots_held(firestore_client, user_id) == []
    # ... it waited for two storage round trips one after another, and sent a third ...
    waited = [rpc for rpc in rpcs if rpc.closed is not None and rpc.closed <= acknowledged]
    assert sequential_round_trips(waited) == BEFORE_THE_ACK, rpcs
    assert sequential_round_trips(rpcs) == IN_ALL, rpcs
    [mark] = [rpc for rpc in rpcs if rpc not in waited]
    assert mark.service == "firestore"
    assert _marker(services.firestore, event_id)["status"] == "done"
    # ... the claim, the user's read and the slot in flight together ...
    together = [rpc for rpc in rpcs if rpc.service == "firestore"][:3]
    assert max(rpc.opened for rpc in together) < min(rpc.closed or 0 for rpc in together)
    # ... and the ledger marked done only after every publish was accepted
    done = max((rpc for rpc in rpcs if rpc.service == "firestore"), key=lambda r: r.opened)
    publishes = [rpc for rpc in rpcs if rpc.service == "pubsub"]
    assert publishes
    assert all(rpc.closed is not None and rpc.closed <= done.opened for rpc in publishes)


class _RefusingPublisher:
    """A publisher whose every publish fails, as Pub/Sub does when it is unreachable."""

    def publish(self, topic: str, data: bytes, **attributes: str) -> futures.Future[str]:
        failed: futures.Future[str] = futures.Future()
        failed.set_exception(RuntimeError("unavailable"))
        return failed


class _DoneNeverWritten(FirestoreEventLedger):
    """A ledger whose ``done`` is lost: the instance dies between the publish and the mark."""

    def finish(self, event_id: str, owner: str, outcome: str, now: datetime) -> None:
        raise RuntimeError("the instance died")


class _DoneSlowly(FirestoreEventLedger):
    """A ledger whose ``done`` takes a while to land."""

    def finish(self, event_id: str, owner: str, outcome: str, now: datetime) -> None:
        time.sleep(1.0)
        super().finish(event_id, owner, outcome, now)


def _services(database, publisher, ledger: type[FirestoreEventLedger] = FirestoreEventLedger):
    class Quick(Services):
        @functools.cached_property
        def event_ledger(self) -> Any:
            return ledger(self.firestore, "processed_events", timedelta(seconds=1))

    return Quick(get_settings(), firestore_client=database, publisher=publisher)


def _marker(firestore_client, event_id: str) -> dict[str, Any]:
    name = hashlib.sha256(event_id.encode()).hexdigest()
    return firestore_client.collection("processed_events").document(name).get().to_dict() or {}


def test_results_not_accepted_leave_the_event_open_and_the_redelivery_publishes_them_once(
    function_env, firestore_client, publisher, subscriber, emulator_env, sandbox, user_id
):
    sandbox.state.seed_mailbox(EMAIL, 100)
    results = results_subscription(emulator_env)
    request = _request(user_id, "refused-once")

    # WHEN Pub/Sub refuses the results, the delivery fails as transient (it is not acknowledged)
    with pytest.raises(TransientError):
        read_mailbox(
            _services(firestore_client, _RefusingPublisher()), "default", request, "e-refused"
        )
    # THEN the event is not done, and its claim is given up for the redelivery
    marker = _marker(firestore_client, "e-refused")
    assert marker["status"] == "running"
    assert marker["lease_until"] < datetime.now(UTC)

    # AND the redelivery publishes every result once
    read_mailbox(_services(firestore_client, publisher), "default", request, "e-refused")
    published = pull_until_closed(subscriber, results)
    assert sorted(body["result_id"] for body in published) == [
        "refused-once:1",
        "refused-once:complete",
    ]
    ledger.settle()
    assert _marker(firestore_client, "e-refused")["status"] == "done"


def test_a_duplicate_while_the_done_mark_is_on_its_way_is_busy_here_and_waits_on_this_instance(
    function_env, firestore_client, publisher, subscriber, emulator_env, sandbox, user_id
):
    sandbox.state.seed_mailbox(EMAIL, 100)
    results = results_subscription(emulator_env)
    request = _request(user_id, "slow-mark")
    services = _services(firestore_client, publisher, _DoneSlowly)

    # GIVEN a request acknowledged after its results were published, its mark still on its way
    read_mailbox(services, "default", request, "e-slow")
    assert {b["result_id"] for b in pull_until_closed(subscriber, results)} == {
        "slow-mark:1",
        "slow-mark:complete",
    }

    # THEN another instance's claim is told the event is busy (Pub/Sub brings it back later) ...
    claimed = services.event_ledger.claim("e-slow", "another-instance", datetime.now(UTC))
    assert claimed.claim is Claim.BUSY
    # ... and a duplicate on this instance waits for the mark, finds it done, publishes nothing
    read_mailbox(services, "default", request, "e-slow")
    assert _marker(firestore_client, "e-slow")["status"] == "done"
    assert pull_all(subscriber, results) == []


def test_an_instance_dying_between_publish_and_done_is_resumed_under_the_same_result_ids(
    function_env, firestore_client, publisher, subscriber, emulator_env, sandbox, user_id
):
    sandbox.state.seed_mailbox(EMAIL, 100)
    results = results_subscription(emulator_env)
    request = _request(user_id, "died")

    # GIVEN an attempt that published everything, was acknowledged, and died before its mark
    read_mailbox(
        _services(firestore_client, publisher, _DoneNeverWritten), "default", request, "e-died"
    )
    ledger.settle()
    first = pull_until_closed(subscriber, results)
    assert _marker(firestore_client, "e-died")["status"] == "running"

    # WHEN Pub/Sub delivers it again once the dead attempt's lease has lapsed
    time.sleep(1.2)
    read_mailbox(_services(firestore_client, publisher), "default", request, "e-died")
    again = pull_until_closed(subscriber, results)
    ledger.settle()

    # THEN the event is done, and what was sent again carries the same result IDs
    assert _marker(firestore_client, "e-died")["status"] == "done"
    assert {b["result_id"] for b in first} == {b["result_id"] for b in again}
    assert {b["result_id"] for b in again} == {"died:1", "died:complete"}

    # AND a further delivery publishes nothing
    read_mailbox(_services(firestore_client, publisher), "default", request, "e-died")
    assert pull_all(subscriber, results) == []


def test_a_failed_read_ahead_fails_the_attempt_and_gives_the_claim_up(
    function_env, firestore_client, publisher, subscriber, emulator_env, sandbox, user_id
):
    class Unreachable(Services):
        @functools.cached_property
        def token_store(self) -> Any:
            class Failing:
                def get(self, user_id: str, *, granted_to: str | None = None) -> None:
                    raise TransientError("Firestore is unreachable")

            return Failing()

    results = results_subscription(emulator_env)
    services = Unreachable(get_settings(), firestore_client=firestore_client, publisher=publisher)
    with pytest.raises(TransientError):
        read_mailbox(services, "default", _request(user_id, "no-read"), "e-no-read")

    marker = _marker(firestore_client, "e-no-read")
    assert marker["status"] == "running"
    assert marker["lease_until"] < datetime.now(UTC)  # a redelivery may resume at once
    assert pull_all(subscriber, results) == []


def test_a_warm_push_notification_waits_for_four_storage_round_trips(
    slow_storage, emulator_env, sandbox, user_id, monkeypatch
):
    # GIVEN a watched user and a warm instance that has read one notification
    publisher = make_publisher()
    services = Services(
        get_settings(),
        firestore_client=firestore.Client(project=emulator_env.project),
        publisher=publisher,
    )
    start_watch(services, user_id)

    def notified() -> None:
        sandbox.state.deliver_messages(EMAIL, 3)
        history_id = int(sandbox.state.mailbox(EMAIL).history_id)
        assert read_changes(services, Notification(EMAIL, history_id), uuid.uuid4().hex) == 3

    notified()

    # WHEN the next notification is read
    with _counted(services, slow_storage, monkeypatch, publisher) as rpcs:
        notified()
        acknowledged = time.monotonic()

    # THEN the user's lookup went with the claim, then a Gmail slot was taken, then the publish,
    # then the position moved in one conditional write; the done mark came after the
    # acknowledgement (and the slot's release, held back here, waited for by nothing)
    waited = [rpc for rpc in rpcs if rpc.closed is not None and rpc.closed <= acknowledged]
    assert sequential_round_trips(waited) == PUSH_BEFORE_THE_ACK, rpcs
    assert sequential_round_trips(rpcs) == PUSH_BEFORE_THE_ACK + 1, rpcs


def test_a_position_that_changed_since_it_was_read_never_moves_backwards(
    function_env, firestore_client, publisher, sandbox, user_id
):
    services = _services(firestore_client, publisher)
    start_watch(services, user_id)
    positions = services.watch_positions
    found = positions.find_user(user_id)
    assert found is not None
    _, seen = found
    assert seen is not None
    start = int(seen.history_id)

    # GIVEN another notification moved the position on since ``seen`` was read
    positions.advance(user_id, str(start + 20), seen=seen)

    # WHEN an older one, read from the same ``seen``, would move it to less
    positions.advance(user_id, str(start + 10), seen=seen)
    # THEN it stays; and a newer one still moves it (through the transaction)
    assert _position(positions, user_id) == start + 20
    positions.advance(user_id, str(start + 30), seen=seen)
    assert _position(positions, user_id) == start + 30


def _position(positions: Any, user_id: str) -> int:
    found = positions.find_user(user_id)
    assert found is not None
    assert found[1] is not None
    return int(found[1].history_id)
