"""Property-based tests: every parser of outside input either accepts or refuses with our own
error, whatever it is given; nothing else escapes."""

from __future__ import annotations

import base64
import contextlib
import json
from urllib.parse import urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st

from functions.consent.oauth_client import parse_client_json
from functions.consent.return_to import check_return_to
from functions.crypto import parse_keyring
from functions.errors import ConfigError, MalformedRequest, ReturnToNotAllowed
from functions.logging_setup import redact
from functions.pipeline.requests import parse_event, parse_request
from sandbox.gmail_query import QueryError
from sandbox.gmail_query import parse as parse_gmail_query
from sandbox.mailbox import generate

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
request_like = st.fixed_dictionaries(
    {},
    optional={
        "user_id": json_values | st.text(min_size=1, max_size=300),
        "query": json_values,
        "label_ids": json_values | st.lists(st.text(max_size=300)),
        "max_messages": json_values | st.integers(),
        "include_spam_trash": json_values,
        "request_id": json_values,
    },
)
payloads = (
    st.binary(max_size=300)
    | json_values.map(lambda v: json.dumps(v).encode())
    | request_like.map(lambda v: json.dumps(v).encode())
)


@given(payloads)
def test_mailbox_requests_are_accepted_or_refused_as_malformed(payload):
    try:
        request = parse_request(payload, default_request_id="m")
    except MalformedRequest:
        return
    assert request.user_id
    assert "/" not in request.user_id


@given(
    json_values
    | st.fixed_dictionaries({"message": json_values})
    | payloads.map(lambda p: {"message": {"data": base64.b64encode(p).decode(), "messageId": "1"}})
)
def test_pubsub_envelopes_are_accepted_or_refused_as_malformed(event_data):
    with contextlib.suppress(MalformedRequest):
        parse_event(event_data)


@given(
    st.binary(max_size=200)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.fixed_dictionaries(
        {
            "web": st.dictionaries(
                st.sampled_from(["client_id", "client_secret", "auth_uri", "token_uri", "x"]),
                json_values | st.text(),
            )
        }
    ).map(lambda v: json.dumps(v).encode())
)
def test_client_json_is_accepted_or_refused_with_a_config_error(raw):
    try:
        client = parse_client_json(raw)
    except ConfigError as error:
        refusal = str(error)
    else:
        assert urlsplit(client.token_uri).scheme in ("http", "https")
        return
    assert refusal.startswith("OAUTH_CLIENT_SECRETS")


keys = st.dictionaries(
    st.text(max_size=70),
    st.binary(min_size=30, max_size=34).map(lambda b: base64.b64encode(b).decode()) | json_values,
    max_size=3,
)


@given(
    st.binary(max_size=200)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.builds(
        lambda p, k: json.dumps({"primary": p, "keys": k}).encode(), st.text(max_size=8), keys
    )
)
def test_key_files_are_accepted_or_refused_with_a_config_error(raw):
    try:
        keyring = parse_keyring(raw)
    except ConfigError as error:
        refusal = str(error)
    else:
        assert keyring.primary in keyring.keys
        assert all(len(key) == 32 for key in keyring.keys.values())
        return
    assert refusal.startswith("COOKIE_KEYS")


ALLOWED = ("https://app.example.com/done",)
url_parts = st.sampled_from(
    [
        "https://",
        "http://",
        "//",
        "https:\\\\",
        "https://app.example.com",
        "@",
        "evil.com",
        "/done",
        "/done/",
        "%2e%2e",
        "..",
        "\\",
        "?x=1",
        "#f",
        ":443",
        ":8443",
        ".",
        "%40",
        "\t",
        " ",
    ]
)


@given(st.lists(url_parts, max_size=8).map("".join) | st.text(max_size=80))
def test_return_to_only_ever_accepts_the_allowed_origin_and_path(url):
    try:
        accepted = check_return_to(url, ALLOWED)
    except ReturnToNotAllowed:
        return
    parts = urlsplit(accepted)
    assert (parts.scheme, parts.hostname, parts.port or 443) == ("https", "app.example.com", 443)
    assert parts.path == "/done" or parts.path.startswith("/done/")
    assert "@" not in parts.netloc


@settings(max_examples=200)
@given(st.text(max_size=200))
def test_redaction_never_fails_and_removes_credential_shapes(text):
    assert "sbx-rt-abcdef" not in redact(text + " sbx-rt-abcdef")


query_pieces = st.sampled_from(
    ["a", "OR", "AND", "-", "(", ")", "{", "}", '"', "from:", "has:attachment", "larger:10K",
     "rfc822msgid:<x@y>", "in:spam", "subject:(", "is:unread", " ", "newer_than:2d", "+b", ":"]
)  # fmt: skip


@settings(max_examples=300)
@given(st.lists(query_pieces, max_size=12).map("".join) | st.text(max_size=60))
def test_the_sandbox_gmail_query_parser_accepts_or_refuses_as_invalid_query(q):
    # The sandbox answers any `q` like Gmail: a listing, or 400 "Invalid query", never a 500.
    try:
        query = parse_gmail_query(q, 1_760_000_000.0)
    except QueryError:
        return
    for message in generate("ada@example.com", 5, 1, 1_760_000_000.0):
        assert query.matches(message) in (True, False)
