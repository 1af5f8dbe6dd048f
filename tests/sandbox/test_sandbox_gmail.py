"""Gmail v1 subset through the test client: listing, paging, search, errors and quota."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import googleapiclient
import pytest
import requests
from flask.testing import FlaskClient

from tests.sandbox.sandbox_helpers import EMAIL, retry_after_text

LIST = "/gmail/v1/users/me/messages"
SPAM_TRASH = {"SPAM", "TRASH"}


@pytest.fixture
def mailbox(state):
    return state.seed_mailbox(EMAIL, 1234, seed=7)


def _all_ids(http: FlaskClient, headers: dict[str, str], **params: Any) -> tuple[list[str], int]:
    """Follow nextPageToken to the end; returns (ids, number of calls)."""
    ids: list[str] = []
    calls, token = 0, None
    while True:
        query = {**params, **({"pageToken": token} if token else {})}
        body = http.get(LIST, headers=headers, query_string=query).json
        assert isinstance(body, dict)
        calls += 1
        ids += [m["id"] for m in body.get("messages", [])]
        token = body.get("nextPageToken")
        if not token:
            return ids, calls


def test_list_defaults_to_100_newest_first_without_spam_and_trash(http, bearer, mailbox):
    body = http.get(LIST, headers=bearer).json

    visible = [m for m in mailbox if not m.label_ids & SPAM_TRASH]
    assert [m["id"] for m in body["messages"]] == [m.id for m in visible[:100]]
    assert body["messages"][0] == {"id": visible[0].id, "threadId": visible[0].thread_id}
    assert body["resultSizeEstimate"] == len(visible)
    assert isinstance(body["nextPageToken"], str)


def test_paging_returns_every_match_exactly_once(http, bearer, mailbox):
    ids, calls = _all_ids(http, bearer, maxResults=500, includeSpamTrash="true")

    assert calls == 3
    assert ids == [m.id for m in mailbox]
    assert len(set(ids)) == 1234


def test_max_results_is_clamped_to_500(http, bearer, mailbox):
    body = http.get(LIST, headers=bearer, query_string={"maxResults": 1000}).json

    assert len(body["messages"]) == 500


@pytest.mark.parametrize("value", ["abc", "0", "-3"])
def test_a_bad_max_results_is_invalid_argument(http, bearer, value):
    response = http.get(LIST, headers=bearer, query_string={"maxResults": value})

    assert response.status_code == 400
    assert response.json["error"]["status"] == "INVALID_ARGUMENT"


def test_label_ids_must_all_be_present(http, bearer, mailbox):
    params = {"labelIds": ["INBOX", "UNREAD"], "maxResults": 500}

    ids, _ = _all_ids(http, bearer, **params)

    assert ids == [m.id for m in mailbox if {"INBOX", "UNREAD"} <= m.label_ids]
    assert ids


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("label:unread", lambda m: "UNREAD" in m.label_ids),
        ("is:unread", lambda m: "UNREAD" in m.label_ids),
        ("is:read in:inbox", lambda m: "INBOX" in m.label_ids and "UNREAD" not in m.label_ids),
        ("label:category-promotions", lambda m: "CATEGORY_PROMOTIONS" in m.label_ids),
        ("category:social", lambda m: "CATEGORY_SOCIAL" in m.label_ids),
        (
            "is:starred -is:important",
            lambda m: "STARRED" in m.label_ids and "IMPORTANT" not in m.label_ids,
        ),
        ("in:sent", lambda m: "SENT" in m.label_ids),
        ("from:shopco", lambda m: "shopco" in m.sender.lower()),
        ('subject:"lunch on"', lambda m: "lunch on" in m.subject.lower()),
        ("to:" + EMAIL, lambda m: m.to == EMAIL),
        ("garden", lambda m: "garden" in m.snippet),
    ],
)
def test_queries_match_gmail_semantics(http, bearer, mailbox, q, expected):
    ids, _ = _all_ids(http, bearer, q=q, maxResults=500)

    assert ids == [m.id for m in mailbox if not m.label_ids & SPAM_TRASH and expected(m)]
    assert ids


@pytest.mark.parametrize(
    ("params", "labels"),
    [
        ({"q": "in:spam"}, {"SPAM"}),
        ({"q": "label:trash"}, {"TRASH"}),
        ({"labelIds": "SPAM"}, {"SPAM"}),
        ({"q": "in:anywhere"}, None),
        ({"includeSpamTrash": "true"}, None),
    ],
)
def test_spam_and_trash_appear_when_asked_for(http, bearer, mailbox, params, labels):
    ids, _ = _all_ids(http, bearer, maxResults=500, **params)

    assert ids == [m.id for m in mailbox if labels is None or labels <= m.label_ids]


def test_no_match_has_no_messages_key(http, bearer, mailbox):
    body = http.get(LIST, headers=bearer, query_string={"q": "from:nobody-at-all"}).json

    assert body == {"resultSizeEstimate": 0}


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        (
            "from:shopco OR is:starred",
            lambda m: "shopco" in m.sender.lower() or "STARRED" in m.label_ids,
        ),
        ("{in:sent category:social}", lambda m: bool({"SENT", "CATEGORY_SOCIAL"} & m.label_ids)),
        ("subject:(lunch -photos)", lambda m: "lunch" in m.subject.lower()),
        ("-has:attachment larger:100", lambda m: True),
    ],
)
def test_or_braces_groups_has_and_larger_are_gmail_syntax(http, bearer, mailbox, q, expected):
    ids, _ = _all_ids(http, bearer, q=q, maxResults=500)

    assert ids == [m.id for m in mailbox if not m.label_ids & SPAM_TRASH and expected(m)]
    assert ids


def test_the_discovery_documents_own_q_example_is_accepted(http, bearer, mailbox):
    discovery = Path(googleapiclient.__file__).parent / "discovery_cache/documents/gmail.v1.json"
    methods = json.loads(discovery.read_text())["resources"]["users"]["resources"]["messages"]
    example = re.search(
        r'`"([^"`]+)"`', methods["methods"]["list"]["parameters"]["q"]["description"]
    )
    assert example is not None
    assert "rfc822msgid:" in example[1]

    response = http.get(LIST, headers=bearer, query_string={"q": example[1]})

    assert response.status_code == 200  # nothing matches, but Gmail's own example is no error


def test_rfc822msgid_finds_the_message_with_that_message_id(http, bearer, mailbox):
    unread = next(m for m in mailbox if "UNREAD" in m.label_ids)
    headers = http.get(f"{LIST}/{unread.id}", headers=bearer).json["payload"]["headers"]
    message_id = next(h["value"] for h in headers if h["name"] == "Message-ID")

    body = http.get(LIST, headers=bearer, query_string={"q": f"rfc822msgid:{message_id} is:unread"})

    assert body.json["messages"] == [{"id": unread.id, "threadId": unread.thread_id}]


@pytest.mark.parametrize("q", ["(a b", "bogus:thing", "is:fancy", "after:2020/13/45"])
def test_an_unsupported_query_is_invalid_argument(http, bearer, q):
    response = http.get(LIST, headers=bearer, query_string={"q": q})

    assert response.status_code == 400
    assert response.json["error"] == {
        "code": 400,
        "message": "Invalid query",
        "errors": [{"message": "Invalid query", "domain": "global", "reason": "invalidArgument"}],
        "status": "INVALID_ARGUMENT",
    }


@pytest.mark.parametrize("token", ["garbage", "bTE6MTox", "%%%"])
def test_a_forged_page_token_is_invalid_argument(http, bearer, token):
    response = http.get(LIST, headers=bearer, query_string={"pageToken": token})

    assert response.status_code == 400
    assert response.json["error"]["status"] == "INVALID_ARGUMENT"


@pytest.mark.parametrize("header", [None, "Bearer sbx-at-forged"])
def test_without_a_valid_token_gmail_answers_401(http, header):
    response = http.get(LIST, headers={"Authorization": header} if header else {})

    assert response.status_code == 401
    error = response.json["error"]
    assert error["code"] == 401
    assert error["status"] == "UNAUTHENTICATED"
    assert error["errors"][0]["reason"] == "authError"


def test_a_revoked_token_gets_401(http, tokens, state):
    token = tokens()["access_token"]
    state.revoke_user(EMAIL)

    response = http.get(LIST, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401


def test_a_token_without_gmail_scope_gets_403_insufficient_permissions(http, tokens):
    token = tokens(tick=("openid", "email"))["access_token"]

    response = http.get(LIST, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 403
    error = response.json["error"]
    assert error["status"] == "PERMISSION_DENIED"
    assert error["errors"][0]["reason"] == "insufficientPermissions"


def test_metadata_scope_cannot_search(http, tokens):
    metadata = "https://www.googleapis.com/auth/gmail.metadata"
    headers = {"Authorization": f"Bearer {tokens(scopes=(metadata,))['access_token']}"}

    assert http.get(LIST, headers=headers).status_code == 200
    assert http.get(LIST, headers=headers, query_string={"q": "is:unread"}).status_code == 403


def test_user_id_may_be_me_or_the_owner_but_nobody_else(http, bearer, mailbox):
    owner = http.get(f"/gmail/v1/users/{EMAIL.upper()}/messages", headers=bearer)
    other = http.get("/gmail/v1/users/bob@example.com/messages", headers=bearer)

    assert owner.status_code == 200
    assert other.status_code == 403
    assert other.json["error"]["status"] == "PERMISSION_DENIED"


def test_profile_reports_totals_and_history_id(http, bearer, mailbox):
    body = http.get("/gmail/v1/users/me/profile", headers=bearer).json

    assert body["emailAddress"] == EMAIL
    assert body["messagesTotal"] == 1234
    assert body["threadsTotal"] == len({m.thread_id for m in mailbox})
    assert body["threadsTotal"] < 1234
    assert body["historyId"].isdigit()


def test_a_user_first_seen_gets_the_demo_mailbox(http, bearer, state):
    body = http.get("/gmail/v1/users/me/profile", headers=bearer).json

    assert body["messagesTotal"] == 3000


def test_the_per_user_quota_answers_403_with_the_retry_time_in_the_message(
    http, bearer, state, clock
):
    # Usage limits: per-user quota refused with userRateLimitExceeded; Resolve errors: no
    # Retry-After header is documented, the time to retry from is in the message.
    state.update_behaviour({"quota_units_per_minute": 11})
    started = clock.now
    assert http.get(LIST, headers=bearer).status_code == 200  # 5 units
    clock.advance(20)
    assert http.get(LIST, headers=bearer).status_code == 200  # 10 units

    refused = http.get(LIST, headers=bearer)
    profile = http.get("/gmail/v1/users/me/profile", headers=bearer)  # 1 unit still fits

    assert refused.status_code == 403
    assert "Retry-After" not in refused.headers
    error = refused.json["error"]
    # the first call ages out at t=60
    message = f"User-rate limit exceeded.  {retry_after_text(started + 60)}"
    assert error == {
        "code": 403,
        "message": message,
        "errors": [
            {"message": message, "domain": "usageLimits", "reason": "userRateLimitExceeded"}
        ],
        "status": "PERMISSION_DENIED",
    }
    assert profile.status_code == 200
    clock.advance(40)
    assert http.get(LIST, headers=bearer).status_code == 200


def test_the_per_user_quota_may_answer_429_rate_limit_exceeded(http, bearer, state, clock):
    state.update_behaviour({"quota_units_per_minute": 5, "quota_refusal_status": 429})
    assert http.get(LIST, headers=bearer).status_code == 200

    refused = http.get(LIST, headers=bearer)

    assert refused.status_code == 429
    assert "Retry-After" not in refused.headers
    error = refused.json["error"]
    assert error["status"] == "RESOURCE_EXHAUSTED"
    assert error["errors"][0]["reason"] == "rateLimitExceeded"
    assert error["message"].endswith(retry_after_text(clock.now + 60))


@pytest.mark.parametrize(
    ("profile", "limit", "get_cost"), [("legacy", 15_000, 5), ("2026", 6_000, 20)]
)
def test_quota_profiles_set_the_limit_and_the_cost_of_a_get(
    http, bearer, state, profile, limit, get_cost
):
    (message,) = state.seed_mailbox(EMAIL, 1, seed=1)
    knobs = state.update_behaviour({"quota_profile": profile})
    assert knobs["quota_units_per_minute"] == limit
    get = f"{LIST}/{message.id}"

    # GIVEN all but one call's worth of the minute is spent on gets
    statuses = [http.get(get, headers=bearer).status_code for _ in range(limit // get_cost)]
    refused = http.get(get, headers=bearer)
    listed = http.get(LIST, headers=bearer)  # 5 units, refused too

    assert set(statuses) == {200}
    assert refused.status_code == listed.status_code == 403


def test_too_many_calls_in_flight_for_one_user_answer_429(served, access_token, state):
    # Resolve errors: a per-user concurrent request limit, "Too many concurrent requests for user"
    state.update_behaviour({"concurrent_requests_per_user": 2, "latency_ms": 300})
    headers = {"Authorization": f"Bearer {access_token}"}
    url = served.base_url + "/gmail/v1/users/me/profile"
    with ThreadPoolExecutor(max_workers=3) as pool:
        answers = list(pool.map(lambda _: requests.get(url, headers=headers, timeout=10), range(3)))

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200, 200, 429]
    refused = next(answer for answer in answers if answer.status_code == 429).json()["error"]
    assert refused["message"] == "Too many concurrent requests for user"
    assert refused["errors"][0]["reason"] == "rateLimitExceeded"
    # AND once they are answered, the slots are free again
    state.update_behaviour({"latency_ms": 0})
    assert requests.get(url, headers=headers, timeout=10).status_code == 200
    assert state.call_counts()["gmail.getProfile"] == 4


def test_gmail_calls_are_counted(http, bearer, state):
    http.get(LIST, headers=bearer)
    http.get("/gmail/v1/users/me/profile", headers=bearer)

    counts = state.call_counts()
    assert counts["gmail.messages.list"] == 1
    assert counts["gmail.getProfile"] == 1
