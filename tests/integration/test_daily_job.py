"""The daily job's fan-out against the emulators: every stored user is dispatched exactly once,
across page boundaries, and each unit is done once per run however it is delivered (a
redelivery, a second dispatch the same day, a replayed dead letter)."""

from __future__ import annotations

from typing import Any

import pytest

from functions.config import get_settings
from functions.pipeline.daily import UnitOfWork, dispatch, upkeep_user
from functions.pipeline.ledger import REPLAY_OF
from functions.services import Services
from tests.integration.daily import UPKEEP_TOPIC, upkeep_subscription
from tests.integration.results import cloud_event, pull_all

pytestmark = pytest.mark.integration


@pytest.fixture
def services(function_env, firestore_client, publisher) -> Services:
    return Services(get_settings(), firestore_client=firestore_client, publisher=publisher)


def stored_users(firestore_client, count: int) -> list[str]:
    """``count`` documents as a lapsed user leaves them: nothing for the unit to ask Google."""
    ids = [f"user-{n:03d}" for n in range(count)]
    for user_id in ids:
        document = {"status": "reauth_required", "status_reason": "invalid_grant"}
        firestore_client.collection("gmail_credentials").document(user_id).set(document)
    return ids


@pytest.mark.parametrize("count", [0, 1, 2, 3, 4, 5])
def test_paging_through_the_users_returns_each_id_once(services, firestore_client, count):
    ids = stored_users(firestore_client, count)

    pages = list(services.token_store.user_ids(page_size=2))

    assert [user_id for page in pages for user_id in page] == ids
    assert all(0 < len(page) <= 2 for page in pages)


def test_a_dispatch_publishes_one_unit_per_user_of_one_run(
    services, firestore_client, subscriber, emulator_env
):
    ids = stored_users(firestore_client, 7)
    subscription = upkeep_subscription(emulator_env)

    dispatched = dispatch(services, run_id="2026-11-29")

    units = pull_all(subscriber, subscription)
    assert dispatched.users == 7
    assert sorted(unit["user_id"] for unit in units) == ids
    assert {unit["run_id"] for unit in units} == {"2026-11-29"}
    assert all(unit["_attributes"]["user_id"] == unit["user_id"] for unit in units)


def test_a_unit_is_done_once_per_run_and_again_the_next_day(services, firestore_client):
    [user_id] = stored_users(firestore_client, 1)

    first = upkeep_user(services, UnitOfWork(user_id, "day-1"))
    again = upkeep_user(services, UnitOfWork(user_id, "day-1"))
    next_day = upkeep_user(services, UnitOfWork(user_id, "day-2"))

    assert first == {"grant": None, "watch": None}  # a lapsed user: nothing to do
    assert again is None  # a redelivery or a second dispatch: already done
    assert next_day == first


def test_a_replayed_dead_letter_of_a_done_unit_does_nothing_more(apps, firestore_client, caplog):
    [user_id] = stored_users(firestore_client, 1)
    body: dict[str, Any] = {"user_id": user_id, "run_id": "day-1"}
    first = cloud_event(body, topic=UPKEEP_TOPIC, message_id="original")
    assert apps.upkeep_user.post(**first).status_code == 200

    replay = cloud_event(body, topic=UPKEEP_TOPIC, message_id="replayed")
    replay["json"]["message"]["attributes"] = {REPLAY_OF: "original"}
    caplog.clear()
    with caplog.at_level("INFO"):
        assert apps.upkeep_user.post(**replay).status_code == 200

    assert "duplicate delivery ignored" in caplog.text
    assert "daily upkeep done" not in caplog.text


def test_a_unit_for_a_user_gone_since_the_dispatch_is_acknowledged(apps):
    unit = {"user_id": "disconnected-meanwhile", "run_id": "day-1"}
    assert apps.upkeep_user.post(**cloud_event(unit, topic=UPKEEP_TOPIC)).status_code == 200
