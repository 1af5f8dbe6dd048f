"""Property-based tests through the real entry points, against the emulators: whatever a browser,
a caller or a publisher sends, the answer is a 4xx page or JSON, or an acknowledgement that is
logged; never a 5xx, never an exception (which Pub/Sub would redeliver until dead-lettered), and
no stored document changes.

The hostile values are the kinds that once got through: non-ASCII where only ASCII is issued,
control characters, Firestore's reserved document IDs (``__.*__``, ``.``, ``..``), and values
whose size in bytes passes a limit their size in characters does not (Pub/Sub's 1,024-byte
attribute, a browser's 4,096-byte cookie).
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import functions_framework
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devstack.consent_browser import ConsentBrowser, query_of
from functions import config, services
from functions.consent import pending as flow
from functions.consent.return_to import MAX_LENGTH as RETURN_TO_MAX_LENGTH
from functions.pipeline.ledger import REPLAY_OF
from functions.sizes import COOKIE_BYTES as MAX_COOKIE_BYTES
from tests.integration.conftest import MAIN
from tests.integration.flow import callback, follow, start

pytestmark = pytest.mark.integration

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FEW = settings(SETTINGS, max_examples=25)
ALLOWED_RETURN_TO = "https://app.example.com/"

RESERVED_IDS = ["__abc__", "__", "___", "__id7__", ".", ".."]
hostile_text = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            *RESERVED_IDS,
            "",
            "a/b",
            "\x00",
            "\x7f",
            "\u202e",
            "\ud800",
            "\u00e9" * 43,
            "\U0001f600" * 256,
            "a" * 1501,
            "x" * 5000,
            "%00",
            "\r\nSet-Cookie: x=1",
            ALLOWED_RETURN_TO + "caf\u00e9",
            ALLOWED_RETURN_TO + "\u00e9" * 2000,
            ALLOWED_RETURN_TO + "/" * 2000,
            "a@b.c",
            "\u00e9" * 120 + "@b.c",
        ]
    ),
    st.text(st.characters(min_codepoint=0x80), min_size=200, max_size=700),
)


def _encodable(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


# What can travel in a URL or a header: UTF-8 (a lone surrogate cannot).
http_text = hostile_text.filter(_encodable)


def as_header(value: str) -> str:
    """A header value as WSGI hands it over: the browser's UTF-8 bytes read as Latin-1, no line
    breaks (werkzeug refuses to send them)."""
    return value.encode().decode("latin-1").replace("\r", "").replace("\n", "")


def snapshot(firestore_client: Any) -> dict[str, dict[str, Any]]:
    """Every stored document, by collection and ID."""
    return {
        collection.id: {doc.id: doc.to_dict() for doc in collection.stream()}
        for collection in firestore_client.collections()
    }


@pytest.fixture
def hostile_apps(apps: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The entry points, with a ``return_to`` prefix configured so it is checked too."""
    monkeypatch.setenv("ALLOWED_RETURN_TO", ALLOWED_RETURN_TO)
    config.get_settings.cache_clear()
    services.get_services.cache_clear()
    apps.security_events = functions_framework.create_app(
        "security_events", MAIN, "http"
    ).test_client()
    return apps


# --- The findings, one test each (each failed before its fix) -----------------------------------


def test_a_state_that_is_not_ascii_is_refused_with_a_4xx_not_a_500(apps, firestore_client):
    # GIVEN a callback whose state is not of the shape we issue, with a code
    response = apps.oauth2callback.get("/", query_string={"state": "\u00e9" * 43, "code": "c"})

    # THEN the page behind the callback's redirect is a 400, not a 500 with a stack trace
    shown = follow(apps, ConsentBrowser(), response)
    assert shown.status_code == 400
    assert snapshot(firestore_client) == {}


@pytest.mark.parametrize("user_id", RESERVED_IDS)
@pytest.mark.parametrize("target", ["disconnect", "watch"])
def test_reserved_firestore_ids_are_refused_with_a_400(apps, firestore_client, target, user_id):
    response = getattr(apps, target).post("/", json={"user_id": user_id})

    assert response.status_code == 400
    assert response.is_json
    assert snapshot(firestore_client) == {}


def test_a_request_for_a_reserved_id_is_acknowledged_at_once(apps, firestore_client, caplog):
    response = deliver(apps.list_messages, {"user_id": "__abc__", "request_id": "r-1"})

    assert response.status_code == 200
    assert "malformed message acknowledged" in caplog.text
    assert snapshot(firestore_client) == {}


def test_a_request_id_over_its_size_in_bytes_is_refused(apps, firestore_client, caplog):
    # 256 four-byte characters: "<request_id>:complete" would be 1,033 bytes, past Pub/Sub's
    # 1,024-byte attribute limit.
    response = deliver(apps.list_messages, {"user_id": "1", "request_id": "\U0001f600" * 256})

    assert response.status_code == 200
    assert "malformed message acknowledged" in caplog.text
    assert snapshot(firestore_client) == {}


def test_a_return_to_that_is_not_ascii_is_refused_not_sealed_in_a_cookie_browsers_drop(
    hostile_apps,
):
    response = hostile_apps.authorize.get(
        "/", query_string={"return_to": ALLOWED_RETURN_TO + "\u00e9" * 2000}
    )

    assert response.status_code == 400
    assert response.headers.getlist("Set-Cookie") == []


def test_the_longest_inputs_accepted_still_make_cookies_a_browser_keeps(hostile_apps):
    # GIVEN the longest login_hint (254 bytes, not ASCII) and return_to (all "&", which the
    # "Try again" link percent-encodes to three bytes each) authorize accepts
    hint = "\u00e9" * 124 + "@b.cc"
    return_to = ALLOWED_RETURN_TO + "&" * (RETURN_TO_MAX_LENGTH - len(ALLOWED_RETURN_TO))
    browser = ConsentBrowser()
    started = start(hostile_apps, browser, login_hint=hint, return_to=return_to)
    assert started.status_code == 302
    assert_cookies_fit(started)

    # WHEN the person declines, so the outcome cookie carries the "Try again" link
    state = query_of(started.headers["Location"])["state"]
    declined = callback(hostile_apps, browser, f"/?state={state}&error=access_denied")

    # THEN that cookie fits too, and the link keeps both
    assert_cookies_fit(declined)
    shown = follow(hostile_apps, browser, declined)
    assert shown.status_code == 403
    assert "return_to=" in shown.get_data(as_text=True)


def assert_cookies_fit(response: Any) -> None:
    for header in response.headers.getlist("Set-Cookie"):
        name_value = header.split(";", 1)[0]
        assert len(name_value.encode()) <= MAX_COOKIE_BYTES, (len(name_value), name_value[:80])


# --- Browser-facing functions: authorize and oauth2callback --------------------------------------

names = st.sampled_from(["state", "code", "error", "login_hint", "return_to", "scope", "x"])
values = http_text | st.sampled_from(["a" * 43, "access_denied", "https://app.example.com/ok"])
queries = st.lists(st.tuples(names, values), max_size=6)
# The flow cookie a state of "a" * 43 would look for, the outcome cookie, and strangers.
cookie_names = st.sampled_from(
    [
        flow.flow_cookie_name("a" * 43, secure=False),
        flow.outcome_cookie_name(secure=False),
        flow.LOOPBACK_PREFIX + "flow-x",
        "other",
    ]
)
cookie_values = http_text | st.sampled_from(["k1." + "A" * 200, "nokey" + "A" * 60, "."])
cookies = st.dictionaries(cookie_names, cookie_values, max_size=3)
headers = st.fixed_dictionaries(
    {},
    optional={
        "Accept-Language": http_text | st.sampled_from(["de;q=x", "*", "he-IL,he;q=0.9"]),
        "X-Cloud-Trace-Context": http_text | st.just("abc/1;o=1"),
        "traceparent": http_text,
        "Content-Type": http_text,
    },
)


def request_headers(jar: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    sent = {name: as_header(value) for name, value in extra.items()}
    if jar:
        sent["Cookie"] = as_header("; ".join(f"{k}={v}" for k, v in jar.items()))
    return sent


def assert_page_answer(apps: Any, response: Any) -> None:
    """A 4xx comes with a page; a redirect to the callback shows a page below 500; every cookie
    set fits what a browser keeps."""
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    assert response.headers["Cache-Control"] == "no-store"
    if response.status_code >= 400:
        assert response.mimetype == "text/html"
        assert "Traceback" not in response.get_data(as_text=True)
    assert_cookies_fit(response)
    shown = follow(apps, ConsentBrowser(), response)
    assert shown.status_code < 500, shown.get_data(as_text=True)[:300]


@SETTINGS
@given(
    query=queries,
    jar=cookies,
    extra=headers,
    method=st.sampled_from(["get", "get", "get", "post", "put"]),
)
def test_authorize_and_callback_answer_every_request_below_500(
    hostile_apps, firestore_client, query, jar, extra, method
):
    before = snapshot(firestore_client)
    for client in (hostile_apps.authorize, hostile_apps.oauth2callback):
        response = getattr(client, method)(
            "/", query_string=query, headers=request_headers(jar, extra)
        )
        assert_page_answer(hostile_apps, response)
    assert snapshot(firestore_client) == before


# --- Internal JSON functions: disconnect, watch, renew_watches; and security_events --------------

json_scalars = st.none() | st.booleans() | st.integers() | hostile_text
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner, max_size=3),
    max_leaves=8,
)
hostile_user_ids = (
    st.sampled_from([*RESERVED_IDS, "a/b", "", "x" * 256, "a" * 1501, "\u00e9", "\ud800", " "])
    | st.text(st.characters(min_codepoint=0x80), min_size=1, max_size=40)
    | st.text(st.characters(max_codepoint=0x20), min_size=1, max_size=10)
)
bodies = st.one_of(
    st.binary(max_size=200),
    st.binary(min_size=4097, max_size=5000),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.builds(
        lambda user_id, extra: json.dumps({"user_id": user_id, **extra}).encode(),
        json_values | hostile_user_ids,
        st.dictionaries(st.sampled_from(["x", "user_id "]), json_values, max_size=1),
    ),
    hostile_user_ids.map(lambda user_id: json.dumps({"user_id": user_id}).encode()),
)
content_types = st.sampled_from(
    ["application/json", "application/json", "text/plain", "application/secevent+jwt", ""]
)
methods = st.sampled_from(["post", "post", "post", "get", "put", "delete"])


@SETTINGS
@given(body=bodies, content_type=content_types, method=methods, extra=headers)
def test_internal_functions_answer_every_body_with_a_4xx_in_json(
    hostile_apps, firestore_client, body, content_type, method, extra
):
    before = snapshot(firestore_client)
    extra.pop("Content-Type", None)
    for target in ("disconnect", "watch", "security_events", "renew_watches"):
        response = getattr(getattr(hostile_apps, target), method)(
            "/", data=body, content_type=content_type, headers=request_headers({}, extra)
        )
        assert response.status_code < 500, response.get_data(as_text=True)[:300]
        assert response.is_json
        # renew_watches takes no input: a POST, whatever its body, renews (here, no one).
        assert response.status_code >= 400 or (target, method) == ("renew_watches", "post")
    assert snapshot(firestore_client) == before


# --- Pub/Sub event functions: list_messages and gmail_push ---------------------------------------

PUBSUB_SOURCE = "//pubsub.googleapis.com/projects/demo-gmail-auth/topics/mailbox-requests"


def deliver(
    client: Any,
    payload: object,
    *,
    event_id: object = "1",
    source: object = PUBSUB_SOURCE,
    attributes: object = None,
) -> Any:
    """POST a ``messagePublished`` CloudEvent in structured mode, where every field is JSON (so
    the ID and source may be anything JSON holds, a lone surrogate too)."""
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    message: dict[str, object] = {"data": base64.b64encode(data).decode(), "messageId": "1"}
    if attributes is not None:
        message["attributes"] = attributes
    return deliver_event(client, {"message": message}, event_id=event_id, source=source)


def deliver_event(client: Any, data: object, *, event_id: object, source: object) -> Any:
    event = {
        "specversion": "1.0",
        "type": "google.cloud.pubsub.topic.v1.messagePublished",
        "id": event_id,
        "source": source,
        "datacontenttype": "application/json",
        "data": data,
    }
    return client.post(
        "/", data=json.dumps(event), content_type="application/cloudevents+json; charset=utf-8"
    )


mailbox_fields = st.fixed_dictionaries(
    {"user_id": hostile_user_ids | json_values},
    optional={
        "request_id": hostile_text | json_values,
        "query": hostile_text | st.just("\u65e5" * 1000),
        "label_ids": st.lists(hostile_text, max_size=3) | json_values,
        "max_messages": json_values,
        "format": hostile_text,
        "include_spam_trash": json_values,
    },
)
notifications = st.fixed_dictionaries(
    {},
    optional={
        "emailAddress": hostile_text | json_values | st.just("\ud800@example.com"),
        "historyId": json_values
        | st.sampled_from(["1" * 5000, "\u00b2", "\u0661\u0662", str(2**64), 2**64, -1]),
    },
)
attribute_maps = st.none() | json_values | st.fixed_dictionaries({REPLAY_OF: json_values})
# A CloudEvent without its required ID or source is refused by functions-framework's own parser
# (a 500 before any code of ours runs); Eventarc never sends one, so the values are any JSON
# but those.
present = json_values.filter(lambda value: value not in (None, ""))
event_ids = st.just("1") | present
sources = st.just(PUBSUB_SOURCE) | present


def warns(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING


def ours(record: logging.LogRecord) -> bool:
    return record.name.startswith("functions.")


@pytest.mark.parametrize(
    ("target", "payloads", "logged"),
    [
        ("list_messages", mailbox_fields, warns),
        # A notification for nobody watched is logged at INFO; a malformed one warns.
        ("gmail_push", notifications, ours),
    ],
)
@SETTINGS
@given(data=st.data())
def test_event_functions_acknowledge_and_log_every_event_they_cannot_use(
    hostile_apps, firestore_client, caplog, target, payloads, logged, data
):
    payload = data.draw(payloads | st.binary(max_size=100) | json_values)
    event = {
        "event_id": data.draw(event_ids),
        "source": data.draw(sources),
        "attributes": data.draw(attribute_maps),
    }
    before = snapshot(firestore_client)
    caplog.clear()

    with caplog.at_level(logging.INFO):
        response = deliver(getattr(hostile_apps, target), payload, **event)

    # 400: functions-framework refused it as no CloudEvent, before any code of ours.
    assert response.status_code in (200, 400), response.get_data(as_text=True)[:300]
    if response.status_code == 200:
        assert any(logged(record) for record in caplog.records), caplog.text
    assert snapshot(firestore_client) == before


@FEW
@given(data=json_values)
def test_event_functions_acknowledge_any_event_data(hostile_apps, firestore_client, data):
    before = snapshot(firestore_client)
    for client in (hostile_apps.list_messages, hostile_apps.gmail_push):
        response = deliver_event(client, data, event_id="1", source=PUBSUB_SOURCE)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert snapshot(firestore_client) == before
