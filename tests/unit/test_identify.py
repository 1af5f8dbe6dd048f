"""The callback names the user from the ID token of the token response (OIDC Core §3.1.3.7)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from functions.consent.identify import (
    UserInfo,
    expected_issuers,
    is_user_id,
    user_from_id_token,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
CLIENT = "client-1.apps.googleusercontent.com"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"


def jwt(claims: dict[str, Any]) -> str:
    """A compact JWS with ``claims`` (its signature is not what these checks rely on)."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'kid': 'k1'})}.{part(claims)}.c2ln"


def claims(**changes: Any) -> dict[str, Any]:
    base = {
        "iss": "https://accounts.google.com",
        "aud": CLIENT,
        "azp": CLIENT,
        "sub": "110169484474386276334",
        "email": "ada@example.com",
        "email_verified": True,
        "iat": int(NOW.timestamp()) - 10,
        "exp": int(NOW.timestamp()) + 3590,
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


def identify(token: str | None, token_uri: str = GOOGLE_TOKEN_URI) -> UserInfo | None:
    return user_from_id_token(token, client_id=CLIENT, token_uri=token_uri, now=NOW)


def test_a_good_id_token_names_the_user() -> None:
    assert identify(jwt(claims())) == UserInfo(sub="110169484474386276334", email="ada@example.com")


def test_google_issues_either_spelling_of_its_issuer() -> None:
    assert identify(jwt(claims(iss="accounts.google.com"))) is not None
    assert expected_issuers(GOOGLE_TOKEN_URI) == {
        "https://accounts.google.com",
        "accounts.google.com",
    }


def test_another_provider_is_its_own_issuer() -> None:
    sandbox = "http://127.0.0.1:8090/token"
    assert identify(jwt(claims(iss="http://127.0.0.1:8090")), sandbox) is not None
    assert identify(jwt(claims(iss="https://accounts.google.com")), sandbox) is None


@pytest.mark.parametrize(
    "bad",
    [
        {"aud": "someone-else"},  # issued to another client
        {"aud": [CLIENT, "other"], "azp": "other"},  # another party asked for it
        {"azp": "other"},
        {"iss": "https://evil.example"},
        {"exp": int(NOW.timestamp()) - 3600},  # long expired
        {"exp": None},
        {"sub": "a/b"},  # not usable as a document ID
        {"sub": None},
    ],
)
def test_an_id_token_that_does_not_hold_up_names_nobody(bad: dict[str, Any]) -> None:
    assert identify(jwt(claims(**bad))) is None


@pytest.mark.parametrize("token", [None, "", "not-a-jwt", "a.b", "a.!!!.c", "a.bnVsbA.c"])
def test_no_or_a_malformed_id_token_names_nobody(token: str | None) -> None:
    # (then the callback asks userinfo, as before)
    assert identify(token) is None


def test_without_the_email_claim_the_user_has_no_email() -> None:
    assert identify(jwt(claims(email=None))) == UserInfo(sub="110169484474386276334", email=None)


@pytest.mark.parametrize(
    "value",
    # Firestore's document ID limits (firebase.google.com/docs/firestore/quotas
    # #collections_documents_and_fields): never __.*__, ".", ".." or "/".
    ["__abc__", "__", "___", "____", "__id12__", ".", "..", "a/b", "", "x" * 256, "é", 5, None],
)
def test_reserved_and_unusable_document_ids_are_not_user_ids(value):
    assert not is_user_id(value)


@pytest.mark.parametrize("value", ["1234567890", "_abc_", "__abc", "abc__", "a.b", "x" * 255])
def test_oidc_subjects_usable_as_document_ids_are_user_ids(value):
    assert is_user_id(value)
