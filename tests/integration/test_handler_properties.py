"""Property-based tests through the real entry points: whatever a browser or a publisher sends,
the answer is a 4xx page or an acknowledgement, never a 5xx and never an exception."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.consent import pending as flow

pytestmark = pytest.mark.integration

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
names = st.sampled_from(
    ["state", "code", "error", "login_hint", "return_to", "scope", "x", "state", "code"]
)
values = st.text(max_size=120) | st.sampled_from(
    [
        "",
        "a" * 43,
        "a" * 3000,
        "access_denied",
        "a@b.c",
        "https://app.example.com/",
        "%00",
        "\u202e",
    ]
)
queries = st.lists(st.tuples(names, values), max_size=6)
# The flow cookie a state of "a" * 43 would look for, the outcome cookie, and a stranger.
cookies = st.dictionaries(
    st.sampled_from(
        [
            flow.flow_cookie_name("a" * 43, secure=False),
            flow.outcome_cookie_name(secure=False),
            "other",
        ]
    ),
    values | st.sampled_from(["k1." + "A" * 200, "nokey" + "A" * 60]),
    max_size=3,
)


def cookie_header(jar: dict[str, str]) -> dict[str, str]:
    # Cookie values a browser could send: no separators or control characters.
    safe = {k: "".join(c for c in v if c.isalnum() or c in "-_") for k, v in jar.items()}
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in safe.items())} if safe else {}


@SETTINGS
@given(query=queries, jar=cookies, method=st.sampled_from(["get", "get", "post", "put"]))
def test_authorize_and_callback_answer_every_request_below_500(apps, query, jar, method):
    for client in (apps.authorize, apps.oauth2callback):
        response = getattr(client, method)("/", query_string=query, headers=cookie_header(jar))
        assert response.status_code < 500, response.get_data(as_text=True)[:300]
        assert response.headers["Cache-Control"] == "no-store"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3)
    ),
    max_leaves=8,
)
envelopes = (
    json_values
    | st.fixed_dictionaries({"message": json_values})
    | (st.binary(max_size=100) | json_values.map(lambda v: json.dumps(v).encode())).map(
        lambda data: {"message": {"data": base64.b64encode(data).decode(), "messageId": "1"}}
    )
)


@SETTINGS
@given(envelope=envelopes)
def test_list_messages_acknowledges_every_malformed_request(apps, envelope):
    response = apps.list_messages.post(
        "/",
        headers={
            "ce-id": "1",
            "ce-specversion": "1.0",
            "ce-source": "//pubsub.googleapis.com/projects/demo/topics/mailbox-requests",
            "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        },
        json=envelope,
    )

    assert response.status_code < 500


@SETTINGS
@given(body=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_disconnect_answers_every_body_below_500(apps, body):
    response = apps.disconnect.post("/", data=body, content_type="application/json")

    assert response.status_code < 500
    assert response.is_json
