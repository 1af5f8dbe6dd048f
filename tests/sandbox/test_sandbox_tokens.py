"""Token, refresh, revocation and userinfo endpoints: Google's rules for codes and tokens."""

from __future__ import annotations

import base64

import pytest
from flask.testing import FlaskClient

from sandbox import identity
from tests.sandbox.sandbox_helpers import (
    CLIENT_ID,
    CLIENT_SECRET,
    EMAIL,
    GMAIL_READONLY,
    REDIRECT_URI,
)

USERINFO_EMAIL = "https://www.googleapis.com/auth/userinfo.email"


def _refresh(http: FlaskClient, refresh_token: str, **extra: str):
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        **extra,
    }
    return http.post("/token", data=form)


def _userinfo(http: FlaskClient, access_token: str):
    return http.get("/v1/userinfo", headers={"Authorization": f"Bearer {access_token}"})


def test_code_exchange_returns_bearer_tokens_like_google(authorize, exchange):
    response = exchange(authorize()["code"])

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json
    assert body["access_token"].startswith("sbx-at-")
    assert body["refresh_token"].startswith("sbx-rt-")
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"].split() == ["openid", USERINFO_EMAIL, GMAIL_READONLY]


@pytest.mark.parametrize(
    ("verifier", "description"),
    [
        ("x" * 43, "Invalid code verifier."),
        (None, "Missing code verifier."),
        ("short", "Invalid code verifier."),
    ],
)
def test_pkce_mismatch_is_invalid_grant(authorize, exchange, verifier, description):
    response = exchange(authorize()["code"], verifier=verifier)

    assert response.status_code == 400
    assert response.json == {"error": "invalid_grant", "error_description": description}


def test_without_a_challenge_no_verifier_is_needed(authorize, exchange):
    assert exchange(authorize(verifier=None)["code"], verifier=None).status_code == 200


def test_a_redirect_uri_other_than_the_authorized_one_is_redirect_uri_mismatch(authorize, exchange):
    # Google's token endpoint: 400 redirect_uri_mismatch, not invalid_grant (web-server guide)
    code = authorize()["code"]
    response = exchange(code, redirect_uri="http://localhost:8082/other")

    assert response.status_code == 400
    assert response.json == {"error": "redirect_uri_mismatch", "error_description": "Bad Request"}
    assert exchange(code).json["error"] == "invalid_grant"  # the attempt used the code up


def test_a_code_expires_after_ten_minutes(authorize, exchange, clock):
    code = authorize()["code"]
    clock.advance(601)

    assert exchange(code).json["error"] == "invalid_grant"


def test_a_reused_code_fails_and_revokes_what_it_issued(http, authorize, exchange):
    code = authorize()["code"]
    first = exchange(code).json

    second = exchange(code)

    assert second.status_code == 400
    assert second.json["error"] == "invalid_grant"
    assert _userinfo(http, first["access_token"]).status_code == 401
    assert _refresh(http, first["refresh_token"]).json["error"] == "invalid_grant"


def test_refresh_token_only_on_first_offline_consent_or_with_prompt_consent(http, tokens):
    first = tokens()
    assert "refresh_token" in first

    again = tokens()
    assert "refresh_token" not in again

    forced = tokens(prompt="consent")
    assert forced["refresh_token"] not in (None, first["refresh_token"])

    # Google keeps the earlier refresh token valid when it issues a new one
    for refresh_token in (first["refresh_token"], forced["refresh_token"]):
        assert _refresh(http, refresh_token).status_code == 200


def test_online_access_gets_no_refresh_token(tokens):
    assert "refresh_token" not in tokens(access_type="online")
    assert "refresh_token" in tokens(access_type="offline")  # still the first offline consent


def test_omit_refresh_token_knob_withholds_it_even_with_prompt_consent(tokens, state):
    state.behaviour.omit_refresh_token = True

    assert "refresh_token" not in tokens(prompt="consent")


def test_granular_consent_shows_in_the_token_scope(tokens):
    body = tokens(tick=("openid", "email"))

    assert body["scope"].split() == ["openid", USERINFO_EMAIL]


def test_include_granted_scopes_adds_earlier_grants(tokens, state):
    tokens(scopes=(GMAIL_READONLY,))

    plain = tokens(scopes=("openid",))
    incremental = tokens(scopes=("openid",), include_granted_scopes="true")

    assert plain["scope"] == "openid"
    assert set(incremental["scope"].split()) == {"openid", GMAIL_READONLY}
    assert state.granted_scopes(CLIENT_ID, EMAIL) == {"openid", GMAIL_READONLY}


def test_refresh_returns_a_new_access_token_and_no_refresh_token(http, tokens):
    first = tokens()

    response = _refresh(http, first["refresh_token"])

    assert response.status_code == 200
    body = response.json
    assert body["access_token"] != first["access_token"]
    assert "refresh_token" not in body
    assert body["scope"] == first["scope"]
    assert body["token_type"] == "Bearer"


def test_refresh_may_narrow_but_not_widen_the_scope(http, tokens):
    refresh_token = tokens()["refresh_token"]

    narrowed = _refresh(http, refresh_token, scope="email")
    widened = _refresh(http, refresh_token, scope="https://mail.google.com/")

    assert narrowed.json["scope"] == USERINFO_EMAIL
    assert widened.status_code == 400
    assert widened.json["error"] == "invalid_scope"


def test_refresh_token_of_another_client_or_unknown_is_invalid_grant(http, tokens, state):
    refresh_token = tokens()["refresh_token"]
    other = state.register_client([REDIRECT_URI], "other-client", "other-secret")
    stolen = {"client_id": other.client_id, "client_secret": other.client_secret}

    assert _refresh(http, refresh_token, **stolen).json["error"] == "invalid_grant"
    assert _refresh(http, "sbx-rt-unknown").json["error"] == "invalid_grant"


@pytest.mark.usefixtures("oauth_client")
@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"client_id": CLIENT_ID, "client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "nobody", "client_secret": CLIENT_SECRET}, 401, "invalid_client"),
        ({}, 401, "invalid_client"),
        ({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "grant_type": "password"},
         400, "unsupported_grant_type"),
        ({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "grant_type": ""},
         400, "invalid_request"),
        ({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}, 400, "invalid_request"),
    ],
)  # fmt: skip
def test_token_endpoint_errors_follow_rfc_6749(http, form, status, error):
    response = http.post("/token", data={"grant_type": "authorization_code", **form})

    assert response.status_code == status
    assert response.json["error"] == error
    assert "error_description" in response.json


def test_http_basic_client_authentication(http, tokens):
    refresh_token = tokens()["refresh_token"]
    good = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    bad = base64.b64encode(f"{CLIENT_ID}:nope".encode()).decode()
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}

    ok = http.post("/token", data=form, headers={"Authorization": f"Basic {good}"})
    refused = http.post("/token", data=form, headers={"Authorization": f"Basic {bad}"})

    assert ok.status_code == 200
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Basic")


def test_userinfo_names_the_user_by_a_stable_numeric_sub(http, tokens):
    body = _userinfo(http, tokens()["access_token"]).json

    assert body == {
        "sub": identity.user_id(EMAIL),
        "email": EMAIL,
        "email_verified": True,
    }
    assert len(body["sub"]) == 21
    assert body["sub"].isdigit()
    assert identity.user_id(EMAIL.upper()) == body["sub"]
    assert identity.user_id("someone.else@example.com") != body["sub"]


def test_userinfo_gives_the_name_only_with_the_profile_scope(http, tokens):
    body = _userinfo(http, tokens(scopes=("openid", "profile", "email"))["access_token"]).json

    assert body["name"] == "Ada Lovelace"


@pytest.mark.parametrize("header", [None, "Bearer sbx-at-unknown", "Basic abc"])
def test_userinfo_without_a_valid_token_is_401(http, header):
    headers = {"Authorization": header} if header else {}

    response = http.get("/v1/userinfo", headers=headers)

    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_access_tokens_expire(http, tokens, clock, state):
    state.behaviour.access_token_lifetime = 60
    body = tokens()
    assert body["expires_in"] == 60

    clock.advance(61)

    assert _userinfo(http, body["access_token"]).status_code == 401
    assert _refresh(http, body["refresh_token"]).status_code == 200


@pytest.mark.parametrize("which", ["access_token", "refresh_token"])
def test_revoking_either_token_revokes_the_whole_grant(http, tokens, which):
    body = tokens()

    response = http.post("/revoke", data={"token": body[which]})

    assert response.status_code == 200
    assert response.json == {}
    assert _userinfo(http, body["access_token"]).status_code == 401
    assert _refresh(http, body["refresh_token"]).json["error"] == "invalid_grant"


def test_revoke_accepts_the_token_as_a_query_parameter(http, tokens):
    body = tokens()

    assert http.post("/revoke", query_string={"token": body["refresh_token"]}).status_code == 200
    assert _refresh(http, body["refresh_token"]).status_code == 400


def test_revoking_an_unknown_token_is_400_invalid_token(http):
    response = http.post("/revoke", data={"token": "sbx-rt-nope"})

    assert response.status_code == 400
    assert response.json["error"] == "invalid_token"


def test_after_revocation_the_next_consent_is_a_first_consent_again(http, tokens):
    http.post("/revoke", data={"token": tokens()["refresh_token"]})

    assert "refresh_token" in tokens()


def test_revoke_user_hook_revokes_every_grant_of_that_user(http, tokens, state):
    body = tokens()

    assert state.revoke_user(EMAIL.upper()) == 1

    assert _userinfo(http, body["access_token"]).status_code == 401
    assert _refresh(http, body["refresh_token"]).json["error"] == "invalid_grant"
    assert state.granted_scopes(CLIENT_ID, EMAIL) is None


def test_token_calls_are_counted_by_grant_type(http, tokens, state):
    _refresh(http, tokens()["refresh_token"])
    http.post("/revoke", data={"token": "nope"})

    counts = state.call_counts()
    assert counts["token.authorization_code"] == 1
    assert counts["token.refresh_token"] == 1
    assert counts["revoke"] == 1
    state.reset_calls()
    assert state.call_counts() == {}
