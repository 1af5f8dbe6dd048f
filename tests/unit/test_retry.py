"""Retrying within a budget: Google's stated retry time first, jittered backoff otherwise."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httplib2
import pytest
from googleapiclient.errors import HttpError

from functions.errors import TransientError
from functions.gmail import retry

NOW = datetime(2026, 11, 29, 16, 59, 30, tzinfo=UTC)


def gmail_error(status: int, reason: str, message: str, **extra: object) -> HttpError:
    error = {
        "code": status,
        "message": message,
        "errors": [{"message": message, "domain": "usageLimits", "reason": reason}],
        "status": "PERMISSION_DENIED" if status == 403 else "RESOURCE_EXHAUSTED",
        **extra,
    }
    headers = {"status": str(status), "content-type": "application/json"}
    return HttpError(httplib2.Response(headers), json.dumps({"error": error}).encode())


class Flaky:
    """Fails with each of ``errors`` in turn, then answers ``"ok"``."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def run(action: Flaky, budget: float = 60.0) -> tuple[str, list[float]]:
    slept: list[float] = []
    result = retry.call(
        action,
        budget=retry.Budget(budget),
        sleep=slept.append,
        jitter=lambda low, high: low,
        now=lambda: NOW,
    )
    return result, slept


@pytest.mark.parametrize(
    ("status", "reason"),
    [(403, "userRateLimitExceeded"), (403, "rateLimitExceeded"), (429, "rateLimitExceeded")],
)
def test_a_rate_limit_waits_until_the_time_in_the_message(status, reason):
    # GIVEN Gmail's refusal: no Retry-After header, the time to retry from in the message
    refused = gmail_error(
        status, reason, "User-rate limit exceeded.  Retry after 2026-11-29T17:00:00.000Z"
    )
    action = Flaky(refused)

    result, slept = run(action)

    assert result == "ok"
    assert slept == [30.0]  # until 17:00:00, not a short backoff that is refused again
    assert action.calls == 2


def test_a_retry_info_detail_is_honoured():
    detail = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.5s"}
    refused = gmail_error(429, "rateLimitExceeded", "Quota exceeded", details=[detail])

    assert run(Flaky(refused))[1] == [2.5]


def test_a_retry_after_header_is_still_honoured():
    refused = HttpError(httplib2.Response({"status": "503", "retry-after": "7"}), b"{}")

    assert run(Flaky(refused))[1] == [7.0]


def test_a_stated_time_past_the_budget_is_left_to_pub_sub_without_waiting():
    late = (NOW + timedelta(seconds=90)).isoformat().replace("+00:00", "Z")
    action = Flaky(gmail_error(403, "userRateLimitExceeded", f"Retry after {late}"))

    with pytest.raises(TransientError):
        run(action, budget=60)

    assert action.calls == 1


def test_a_stated_time_already_passed_retries_at_once():
    refused = gmail_error(403, "userRateLimitExceeded", "Retry after 2026-11-29T16:00:00Z")

    assert run(Flaky(refused))[1] == [0.0]


def test_without_a_stated_time_the_backoff_doubles_with_full_jitter():
    concurrent = gmail_error(429, "rateLimitExceeded", "Too many concurrent requests for user")
    slept: list[float] = []

    retry.call(
        Flaky(concurrent, concurrent, concurrent),
        budget=retry.Budget(60),
        sleep=slept.append,
        jitter=lambda low, high: high,
        now=lambda: NOW,
    )

    assert slept == [0.5, 1.0, 2.0]
