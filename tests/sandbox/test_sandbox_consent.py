"""The authorization endpoint: validation like Google's, the consent page, Allow and Cancel."""

from __future__ import annotations

import html
import re

import pytest

from tests.sandbox.sandbox_helpers import (
    CLIENT_ID,
    GMAIL_READONLY,
    REDIRECT_URI,
    consent_id_of,
    redirect_params,
)

AUTH = "/o/oauth2/v2/auth"


def _query(**overrides: str | None) -> dict[str, str]:
    query: dict[str, str | None] = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": f"openid email {GMAIL_READONLY}",
        "state": "s-1",
    }
    query.update(overrides)
    return {k: v for k, v in query.items() if v is not None}


@pytest.mark.usefixtures("oauth_client")
def test_consent_page_lists_each_scope_with_a_label_and_prefills_the_hint(http):
    page = http.get(AUTH, query_string=_query(login_hint="ada@example.com"))

    assert page.status_code == 200
    text = page.text
    assert '<html lang="en">' in text
    assert '<input type="email" name="email" id="email" value="ada@example.com"' in text
    assert 'value="allow">Allow</button>' in text
    assert 'value="cancel" formnovalidate>Cancel</button>' in text  # Cancel needs no e-mail
    assert text.count('type="checkbox" name="scope"') == 3
    for label in (
        "Read your email messages and settings",
        "See your primary Google Account email address",
        "Associate you with your personal info on Google",
    ):
        assert label in text
    assert consent_id_of(text).startswith("sbx-consent-")


@pytest.mark.usefixtures("oauth_client")
def test_login_hint_and_client_input_are_escaped(http):
    hint = '"><script>alert(1)</script>'

    page = http.get(AUTH, query_string=_query(login_hint=hint))

    assert page.status_code == 200
    assert "<script>" not in page.text
    value = re.search(r'id="email" value="([^"]*)"', page.text)
    assert value is not None
    assert html.unescape(value[1]) == hint  # escaped in the attribute, intact for the user


@pytest.mark.usefixtures("oauth_client")
@pytest.mark.parametrize(
    ("overrides", "status", "error"),
    [
        ({"client_id": "nobody"}, 401, "invalid_client"),
        ({"client_id": None}, 400, "invalid_request"),
        ({"redirect_uri": "https://evil.example/cb"}, 400, "redirect_uri_mismatch"),
        ({"redirect_uri": REDIRECT_URI + "/"}, 400, "redirect_uri_mismatch"),
        ({"redirect_uri": None}, 400, "invalid_request"),
        # With client and redirect URI known good, Google still shows its own page for a bad
        # request (web-server guide, "Authorization errors"); RFC 6749 §4.1.2.1 would redirect.
        ({"scope": None}, 400, "invalid_request"),
        ({"response_type": "token"}, 400, "unsupported_response_type"),
        ({"response_type": None}, 400, "invalid_request"),
        ({"code_challenge_method": "S512", "code_challenge": "x" * 43}, 400, "invalid_request"),
        ({"code_challenge_method": "S256"}, 400, "invalid_request"),
        ({"code_challenge": "too-short"}, 400, "invalid_request"),
        ({"access_type": "forever"}, 400, "invalid_request"),
        ({"scope": "openid emial"}, 400, "invalid_scope"),
        ({"scope": f"openid {GMAIL_READONLY[:-1]}i"}, 400, "invalid_scope"),
        ({"scope": "openid https://www.googleapis.com/auth/drive"}, 400, "invalid_scope"),
    ],
)
def test_a_bad_request_is_shown_on_googles_page_and_never_redirected(
    http, overrides, status, error
):
    page = http.get(AUTH, query_string=_query(**overrides))

    assert page.status_code == status
    assert "Location" not in page.headers
    assert f"Error {status}: {error}" in page.text
    assert "s-1" not in page.text  # nothing goes back to the app, not even its state


@pytest.mark.usefixtures("oauth_client")
def test_an_unknown_scope_page_lists_the_valid_and_the_invalid_ones(http):
    page = http.get(AUTH, query_string=_query(scope=f"openid email {GMAIL_READONLY}x"))

    assert page.status_code == 400
    assert (
        "Some requested scopes were invalid. "
        f"{{valid=[openid, email], invalid=[{GMAIL_READONLY}x]}}" in html.unescape(page.text)
    )


@pytest.mark.usefixtures("oauth_client")
@pytest.mark.parametrize(
    "scope",
    ["openid email profile", "https://mail.google.com/", f"{GMAIL_READONLY} openid",
     "https://www.googleapis.com/auth/gmail.metadata https://www.googleapis.com/auth/userinfo.email"],
)  # fmt: skip
def test_known_scopes_reach_the_consent_page(http, scope):
    assert http.get(AUTH, query_string=_query(scope=scope)).status_code == 200


@pytest.mark.usefixtures("oauth_client")
def test_prompt_none_goes_back_to_the_client_with_interaction_required(http):
    # OIDC Core §3.1.2.6: with no signed-in session, prompt=none answers the client
    response = http.get(AUTH, query_string=_query(prompt="none"))

    assert response.status_code == 302
    assert response.location.startswith(REDIRECT_URI + "?")
    params = redirect_params(response.location)
    assert params["error"] == "interaction_required"
    assert params["state"] == "s-1"
    assert "code" not in params


@pytest.mark.usefixtures("oauth_client")
def test_plain_pkce_is_accepted_as_rfc_7636_allows(http):
    page = http.get(
        AUTH, query_string=_query(code_challenge="p" * 43, code_challenge_method="plain")
    )

    assert page.status_code == 200


def test_cancel_redirects_with_access_denied(authorize):
    params = authorize(action="cancel")

    assert params == {"error": "access_denied", "state": "state-123", "iss": "http://localhost"}


def test_unticking_everything_is_a_refusal(authorize):
    assert authorize(tick=())["error"] == "access_denied"


def test_allow_returns_a_code_the_granted_scopes_and_the_state_untouched(authorize):
    params = authorize(state="a b&c=d/é")

    assert params["code"].startswith("sbx-code-")
    assert params["state"] == "a b&c=d/é"
    assert params["scope"].split() == [
        "openid",
        "https://www.googleapis.com/auth/userinfo.email",  # Google expands `email`
        GMAIL_READONLY,
    ]


def test_no_state_in_the_request_means_none_in_the_redirect(http, oauth_client):
    page = http.get(AUTH, query_string=_query(state=None))
    answer = http.post(
        AUTH,
        data={"consent_id": consent_id_of(page.text), "email": "a@b.example", "action": "allow"}
        | {"scope": ["openid"]},
    )

    assert set(redirect_params(answer.location)) == {"code", "scope", "iss"}


def test_the_answer_names_its_issuer_as_google_does(authorize, http):
    # RFC 9207 §2: the issuer identifier, the discovery document's `issuer`
    issuer = http.get("/.well-known/openid-configuration").json["issuer"]

    assert authorize()["iss"] == issuer
    assert authorize(action="cancel")["iss"] == issuer


def test_granted_scopes_are_exactly_the_ticked_ones(authorize):
    params = authorize(tick=("openid", "email"))

    assert GMAIL_READONLY not in params["scope"].split()


def test_a_scope_that_was_not_requested_cannot_be_smuggled_in(authorize):
    params = authorize(tick=("openid", "https://mail.google.com/"))

    assert params["scope"] == "openid"


@pytest.mark.usefixtures("oauth_client")
@pytest.mark.parametrize("email", ["", "not-an-email", "a@b"])
def test_an_invalid_email_gets_an_error_page(http, email):
    page = http.get(AUTH, query_string=_query())
    form = {"consent_id": consent_id_of(page.text), "email": email, "action": "allow"}

    answer = http.post(AUTH, data=form | {"scope": ["openid"]})

    assert answer.status_code == 400
    assert "Location" not in answer.headers


@pytest.mark.usefixtures("oauth_client")
def test_an_unknown_or_used_consent_id_gets_an_error_page(http):
    page = http.get(AUTH, query_string=_query())
    form = {"consent_id": consent_id_of(page.text), "email": "a@b.example", "action": "allow"}
    assert http.post(AUTH, data=form | {"scope": ["openid"]}).status_code == 302

    again = http.post(AUTH, data=form | {"scope": ["openid"]})
    forged = http.post(AUTH, data=form | {"consent_id": "sbx-consent-forged"})

    assert again.status_code == 400
    assert forged.status_code == 400


@pytest.mark.usefixtures("oauth_client")
def test_a_consent_request_expires_after_an_hour(http, clock):
    page = http.get(AUTH, query_string=_query())
    clock.advance(3601)

    answer = http.post(AUTH, data={"consent_id": consent_id_of(page.text), "email": "a@b.example"})

    assert answer.status_code == 400


def test_authorize_calls_are_counted(authorize, state):
    authorize()
    authorize()

    assert state.call_counts()["authorize"] == 2
