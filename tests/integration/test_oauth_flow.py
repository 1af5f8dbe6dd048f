"""The guide's consent flow through the real ``authorize`` and ``oauth2callback`` entry points,
against the Firestore emulator and the Google sandbox."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from datetime import timedelta
from urllib.parse import quote

import pytest

from devstack.consent_browser import ConsentBrowser, query_of
from functions.clock import utcnow
from functions.consent import pending as flow
from functions.crypto import parse_keyring, parse_token_keys
from functions.errors import InvalidState
from tests.integration.flow import callback, connect, follow, start

pytestmark = pytest.mark.integration

GMAIL_READONLY = "https://www.googleapis.com/auth/gmail.readonly"
EMAIL = "ada@example.com"


def users(firestore_client):
    return {
        doc.id: doc.to_dict() for doc in firestore_client.collection("gmail_credentials").stream()
    }


def refresh_token(sandbox, user_id, document):
    """Open the sealed refresh token with the test's key file."""
    keys = parse_token_keys(sandbox.token_keys.read_bytes())
    return keys.open(document["refresh_token"], user_id=user_id, purpose="refresh_token")


def used_states(firestore_client):
    """The markers of spent states."""
    return list(firestore_client.collection("oauth_sessions").stream())


def cookie_keys(sandbox):
    return parse_keyring(sandbox.cookie_keys.read_bytes())


def flow_cookies_of(browser):
    return {k: v for k, v in browser.cookies.items() if k.startswith("gmail-auth-flow-")}


def test_authorize_redirects_to_offline_consent_with_pkce_and_a_bound_state(
    apps, firestore_client, sandbox
):
    browser = ConsentBrowser()

    response = start(apps, browser, login_hint=EMAIL)

    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(f"{sandbox.base_url}/o/oauth2/v2/auth?")
    params = query_of(location)
    assert params["access_type"] == "offline"
    assert params["prompt"] == "consent"
    assert params["include_granted_scopes"] == "true"
    assert params["login_hint"] == EMAIL
    assert params["client_id"] == sandbox.client_id
    assert params["redirect_uri"] == "http://localhost:8082/"
    assert GMAIL_READONLY in params["scope"].split()
    assert params["code_challenge_method"] == "S256"
    assert len(params["state"]) >= 43  # 256 bits, base64url

    [cookie] = response.headers.getlist("Set-Cookie")
    name = flow.flow_cookie_name(params["state"], secure=False)
    assert cookie.startswith(f"{name}=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Max-Age=600" in cookie
    assert "Secure" not in cookie  # plain-http loopback only
    assert response.headers["Cache-Control"] == "no-store"

    # GIVEN the cookie THEN it reveals nothing to the browser: neither the state nor the
    # verifier is readable in it, yet it opens, with our key, to the verifier whose S256
    # challenge went to the provider. And authorize wrote nothing to Firestore.
    sealed = browser.cookies[name]
    assert params["state"] not in sealed
    pending = flow.open_flow(
        cookie_keys(sandbox), browser.cookies, params["state"], secure=False, now=utcnow()
    )
    assert pending.code_verifier not in sealed
    challenge = base64.urlsafe_b64encode(hashlib.sha256(pending.code_verifier.encode()).digest())
    assert params["code_challenge"] == challenge.rstrip(b"=").decode()
    assert pending.login_hint == EMAIL
    assert used_states(firestore_client) == []


def test_a_flow_cookie_does_not_open_under_another_flows_name_or_when_altered(apps, sandbox):
    browser = ConsentBrowser()
    first = query_of(start(apps, browser).headers["Location"])["state"]
    second = query_of(start(apps, browser).headers["Location"])["state"]
    keys, now = cookie_keys(sandbox), utcnow()
    name_of = {s: flow.flow_cookie_name(s, secure=False) for s in (first, second)}
    assert len(flow_cookies_of(browser)) == 2  # two tabs, two flows, neither overwritten

    swapped = {name_of[second]: browser.cookies[name_of[first]]}
    with pytest.raises(InvalidState):
        flow.open_flow(keys, swapped, second, secure=False, now=now)
    value = browser.cookies[name_of[first]]
    flipped = value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1]
    with pytest.raises(InvalidState):
        flow.open_flow(keys, {name_of[first]: flipped}, first, secure=False, now=now)
    other_keys = parse_keyring(
        b'{"primary": "k1", "keys": {"k1": "' + base64.b64encode(b"x" * 32) + b'"}}'
    )
    with pytest.raises(InvalidState):
        flow.open_flow(other_keys, browser.cookies, first, secure=False, now=now)


def test_a_browser_keeps_at_most_five_open_flows_forgetting_the_oldest(apps):
    browser = ConsentBrowser()
    states = [query_of(start(apps, browser).headers["Location"])["state"] for _ in range(7)]

    kept = flow_cookies_of(browser)
    assert len(kept) == flow.MAX_FLOWS
    assert set(kept) == {flow.flow_cookie_name(s, secure=False) for s in states[-5:]}


def test_consent_stores_the_refresh_token_under_the_users_id(apps, firestore_client, sandbox):
    browser = ConsentBrowser()

    consent = connect(apps, browser, EMAIL, login_hint=EMAIL)

    assert consent.callback.status_code == 303
    assert consent.callback.headers["Location"] == "http://localhost:8082/"  # no code in it
    assert consent.final.status_code == 200
    page = consent.final.get_data(as_text=True)
    assert EMAIL in page
    assert "Read your email messages" in page
    [(user_id, document)] = users(firestore_client).items()
    assert user_id.isdigit()  # the OIDC sub, not the e-mail
    assert f"<code>{user_id}</code>" in page  # what a pipeline puts in a mailbox request
    assert document["email"] == EMAIL
    assert set(document["refresh_token"]) == {"alg", "key_id", "ciphertext"}  # sealed, unreadable
    assert "sbx-rt-" not in repr(document)
    assert GMAIL_READONLY in document["scopes"]
    assert document["status"] == "active"
    assert document["created_at"] == document["updated_at"]
    assert len(used_states(firestore_client)) == 1  # the state is spent
    assert flow_cookies_of(browser) == {}  # and its cookie gone
    assert sandbox.state.call_counts().get("token.authorization_code", 0) == 1
    # the ID token that came with the tokens named the user: one wait on the provider, not two
    assert sandbox.state.call_counts().get("userinfo", 0) == 0


def test_without_an_id_token_the_user_is_asked_of_userinfo(apps, firestore_client, sandbox):
    # GIVEN a provider whose token response carries no ID token
    sandbox.state.behaviour.omit_id_token = True
    try:
        consent = connect(apps, ConsentBrowser(), EMAIL)
    finally:
        sandbox.state.behaviour.omit_id_token = False
    # THEN userinfo names the user, and they are stored as before
    assert consent.final.status_code == 200
    [(user_id, document)] = users(firestore_client).items()
    assert user_id.isdigit()
    assert document["email"] == EMAIL
    assert sandbox.state.call_counts().get("userinfo", 0) == 1


def test_reconsent_without_a_refresh_token_keeps_the_stored_one(apps, firestore_client, sandbox):
    browser = ConsentBrowser()
    connect(apps, browser, EMAIL)
    [(user_id, before)] = users(firestore_client).items()

    # GIVEN a provider that stops returning refresh tokens (RFC 6749 allows it)
    sandbox.state.behaviour.omit_refresh_token = True
    try:
        again = connect(apps, browser, EMAIL)
    finally:
        sandbox.state.behaviour.omit_refresh_token = False

    assert again.final.status_code == 200
    after = users(firestore_client)[user_id]
    assert refresh_token(sandbox, user_id, after) == refresh_token(sandbox, user_id, before)
    assert after["created_at"] == before["created_at"]
    assert after["updated_at"] > before["updated_at"]


def test_nothing_stored_and_nothing_returned_sends_the_user_back_to_consent(
    apps, firestore_client, sandbox
):
    browser = ConsentBrowser()
    sandbox.state.behaviour.omit_refresh_token = True
    try:
        first = connect(apps, browser, EMAIL)

        # THEN the seed's NoRefreshTokenException path: back to consent, forced, hinted
        assert first.callback.status_code == 302
        retry = first.callback.headers["Location"]
        assert retry.startswith(f"{sandbox.base_url}/o/oauth2/v2/auth?")
        assert query_of(retry)["prompt"] == "consent"
        assert query_of(retry)["login_hint"] == EMAIL
        assert users(firestore_client) == {}

        # WHEN the provider again grants no offline access THEN a clear page, not a loop
        page = browser.open_consent(retry)
        looped = follow(apps, browser, callback(apps, browser, browser.answer(page, email=EMAIL)))
        assert looped.status_code == 502
        assert "Something went wrong" in looped.get_data(as_text=True)
        assert users(firestore_client) == {}
    finally:
        sandbox.state.behaviour.omit_refresh_token = False

    # AND a retry with a conformant answer stores the user
    retried = connect(apps, browser, EMAIL)
    assert retried.final.status_code == 200
    assert len(users(firestore_client)) == 1


def test_an_unticked_gmail_permission_stores_nothing_and_offers_a_retry(apps, firestore_client):
    browser = ConsentBrowser()
    newcomer = "new.user@example.com"  # nothing granted before, so nothing is merged back in

    consent = connect(apps, browser, newcomer, untick=(GMAIL_READONLY,))

    assert consent.callback.status_code == 303  # the spent code leaves the address bar
    assert consent.final.status_code == 403
    page = consent.final.get_data(as_text=True)
    assert "A permission is missing" in page
    assert "Read your email messages and settings" in page
    assert users(firestore_client) == {}

    # WHEN the person presses "Try again" and leaves everything ticked THEN it is connected
    [retry] = re.findall(r'<a class="button" href="([^"]+)">Try again</a>', page)
    # the address typed at the consent page is kept, though authorize was given none
    assert query_of(html.unescape(retry))["login_hint"] == newcomer
    retry_page = browser.open_consent(html.unescape(retry))
    assert GMAIL_READONLY in retry_page.scopes
    location = browser.answer(retry_page, email=newcomer)
    assert callback(apps, browser, location).status_code == 303
    [(_, document)] = users(firestore_client).items()
    assert GMAIL_READONLY in document["scopes"]


def test_cancel_at_the_consent_page_stores_nothing(apps, firestore_client):
    browser = ConsentBrowser()
    consent = connect(apps, browser, EMAIL, action="cancel")

    assert consent.callback.status_code == 303  # the spent state leaves the address bar
    assert consent.final.status_code == 403
    assert "You declined access" in consent.final.get_data(as_text=True)
    assert users(firestore_client) == {}
    assert flow_cookies_of(browser) == {}


def test_declining_offers_to_try_again_with_the_address_and_return_to_kept(
    apps, firestore_client, monkeypatch
):
    from functions import config, services

    monkeypatch.setenv("ALLOWED_RETURN_TO", "https://app.example.com/")
    config.get_settings.cache_clear()
    services.get_services.cache_clear()
    browser = ConsentBrowser()

    consent = connect(
        apps,
        browser,
        EMAIL,
        action="cancel",
        login_hint=EMAIL,
        return_to="https://app.example.com/done",
    )

    assert consent.callback.status_code == 303
    assert consent.final.status_code == 403
    [again] = re.findall(
        r'<a class="button" href="([^"]+)">Try again</a>', consent.final.get_data(as_text=True)
    )
    assert html.unescape(again) == (
        "http://localhost:8081/?login_hint=ada%40example.com"
        "&return_to=https%3A%2F%2Fapp.example.com%2Fdone&pipeline=default"
    )


def test_the_bare_callback_url_says_what_it_is_for(apps):
    response = apps.oauth2callback.get("/")

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "This is where Google sends you back" in page
    assert "expired" not in page


def test_a_replayed_callback_is_refused(apps, firestore_client, sandbox):
    browser = ConsentBrowser()
    first = start(apps, browser)
    after_authorize = dict(browser.cookies)
    page = browser.open_consent(first.headers["Location"])
    location = browser.answer(page, email=EMAIL)
    assert callback(apps, browser, location).status_code == 303

    # WHEN the same browser goes back to the callback URL (its flow cookie is gone)
    replay = follow(apps, browser, callback(apps, browser, location))
    # AND a copy of the flow cookie is replayed with it (a stolen or restored cookie jar)
    thief = ConsentBrowser(cookies=after_authorize)
    replay_with_cookie = follow(apps, thief, callback(apps, thief, location))

    for refused in (replay, replay_with_cookie):
        assert refused.status_code == 400
        assert "expired" in refused.get_data(as_text=True)
    assert (
        sandbox.state.call_counts().get("token.authorization_code", 0) == 1
    )  # the code was not spent again


def test_a_state_from_another_browser_is_refused_and_stays_usable_for_its_own(
    apps, firestore_client
):
    victim = ConsentBrowser()
    first = start(apps, victim)
    page = victim.open_consent(first.headers["Location"])
    location = victim.answer(page, email=EMAIL)

    name = flow.flow_cookie_name(query_of(location)["state"], secure=False)
    for attacker in (ConsentBrowser(), ConsentBrowser(cookies={name: "k1." + "x" * 400})):
        refused = follow(apps, attacker, callback(apps, attacker, location))
        assert refused.status_code == 400
    assert users(firestore_client) == {}

    assert callback(apps, victim, location).status_code == 303


def test_the_callback_is_answered_by_the_issuer_we_asked(apps, firestore_client, sandbox):
    # GIVEN the sandbox names itself in the answer, as Google does (RFC 9207)
    consent = connect(apps, ConsentBrowser(), EMAIL)

    assert query_of(consent.callback_url)["iss"] == sandbox.base_url
    assert consent.final.status_code == 200
    assert len(users(firestore_client)) == 1


@pytest.mark.parametrize("issuer", ["https://accounts.example.com", "https://accounts.google.com"])
def test_an_answer_from_another_issuer_is_refused_before_any_exchange(
    apps, firestore_client, sandbox, issuer
):
    # GIVEN an answer naming another authorization server (a mix-up attack, RFC 9207 §2.4)
    browser = ConsentBrowser()
    page = browser.open_consent(start(apps, browser).headers["Location"])
    location = browser.answer(page, email=EMAIL)
    forged = location.replace(
        f"iss={quote(sandbox.base_url, safe='')}", f"iss={quote(issuer, safe='')}"
    )
    assert forged != location
    sandbox.state.reset_calls()

    shown = follow(apps, browser, callback(apps, browser, forged))

    assert shown.status_code == 400
    assert sandbox.state.call_counts().get("token.authorization_code", 0) == 0
    assert users(firestore_client) == {}


def test_a_tampered_state_is_refused(apps, firestore_client):
    browser = ConsentBrowser()
    first = start(apps, browser)
    page = browser.open_consent(first.headers["Location"])
    location = browser.answer(page, email=EMAIL)
    original = query_of(location)["state"]
    tampered = location.replace(original, ("A" if original[0] != "A" else "B") + original[1:])

    assert follow(apps, browser, callback(apps, browser, tampered)).status_code == 400
    assert users(firestore_client) == {}


def test_an_expired_link_is_refused(apps, firestore_client, function_env):
    """Ten minutes after authorize, the state no longer works, even from its own browser."""
    import flask

    from functions.config import get_settings
    from functions.handlers.oauth2callback import handle_oauth2callback
    from functions.services import Services

    browser = ConsentBrowser()
    first = start(apps, browser)
    page = browser.open_consent(first.headers["Location"])
    location = browser.answer(page, email=EMAIL)

    later = Services(get_settings(), firestore_client=firestore_client)
    now = later.now()
    later.now = lambda: now + flow.LIFETIME + timedelta(seconds=1)
    with flask.Flask(__name__).test_request_context(
        "/", query_string=query_of(location), headers=browser.cookie_header()
    ) as context:
        response = handle_oauth2callback(context.request, later)

    assert response.status_code == 303
    browser.remember(response.headers.getlist("Set-Cookie"))
    outcome = flow.open_outcome(later.cookie_keys, browser.cookies, secure=False, now=now)
    assert outcome is not None
    assert (outcome.page, outcome.status) == ("link_invalid", 400)
    assert users(firestore_client) == {}
    assert used_states(firestore_client) == []  # refused before anything was written


def test_a_code_the_provider_refuses_gets_a_clear_page(apps, firestore_client):
    browser = ConsentBrowser()
    first = start(apps, browser)
    forged = {"state": query_of(first.headers["Location"])["state"], "code": "sbx-code-forged"}

    response = follow(
        apps,
        browser,
        apps.oauth2callback.get("/", query_string=forged, headers=browser.cookie_header()),
    )

    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)
    assert users(firestore_client) == {}


def test_a_redirect_uri_the_token_endpoint_refuses_is_a_configuration_error(
    apps, firestore_client, monkeypatch, caplog
):
    from functions import config, services

    # GIVEN a consent started under one redirect URI…
    browser = ConsentBrowser()
    first = start(apps, browser)
    location = browser.answer(browser.open_consent(first.headers["Location"]), email="e@x.example")
    # …and finished by an instance configured with another one
    monkeypatch.setenv("OAUTH_REDIRECT_URI", "http://localhost:8082/elsewhere")
    config.get_settings.cache_clear()
    services.get_services.cache_clear()

    response = follow(apps, browser, callback(apps, browser, location))

    # THEN Google's redirect_uri_mismatch is reported as the configuration error it is, not as
    # a passing provider failure to try again
    assert response.status_code == 500
    assert users(firestore_client) == {}
    assert (
        "OAUTH_REDIRECT_URI http://localhost:8082/elsewhere: the token endpoint answered "
        "redirect_uri_mismatch" in caplog.text
    )


@pytest.mark.parametrize(
    ("target", "method", "query", "status"),
    [
        ("authorize", "post", "", 405),
        ("oauth2callback", "post", "", 405),
        ("oauth2callback", "get", "", 400),
        ("oauth2callback", "get", "?state=abc", 400),
        ("oauth2callback", "get", "?state=a&state=b&code=c", 400),
        ("oauth2callback", "get", "?state=" + "s" * 500 + "&code=c", 400),
        ("oauth2callback", "get", "?state=" + "s" * 43 + "&code=" + "c" * 5000, 400),
        ("oauth2callback", "get", "?error=access_denied", 403),
        ("oauth2callback", "get", "?error=server_error&state=x", 400),
        ("authorize", "get", "?login_hint=not-an-email", 400),
        ("authorize", "get", "?login_hint=a@b.c&login_hint=d@e.f", 400),
        ("authorize", "get", "?return_to=https://evil.example.com/", 400),
    ],
)
def test_bad_input_gets_a_short_page_with_a_4xx(
    apps, firestore_client, target, method, query, status
):
    client = getattr(apps, target)

    response = follow(apps, ConsentBrowser(), getattr(client, method)("/" + query))

    assert response.status_code == status
    body = response.get_data(as_text=True)
    assert body.startswith("<!doctype html>")
    assert "Traceback" not in body
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert users(firestore_client) == {}


def test_nothing_from_the_request_is_echoed_into_pages(apps):
    response = apps.oauth2callback.get("/?error=%3Cscript%3Ealert(1)%3C/script%3E")

    assert "<script>" not in response.get_data(as_text=True)
    assert "alert" not in response.get_data(as_text=True)


def test_an_allowed_return_to_receives_the_browser_after_success(
    apps, firestore_client, monkeypatch
):
    from functions import config

    monkeypatch.setenv("ALLOWED_RETURN_TO", "https://app.example.com/connected")
    config.get_settings.cache_clear()
    from functions import services

    services.get_services.cache_clear()

    consent = connect(
        apps, ConsentBrowser(), EMAIL, return_to="https://app.example.com/connected?ok=1"
    )

    assert consent.callback.status_code == 303
    assert consent.callback.headers["Location"] == "https://app.example.com/connected?ok=1"
    assert len(users(firestore_client)) == 1


def test_on_https_the_cookie_is_host_only_and_secure_and_hsts_is_sent(
    function_env, firestore_client
):
    import dataclasses

    import flask

    from functions.config import get_settings
    from functions.handlers.authorize import handle_authorize
    from functions.services import Services

    settings = dataclasses.replace(
        get_settings(), redirect_uri="https://auth.example.com/oauth2callback"
    )
    services = Services(settings, firestore_client=firestore_client)

    with flask.Flask(__name__).test_request_context("/") as context:
        response = handle_authorize(context.request, services)

    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{flow.SECURE_PREFIX}flow-")
    assert "; Secure" in cookie
    assert "; Path=/" in cookie
    assert "Domain" not in cookie
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
