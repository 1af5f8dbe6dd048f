"""Running the daily job as deployed: ``renew_watches`` dispatches, each unit goes to
``upkeep_user`` (what the push subscription on ``UPKEEP_TOPIC`` does in the stack)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.integration.results import cloud_event, pull_all, results_subscription

UPKEEP_TOPIC = "daily-upkeep"


def upkeep_subscription(emulators: Any) -> str:
    """A fresh pull subscription on the upkeep topic: it sees the units dispatched from now on."""
    return results_subscription(emulators, UPKEEP_TOPIC)


def deliver_units(
    subscriber: Any,
    subscription: str,
    deliver: Callable[[dict[str, Any]], int],
    *,
    run_id: str | None = None,
) -> list[dict[str, Any]]:
    """Pull every dispatched unit and deliver each once; ``run_id`` stands for another day's run.

    Args:
        deliver: posts one push delivery (``cloud_event``'s keywords) and answers its status.

    Returns:
        The units delivered, each with the status ``upkeep_user`` answered (``_status``).
    """
    units = pull_all(subscriber, subscription)
    for unit in units:
        body = {"user_id": unit["user_id"], "run_id": run_id or unit["run_id"]}
        unit["_status"] = deliver(cloud_event(body, topic=UPKEEP_TOPIC))
    return units


def run_daily_job(
    apps: Any, subscriber: Any, emulators: Any, *, run_id: str | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """POST ``renew_watches`` as Cloud Scheduler does, then deliver its units to
    ``upkeep_user``; answers the dispatcher's JSON and the units with their statuses."""
    subscription = upkeep_subscription(emulators)
    response = apps.renew_watches.post("/")
    assert response.status_code == 200, response.get_data(as_text=True)
    units = deliver_units(
        subscriber,
        subscription,
        lambda delivery: int(apps.upkeep_user.post(**delivery).status_code),
        run_id=run_id,
    )
    return response.get_json(), units
