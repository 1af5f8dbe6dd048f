"""users.messages.get in each format, and Gmail's batch endpoint driven by googleapiclient."""

from __future__ import annotations

import base64
import email
import email.policy
import time
from email.message import Message as MimeMessage
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from google.auth.exceptions import RefreshError
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

from sandbox import batch
from tests.sandbox.sandbox_helpers import CLIENT_ID, CLIENT_SECRET, EMAIL, retry_after_text

GET = "/gmail/v1/users/me/messages/{}"
BATCH = "/batch/gmail/v1"
METADATA = "https://www.googleapis.com/auth/gmail.metadata"


@pytest.fixture
def mailbox(state):
    return state.seed_mailbox(EMAIL, 300, seed=9)


class Collector:
    """A BatchHttpRequest callback that keeps every (request id, response, exception)."""

    def __init__(self) -> None:
        self.responses: dict[str, Any] = {}
        self.errors: dict[str, HttpError] = {}

    def __call__(self, request_id: str, response: Any, exception: HttpError | None) -> None:
        if exception is not None:
            self.errors[request_id] = exception
        else:
            self.responses[request_id] = response


def _batch(served, collector: Collector) -> BatchHttpRequest:
    return BatchHttpRequest(callback=collector, batch_uri=served.base_url + BATCH)


def _multipart(*parts: str, boundary: str = "b0undary") -> tuple[str, bytes]:
    """A hand-made batch body: each part is the embedded request text."""
    body = "".join(
        f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <item{n}>\r\n\r\n{p}\r\n"
        for n, p in enumerate(parts, start=1)
    )
    return f"multipart/mixed; boundary={boundary}", (body + f"--{boundary}--\r\n").encode()


def _parts(response: Any) -> list[MimeMessage]:
    head = f"Content-Type: {response.headers['Content-Type']}\r\n\r\n".encode()
    parsed = email.message_from_bytes(head + response.data, policy=email.policy.compat32)
    return list(parsed.get_payload())


def _text(part: MimeMessage) -> str:
    payload = part.get_payload()
    assert isinstance(payload, str)
    return payload


# -- messages.get ---------------------------------------------------------------------------


def test_metadata_format_has_the_headers_and_gmail_fields(http, bearer, mailbox):
    message = mailbox[0]

    body = http.get(
        GET.format(message.id), headers=bearer, query_string={"format": "metadata"}
    ).json

    headers = body["payload"]["headers"]
    assert body["id"] == message.id
    assert body["threadId"] == message.thread_id
    assert body["labelIds"] == sorted(message.label_ids)
    assert body["snippet"] == message.snippet
    assert body["historyId"] == str(message.history_id)
    assert body["internalDate"] == str(message.internal_date)
    assert isinstance(body["sizeEstimate"], int)
    assert body["sizeEstimate"] > len(message.snippet)
    assert body["payload"]["mimeType"] == "text/plain"
    assert [h["name"] for h in headers] == ["From", "To", "Subject", "Date", "Message-ID"]
    values = {h["name"]: h["value"] for h in headers}
    assert (values["From"], values["To"], values["Subject"]) == (
        message.sender,
        message.to,
        message.subject,
    )
    assert parsedate_to_datetime(values["Date"]).timestamp() == message.internal_date // 1000


def test_metadata_headers_filter_case_insensitively(http, bearer, mailbox):
    params = {"format": "metadata", "metadataHeaders": ["subject", "FROM"]}

    body = http.get(GET.format(mailbox[0].id), headers=bearer, query_string=params).json

    assert [h["name"] for h in body["payload"]["headers"]] == ["From", "Subject"]


def test_minimal_has_no_payload(http, bearer, mailbox):
    body = http.get(
        GET.format(mailbox[1].id), headers=bearer, query_string={"format": "MINIMAL"}
    ).json

    assert set(body) == {
        "id",
        "threadId",
        "labelIds",
        "snippet",
        "sizeEstimate",
        "historyId",
        "internalDate",
    }


def test_full_is_the_default_and_carries_the_body_raw_the_source(http, bearer, mailbox):
    message = mailbox[2]

    full = http.get(GET.format(message.id), headers=bearer).json
    raw = http.get(GET.format(message.id), headers=bearer, query_string={"format": "raw"}).json

    data = full["payload"]["body"]["data"]
    assert base64.urlsafe_b64decode(data).decode().strip() == message.snippet
    assert "payload" not in raw
    source = email.message_from_bytes(base64.urlsafe_b64decode(raw["raw"]))
    assert source["Subject"] == message.subject
    assert raw["sizeEstimate"] == full["sizeEstimate"] == len(base64.urlsafe_b64decode(raw["raw"]))


def test_an_unknown_message_is_404_and_a_malformed_id_400(http, bearer, mailbox):
    missing = http.get(GET.format("0000000000000000"), headers=bearer)
    malformed = http.get(GET.format("not-an-id"), headers=bearer)
    bad_format = http.get(GET.format(mailbox[0].id), headers=bearer, query_string={"format": "x"})

    assert missing.status_code == 404
    assert missing.json["error"]["status"] == "NOT_FOUND"
    assert missing.json["error"]["errors"][0]["reason"] == "notFound"
    assert malformed.status_code == 400
    assert bad_format.status_code == 400


def test_metadata_scope_may_read_metadata_but_not_bodies(http, tokens, mailbox):
    headers = {"Authorization": f"Bearer {tokens(scopes=(METADATA,))['access_token']}"}
    url = GET.format(mailbox[0].id)

    assert http.get(url, headers=headers, query_string={"format": "metadata"}).status_code == 200
    assert http.get(url, headers=headers).status_code == 403
    assert http.get(url, headers=headers, query_string={"format": "raw"}).status_code == 403


@pytest.mark.parametrize(("profile", "cost"), [("legacy", 5), ("2026", 20)])
def test_get_is_counted_and_costs_5_units_or_20_since_2026(
    http, bearer, state, mailbox, profile, cost
):
    state.update_behaviour({"quota_profile": profile, "quota_units_per_minute": 2 * cost})
    url = GET.format(mailbox[0].id)

    statuses = [http.get(url, headers=bearer).status_code for _ in range(3)]

    assert statuses == [200, 200, 403]
    assert state.call_counts()["gmail.messages.get"] == 3


def test_delivered_messages_can_be_read(http, bearer, state, mailbox):
    (added,) = state.deliver_messages(EMAIL, 1)

    body = http.get(GET.format(added.id), headers=bearer, query_string={"format": "minimal"}).json

    assert body["historyId"] == str(added.history_id)
    assert body["labelIds"] == ["INBOX", "UNREAD"]


# -- batch through googleapiclient ------------------------------------------------------------


def test_batches_of_50_gets_reach_every_callback(served, gmail, state, mailbox):
    # GIVEN the first 100 ids of a listing
    messages = gmail.users().messages()
    listed = messages.list(userId="me", maxResults=100, includeSpamTrash=True).execute()
    ids = [m["id"] for m in listed["messages"]]
    state.reset_calls()

    # WHEN they are fetched in two batches of 50
    collector = Collector()
    for chunk in (ids[:50], ids[50:]):
        request = _batch(served, collector)
        for message_id in chunk:
            get = messages.get(
                userId="me", id=message_id, format="metadata", metadataHeaders=["Subject"]
            )
            request.add(get, request_id=message_id)
        request.execute()

    # THEN every callback got its own message, and each inner call was a real Gmail call
    assert not collector.errors
    assert set(collector.responses) == set(ids)
    by_id = {m.id: m for m in mailbox}
    for message_id, body in collector.responses.items():
        assert body["id"] == message_id
        assert body["payload"]["headers"] == [
            {"name": "Subject", "value": by_id[message_id].subject}
        ]
    assert state.call_counts() == {"gmail.batch": 2, "gmail.messages.get": 100}


def test_a_404_inside_a_batch_reaches_its_callback_as_an_http_error(served, gmail, mailbox):
    messages, collector = gmail.users().messages(), Collector()
    request = _batch(served, collector)
    request.add(messages.get(userId="me", id=mailbox[0].id, format="minimal"), request_id="ok")
    request.add(messages.get(userId="me", id="0000000000000000"), request_id="missing")

    request.execute()

    assert collector.responses["ok"]["id"] == mailbox[0].id
    error = collector.errors["missing"]
    assert error.status_code == 404
    assert error.error_details[0]["reason"] == "notFound"


def test_inner_calls_hit_the_rate_limit_with_the_retry_time_in_the_message(
    served, gmail, state, clock, mailbox
):
    state.update_behaviour({"quota_units_per_minute": 15})  # three gets
    messages, collector = gmail.users().messages(), Collector()
    request = _batch(served, collector)
    for message in mailbox[:5]:
        request.add(messages.get(userId="me", id=message.id, format="minimal"))

    request.execute()

    assert sorted(collector.responses) == ["1", "2", "3"]
    assert sorted(collector.errors) == ["4", "5"]
    refused = collector.errors["4"]
    assert refused.status_code == 403
    assert "retry-after" not in refused.resp
    assert refused.error_details[0]["reason"] == "userRateLimitExceeded"
    assert refused.reason.endswith(retry_after_text(clock.now + 60))


def test_an_access_token_ended_early_gets_401_in_each_part_while_refresh_still_works(
    served, http, tokens, state, mailbox
):
    # GIVEN a consented user whose access token Google ends before its expires_in
    body = tokens()
    access, refresh = str(body["access_token"]), str(body["refresh_token"])
    assert state.expire_access_tokens(EMAIL) == 1
    content_type, batch_body = _multipart(
        f"GET {GET.format(mailbox[0].id)} HTTP/1.1\r\n",
        f"GET {GET.format(mailbox[1].id)} HTTP/1.1\r\n",
    )

    # WHEN a batch is sent with it
    response = http.post(
        BATCH,
        data=batch_body,
        headers={"Content-Type": content_type, "Authorization": f"Bearer {access}"},
    )

    # THEN the batch succeeds and every part is a 401, as Gmail answers an invalid token
    assert response.status_code == 200
    for part in _parts(response):
        assert _text(part).startswith("HTTP/1.1 401 Unauthorized\r\n")
        assert 'error="invalid_token"' in _text(part)
    # AND googleapiclient, holding an access token only, fails to refresh it on its own…
    gmail = build(
        "gmail",
        "v1",
        credentials=Credentials(token=access),
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": served.base_url + "/"},
    )
    request = _batch(served, Collector())
    request.add(gmail.users().messages().get(userId="me", id=mailbox[0].id))
    with pytest.raises(RefreshError):
        request.execute()
    # …while the refresh token still mints a working access token
    refreshed = http.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    assert refreshed.status_code == 200
    new_token = refreshed.json["access_token"]
    get = GET.format(mailbox[0].id)
    assert http.get(get, headers={"Authorization": f"Bearer {new_token}"}).status_code == 200


def test_more_than_100_calls_fail_the_whole_batch(served, gmail, state, mailbox):
    messages = gmail.users().messages()
    request = _batch(served, Collector())
    for message in mailbox[:101]:
        request.add(messages.get(userId="me", id=message.id, format="minimal"))

    with pytest.raises(HttpError) as caught:
        request.execute()

    assert caught.value.status_code == 400
    assert "gmail.messages.get" not in state.call_counts()


def test_a_batch_waits_out_the_latency_once(served, gmail, state, mailbox):
    state.update_behaviour({"latency_ms": 50})
    messages, collector = gmail.users().messages(), Collector()
    request = _batch(served, collector)
    for message in mailbox[:20]:
        request.add(messages.get(userId="me", id=message.id, format="minimal"))

    start = time.perf_counter()
    request.execute()
    elapsed = time.perf_counter() - start

    assert len(collector.responses) == 20
    assert 0.05 <= elapsed < 0.5  # 20 calls waiting 50 ms each would take a second


def test_posts_and_204s_work_inside_a_batch(served, gmail, state, mailbox):
    state.grant_push_publisher("projects/sandbox/topics/gmail")
    users, collector = gmail.users(), Collector()
    request = _batch(served, collector)
    request.add(
        users.watch(userId="me", body={"topicName": "projects/sandbox/topics/gmail"}),
        request_id="w",
    )
    request.add(users.history().list(userId="me", startHistoryId="1"), request_id="h")
    request.add(users.stop(userId="me"), request_id="s")

    request.execute()

    assert set(collector.responses["w"]) == {"historyId", "expiration"}
    assert collector.responses["s"] == ""
    assert collector.errors["h"].status_code == 404
    assert state.watch(EMAIL) is None  # watched, then stopped, in order


# -- batch wire format over the test client --------------------------------------------------


def test_content_ids_are_mirrored_and_outer_headers_are_inherited(http, access_token, mailbox):
    content_type, body = _multipart(
        f"GET {GET.format(mailbox[0].id)}?format=minimal HTTP/1.1\r\n",
        f"GET {GET.format(mailbox[1].id)} HTTP/1.1\r\nAuthorization: Bearer forged\r\n",
    )

    response = http.post(
        BATCH,
        data=body,
        headers={"Content-Type": content_type, "Authorization": f"Bearer {access_token}"},
    )

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("multipart/mixed; boundary=")
    first, second = _parts(response)
    assert (first["Content-ID"], second["Content-ID"]) == ("<response-item1>", "<response-item2>")
    assert first.get_content_type() == "application/http"
    assert _text(first).startswith("HTTP/1.1 200 OK\r\n")
    assert mailbox[0].id in _text(first).split("\r\n\r\n", 1)[1]
    assert _text(second).startswith("HTTP/1.1 401 Unauthorized\r\n")  # its own header won


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b"{}"),
        _multipart(),
        _multipart("GET /_sandbox/calls HTTP/1.1\r\n"),
        _multipart("not a request line at all\r\n"),
        ("multipart/mixed; boundary=x", b"--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x--\r\n"),
    ],
)
def test_a_malformed_batch_is_400(http, content_type, body, state):
    response = http.post(BATCH, data=body, headers={"Content-Type": content_type})

    assert response.status_code == 400
    assert response.json["error"]["status"] == "INVALID_ARGUMENT"
    assert state.call_counts() == {"gmail.batch": 1}


def test_the_discovery_batch_path_is_accepted_too(http, bearer, mailbox):
    content_type, body = _multipart(f"GET {GET.format(mailbox[0].id)} HTTP/1.1\r\n")

    response = http.post("/batch", data=body, headers={"Content-Type": content_type, **bearer})

    assert response.status_code == 200
    assert len(_parts(response)) == 1


def test_response_ids_follow_google():
    assert batch.response_id("<abc + 1>") == "<response-abc + 1>"
    assert batch.response_id("item1") == "<response-item1>"
