# google-auth and googleapiclient ship without type hints.
# mypy: disable-error-code="no-untyped-call"
"""Google's own client libraries, unchanged, against the sandbox over real HTTP.

What the product runs in production (google-auth-oauthlib Flow, google-auth Credentials,
googleapiclient Gmail v1, google-cloud-secret-manager over REST) must work against the sandbox
with nothing but endpoint URLs changed.
"""

from __future__ import annotations

import re
from typing import Any

import google_auth_httplib2
import httplib2
import pytest
import requests
from google.api_core.exceptions import NotFound
from google.auth.credentials import AnonymousCredentials
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request
from google.cloud import secretmanager
from google.oauth2 import id_token
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import Flow
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from oauthlib.oauth2.rfc6749.errors import InvalidGrantError

from tests.sandbox.sandbox_helpers import EMAIL, GMAIL_READONLY, SCOPES, consent_id_of

REDIRECT_URI = "http://localhost:8082/"


@pytest.fixture
def oauthlib_env(monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # the sandbox speaks plain HTTP
    monkeypatch.setenv("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")  # Google expands `email`, so must we


@pytest.fixture
def flow(live, oauthlib_env):
    server, state = live
    client = state.register_client([REDIRECT_URI])
    config = state.client_config(client, server.base_url)
    return Flow.from_client_config(config, scopes=list(SCOPES), redirect_uri=REDIRECT_URI)


def _consent(flow: Flow, *, untick: tuple[str, ...] = ()) -> str:
    """Play the user: open the authorization URL, allow, return the redirect back."""
    url, _ = flow.authorization_url(
        access_type="offline", prompt="consent", include_granted_scopes="true", login_hint=EMAIL
    )
    with requests.Session() as browser:
        page = browser.get(url, timeout=10)
        assert page.status_code == 200
        form = {
            "consent_id": consent_id_of(page.text),
            "email": EMAIL,
            "action": "allow",
            "scope": [s for s in SCOPES if s not in untick],
        }
        answer = browser.post(page.url.split("?")[0], data=form, allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    return str(answer.headers["Location"])


def _credentials(flow: Flow) -> Any:
    flow.fetch_token(authorization_response=_consent(flow))
    return flow.credentials


def _gmail(credentials: Any, base_url: str) -> Any:
    return build(
        "gmail",
        "v1",
        credentials=credentials,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": base_url + "/"},
    )


def test_flow_with_pkce_gets_tokens_and_userinfo_identifies_the_user(flow, live):
    server, _ = live

    credentials = _credentials(flow)

    assert flow.code_verifier  # PKCE S256 went out with the authorization URL
    assert credentials.token.startswith("sbx-at-")
    assert credentials.refresh_token.startswith("sbx-rt-")
    assert GMAIL_READONLY in credentials.granted_scopes
    info = requests.get(
        server.base_url + "/v1/userinfo",
        headers={"Authorization": f"Bearer {credentials.token}"},
        timeout=10,
    ).json()
    assert info["email"] == EMAIL
    assert info["sub"].isdigit()


def test_google_auth_verifies_the_id_token_against_the_sandboxs_keys(flow, live):
    server, _ = live

    credentials = _credentials(flow)
    claims = id_token.verify_token(
        credentials.id_token,
        Request(),
        audience=flow.client_config["client_id"],
        certs_url=server.base_url + "/oauth2/v1/certs",
    )

    assert claims["iss"] == server.base_url
    assert claims["email"] == EMAIL
    assert claims["email_verified"] is True
    assert (
        claims["sub"]
        == requests.get(
            server.base_url + "/v1/userinfo",
            headers={"Authorization": f"Bearer {credentials.token}"},
            timeout=10,
        ).json()["sub"]
    )
    with pytest.raises(ValueError, match="audience"):
        id_token.verify_token(
            credentials.id_token,
            Request(),
            audience="someone-else.apps.sandbox.test",
            certs_url=server.base_url + "/oauth2/v1/certs",
        )


def test_flow_with_the_wrong_verifier_is_refused(flow):
    location = _consent(flow)
    flow.code_verifier = "w" * 64

    with pytest.raises(InvalidGrantError):
        flow.fetch_token(authorization_response=location)


def test_credentials_refresh_against_the_token_endpoint_then_fail_once_revoked(flow, live):
    server, state = live
    issued = _credentials(flow)
    credentials = Credentials(
        token=None,
        refresh_token=issued.refresh_token,
        token_uri=issued.token_uri,
        client_id=issued.client_id,
        client_secret=issued.client_secret,
        scopes=list(SCOPES),
    )

    credentials.refresh(Request())

    assert str(credentials.token).startswith("sbx-at-")
    assert credentials.valid
    assert state.call_counts()["token.refresh_token"] == 1
    response = requests.post(
        server.base_url + "/revoke", data={"token": issued.refresh_token}, timeout=10
    )
    assert response.status_code == 200
    with pytest.raises(RefreshError, match="invalid_grant"):
        credentials.refresh(Request())


def test_gmail_client_lists_every_page_of_a_2345_message_mailbox(flow, live):
    server, state = live
    credentials = _credentials(flow)
    mailbox = state.seed_mailbox(EMAIL, 2345, seed=11)
    state.reset_calls()
    messages = _gmail(credentials, server.base_url).users().messages()

    ids, request = [], messages.list(userId="me", maxResults=500, includeSpamTrash=True)
    while request is not None:
        response = request.execute()
        ids += [m["id"] for m in response["messages"]]
        request = messages.list_next(request, response)

    assert state.call_counts()["gmail.messages.list"] == 5
    assert len(ids) == len(set(ids)) == 2345
    assert ids == [m.id for m in mailbox]


def test_gmail_client_gets_401_for_a_revoked_token(flow, live):
    server, state = live
    credentials = _credentials(flow)
    state.revoke_user(EMAIL)
    # Without a refresh attempt the 401 reaches the caller as an HttpError…
    http = google_auth_httplib2.AuthorizedHttp(
        credentials, http=httplib2.Http(), max_refresh_attempts=0
    )
    service = build(
        "gmail",
        "v1",
        http=http,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": server.base_url + "/"},
    )

    with pytest.raises(HttpError) as caught:
        service.users().getProfile(userId="me").execute()

    assert caught.value.status_code == 401
    # …and with the default transport, the refresh it triggers fails with invalid_grant.
    with pytest.raises(RefreshError, match="invalid_grant"):
        _gmail(credentials, server.base_url).users().getProfile(userId="me").execute()


def test_gmail_client_sees_403_with_the_retry_time_in_the_message(flow, live):
    server, state = live
    credentials = _credentials(flow)
    state.update_behaviour({"quota_units_per_minute": 5})
    messages = _gmail(credentials, server.base_url).users().messages()
    messages.list(userId="me").execute()

    with pytest.raises(HttpError) as caught:
        messages.list(userId="me").execute()

    assert caught.value.status_code == 403
    assert "retry-after" not in caught.value.resp
    assert caught.value.error_details[0]["reason"] == "userRateLimitExceeded"
    assert re.search(r"Retry after \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", caught.value.reason)


def test_gmail_client_sees_403_without_the_gmail_scope(flow, live):
    server, _ = live
    flow.fetch_token(authorization_response=_consent(flow, untick=(GMAIL_READONLY,)))

    with pytest.raises(HttpError) as caught:
        _gmail(flow.credentials, server.base_url).users().messages().list(userId="me").execute()

    assert caught.value.status_code == 403


def test_secret_manager_client_reads_a_version_over_rest(live):
    server, state = live
    state.set_secret("projects/demo/secrets/oauth-client/versions/1", b"old")
    state.set_secret("projects/demo/secrets/oauth-client/versions/2", b'{"web": {}}')
    client = secretmanager.SecretManagerServiceClient(
        credentials=AnonymousCredentials(),
        transport="rest",
        client_options={"api_endpoint": server.base_url},  # http:// is taken as given
    )

    latest = client.access_secret_version(name="projects/demo/secrets/oauth-client/versions/latest")
    first = client.access_secret_version(name="projects/demo/secrets/oauth-client/versions/1")

    assert latest.name == "projects/demo/secrets/oauth-client/versions/2"
    assert latest.payload.data == b'{"web": {}}'
    assert first.payload.data == b"old"
    with pytest.raises(NotFound):
        client.access_secret_version(name="projects/demo/secrets/missing/versions/1")
    assert state.call_counts()["secretmanager.access"] == 3
