"""History ids, deliveries and users.history.list, as the Gmail sync guide uses them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from googleapiclient.errors import HttpError

from sandbox.gmail_history import history_page
from sandbox.gmail_list import PageTokenError
from sandbox.mailbox import Mailbox
from tests.sandbox.sandbox_helpers import EMAIL, retry_after_text

HISTORY = "/gmail/v1/users/me/history"
PROFILE = "/gmail/v1/users/me/profile"
NOT_FOUND = {
    "code": 404,
    "message": "Requested entity was not found.",
    "errors": [
        {"message": "Requested entity was not found.", "domain": "global", "reason": "notFound"}
    ],
    "status": "NOT_FOUND",
}


@pytest.fixture
def mailbox(state):
    return state.seed_mailbox(EMAIL, 200, seed=3)


def _history_id(http, bearer) -> int:
    return int(http.get(PROFILE, headers=bearer).json["historyId"])


def _history(http, bearer, start: int, **params: Any) -> Any:
    query = {"startHistoryId": str(start), **params}
    return http.get(HISTORY, headers=bearer, query_string=query)


def test_seeded_messages_have_history_ids_up_to_the_mailbox_start(state, mailbox):
    box = state.mailbox(EMAIL)

    ids = [m.history_id for m in mailbox]
    assert ids == sorted(ids, reverse=True)  # newest first, so the largest id first
    assert len(set(ids)) == 200
    assert max(ids) <= box.history_id


def test_deliveries_add_newest_messages_with_fresh_ids_and_threads(state, mailbox):
    before = state.mailbox(EMAIL).history_id

    added = state.deliver_messages(EMAIL, 3)

    box = state.mailbox(EMAIL)
    assert list(box.messages[:3]) == added
    assert box.messages[3:] == tuple(mailbox)
    assert all(re.fullmatch(r"[0-9a-f]{16}", m.id) for m in added)
    assert len({m.id for m in box.messages}) == 203
    assert {m.thread_id for m in added}.isdisjoint(m.thread_id for m in mailbox)
    assert all(m.label_ids == {"INBOX", "UNREAD"} for m in added)
    assert [m.history_id for m in added] == [before + 3, before + 2, before + 1]
    assert box.history_id == before + 3
    assert added[-1].internal_date > mailbox[0].internal_date


def test_deliveries_show_up_in_messages_list(http, bearer, state, mailbox):
    added = state.deliver_messages(EMAIL, 2, labels=("INBOX",))

    body = http.get("/gmail/v1/users/me/messages", headers=bearer).json

    assert [m["id"] for m in body["messages"][:2]] == [m.id for m in added]


def test_history_lists_message_added_records_after_the_start(http, bearer, state, mailbox):
    start = _history_id(http, bearer)
    added = state.deliver_messages(EMAIL, 2)

    body = _history(http, bearer, start).json

    oldest, newest = added[1], added[0]
    assert body == {
        "history": [
            {
                "id": str(m.history_id),
                "messages": [{"id": m.id, "threadId": m.thread_id}],
                "messagesAdded": [
                    {
                        "message": {
                            "id": m.id,
                            "threadId": m.thread_id,
                            "labelIds": ["INBOX", "UNREAD"],
                        }
                    }
                ],
            }
            for m in (oldest, newest)
        ],
        "historyId": str(newest.history_id),
    }
    assert int(body["historyId"]) == _history_id(http, bearer)


def test_history_without_changes_has_no_history_key(http, bearer, mailbox):
    start = _history_id(http, bearer)

    body = _history(http, bearer, start).json

    assert body == {"historyId": str(start)}


def test_history_from_the_newest_message_of_a_full_sync_works(http, bearer, state, mailbox):
    # GIVEN a full sync that kept the historyId of the newest message, as the guide suggests
    newest = http.get(f"/gmail/v1/users/me/messages/{mailbox[0].id}", headers=bearer).json
    added = state.deliver_messages(EMAIL, 1)

    # WHEN the client syncs from it
    body = _history(http, bearer, int(newest["historyId"])).json

    # THEN it sees exactly the new message
    assert [h["messages"][0]["id"] for h in body["history"]] == [added[0].id]


@pytest.mark.parametrize("params", [{}, {"startHistoryId": "abc"}, {"startHistoryId": "-1"}])
def test_a_missing_or_non_numeric_start_is_invalid_argument(http, bearer, params):
    response = http.get(HISTORY, headers=bearer, query_string=params)

    assert response.status_code == 400
    assert response.json["error"]["status"] == "INVALID_ARGUMENT"


def test_label_id_keeps_records_whose_message_has_the_label(http, bearer, state, mailbox):
    start = _history_id(http, bearer)
    state.deliver_messages(EMAIL, 2, labels=("INBOX",))
    sent = state.deliver_messages(EMAIL, 1, labels=("SENT",))

    body = _history(http, bearer, start, labelId="SENT").json

    assert [h["id"] for h in body["history"]] == [str(sent[0].history_id)]


@pytest.mark.parametrize(
    ("types", "records"),
    [
        (["messageAdded"], 2),
        (["MESSAGE_ADDED"], 2),
        (["labelAdded"], 0),
        (["labelRemoved", "messageDeleted"], 0),
        (["labelAdded", "messageAdded"], 2),
    ],
)
def test_history_types_select_records(http, bearer, state, mailbox, types, records):
    start = _history_id(http, bearer)
    state.deliver_messages(EMAIL, 2)

    body = _history(http, bearer, start, historyTypes=types).json

    assert len(body.get("history", [])) == records
    assert body["historyId"] == str(start + 2)


def test_an_unknown_history_type_is_invalid_argument(http, bearer, mailbox):
    response = _history(http, bearer, _history_id(http, bearer), historyTypes="messageEaten")

    assert response.status_code == 400


def test_paging_is_exact_even_while_mail_arrives(http, bearer, state, mailbox):
    start = _history_id(http, bearer)
    first = state.deliver_messages(EMAIL, 5)

    page1 = _history(http, bearer, start, maxResults=3).json
    later = state.deliver_messages(EMAIL, 2)
    page2 = _history(http, bearer, start, maxResults=3, pageToken=page1["nextPageToken"]).json
    page3 = _history(http, bearer, start, maxResults=3, pageToken=page2["nextPageToken"]).json

    seen = [h["messages"][0]["id"] for page in (page1, page2, page3) for h in page["history"]]
    assert seen == [m.id for m in reversed(first)] + [m.id for m in reversed(later)]
    assert len(page1["history"]) == len(page2["history"]) == 3
    assert "nextPageToken" not in page3
    assert page3["historyId"] == str(later[0].history_id)


def test_max_results_defaults_to_100_and_is_clamped_to_500(http, bearer, state, mailbox):
    start = _history_id(http, bearer)
    state.deliver_messages(EMAIL, 501)

    default = _history(http, bearer, start).json
    clamped = _history(http, bearer, start, maxResults=1000).json

    assert len(default["history"]) == 100
    assert len(clamped["history"]) == 500
    assert "nextPageToken" in clamped
    assert _history(http, bearer, start, maxResults=0).status_code == 400


def test_a_forged_page_token_is_invalid_argument(http, bearer, mailbox):
    response = _history(http, bearer, _history_id(http, bearer), pageToken="garbage")

    assert response.status_code == 400
    for token in ("%%", "bTE6MTox", "aDE6eA"):  # not base64, a list token, "h1:x"
        with pytest.raises(PageTokenError):
            history_page(Mailbox(EMAIL, (), 5), 5, page_token=token)


def test_expired_history_answers_404_until_a_full_sync(http, bearer, state, mailbox):
    # GIVEN a client that synced, then new mail, then history ageing out
    start = _history_id(http, bearer)
    state.deliver_messages(EMAIL, 2)
    state.expire_history(EMAIL)

    # WHEN it syncs from its stored id
    stale = _history(http, bearer, start)

    # THEN Gmail's 404 tells it to do a full sync, after which incremental sync works again
    assert stale.status_code == 404
    assert stale.json == {"error": NOT_FOUND}
    current = _history_id(http, bearer)
    assert _history(http, bearer, current).json == {"historyId": str(current)}
    added = state.deliver_messages(EMAIL, 1)
    assert _history(http, bearer, current).json["history"][0]["id"] == str(added[0].history_id)


def test_a_start_from_before_the_mailbox_was_seeded_is_404(http, bearer, mailbox):
    assert _history(http, bearer, 1).status_code == 404


def test_history_list_is_counted_and_costs_2_units(http, bearer, state, clock, mailbox):
    start = _history_id(http, bearer)  # 1 unit
    state.update_behaviour({"quota_units_per_minute": 5})

    assert _history(http, bearer, start).status_code == 200
    assert _history(http, bearer, start).status_code == 200
    refused = _history(http, bearer, start)

    assert refused.status_code == 403
    assert refused.json["error"]["errors"][0]["reason"] == "userRateLimitExceeded"
    assert refused.json["error"]["message"].endswith(retry_after_text(clock.now + 60))
    assert state.call_counts()["gmail.history.list"] == 3


def test_history_needs_a_valid_token_and_a_gmail_scope(http, tokens, state):
    without_scope = tokens(tick=("openid", "email"))["access_token"]

    anonymous = http.get(HISTORY, query_string={"startHistoryId": "1"})
    forbidden = http.get(
        HISTORY,
        headers={"Authorization": f"Bearer {without_scope}"},
        query_string={"startHistoryId": "1"},
    )

    assert anonymous.status_code == 401
    assert forbidden.status_code == 403
    assert forbidden.json["error"]["errors"][0]["reason"] == "insufficientPermissions"


def test_deliveries_and_expiry_over_the_admin_hooks(http, bearer, state, mailbox):
    start = _history_id(http, bearer)

    delivered = http.post(
        f"/_sandbox/mailboxes/{EMAIL}/deliveries", json={"count": 2, "labels": ["INBOX"]}
    ).json
    expired = http.post(f"/_sandbox/mailboxes/{EMAIL}/history/expire").json

    box = state.mailbox(EMAIL)
    assert delivered == {
        "emailAddress": EMAIL,
        "historyId": str(start + 2),
        "messages": [{"id": m.id, "threadId": m.thread_id} for m in box.messages[:2]],
    }
    assert box.messages[0].label_ids == {"INBOX"}
    assert expired == {"emailAddress": EMAIL, "historyId": str(start + 2)}
    assert _history(http, bearer, start).status_code == 404
    for bad in ({"count": "2"}, {"count": 2, "labels": "INBOX"}, {"count": -1}):
        assert http.post(f"/_sandbox/mailboxes/{EMAIL}/deliveries", json=bad).status_code == 400


def test_gmail_client_syncs_incrementally_and_falls_back_on_404(gmail, state, mailbox):
    users = gmail.users()
    start = users.getProfile(userId="me").execute()["historyId"]
    added = state.deliver_messages(EMAIL, 7)

    seen, request = [], users.history().list(userId="me", startHistoryId=start, maxResults=3)
    while request is not None:
        response = request.execute()
        seen += [h["messagesAdded"][0]["message"]["id"] for h in response.get("history", [])]
        request = users.history().list_next(request, response)

    assert seen == [m.id for m in reversed(added)]
    assert state.call_counts()["gmail.history.list"] == 3
    state.expire_history(EMAIL)
    with pytest.raises(HttpError) as caught:
        users.history().list(userId="me", startHistoryId=start).execute()
    assert caught.value.status_code == 404
