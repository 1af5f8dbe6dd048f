"""Fixtures for the sandbox tests: a movable clock, a state, the app and consent helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from werkzeug.test import TestResponse

from sandbox import RunningServer, SandboxState, create_app, serve_in_thread
from sandbox.models import Client
from sandbox.rfc7636 import s256
from tests.sandbox.sandbox_helpers import (
    CLIENT_ID,
    CLIENT_SECRET,
    EMAIL,
    REDIRECT_URI,
    SCOPES,
    VERIFIER,
    FakeClock,
    consent_id_of,
    redirect_params,
)

Authorize = Callable[..., dict[str, str]]
Exchange = Callable[..., TestResponse]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def state(clock: FakeClock) -> SandboxState:
    return SandboxState(clock=clock)


@pytest.fixture
def app(state: SandboxState) -> Flask:
    return create_app(state)


@pytest.fixture
def http(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def oauth_client(state: SandboxState) -> Client:
    return state.register_client([REDIRECT_URI], CLIENT_ID, CLIENT_SECRET)


@pytest.fixture
def authorize(http: FlaskClient, oauth_client: Client) -> Authorize:
    """Walk the consent screen; returns the parameters of the redirect back to the client."""

    def run(
        *,
        scopes: tuple[str, ...] = SCOPES,
        tick: tuple[str, ...] | None = None,
        email: str = EMAIL,
        action: str = "allow",
        verifier: str | None = VERIFIER,
        **params: str,
    ) -> dict[str, str]:
        query = {
            "client_id": oauth_client.client_id,
            "redirect_uri": REDIRECT_URI,
            "response_type": "code",
            "scope": " ".join(scopes),
            "access_type": "offline",
            "state": "state-123",
            **params,
        }
        if verifier is not None:
            query.update(code_challenge=s256(verifier), code_challenge_method="S256")
        page = http.get("/o/oauth2/v2/auth", query_string=query)
        assert page.status_code == 200, page.text
        form = {
            "consent_id": consent_id_of(page.text),
            "email": email,
            "action": action,
            "scope": list(scopes if tick is None else tick),
        }
        answer = http.post("/o/oauth2/v2/auth", data=form)
        assert answer.status_code == 302
        assert answer.location.startswith(REDIRECT_URI + "?")
        return redirect_params(answer.location)

    return run


@pytest.fixture
def exchange(http: FlaskClient) -> Exchange:
    """POST the code to the token endpoint with form client authentication."""

    def run(
        code: str, *, verifier: str | None = VERIFIER, redirect_uri: str = REDIRECT_URI
    ) -> TestResponse:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }
        if verifier is not None:
            form["code_verifier"] = verifier
        return http.post("/token", data=form)

    return run


@pytest.fixture
def tokens(authorize: Authorize, exchange: Exchange) -> Callable[..., dict[str, object]]:
    """Consent and exchange in one step; returns the token response."""

    def run(**kwargs: object) -> dict[str, object]:
        response = exchange(authorize(**kwargs)["code"])
        assert response.status_code == 200, response.json
        body = response.json
        assert isinstance(body, dict)
        return body

    return run


@pytest.fixture
def live() -> Iterator[tuple[RunningServer, SandboxState]]:
    """A real HTTP server (real clock) for the client-library tests."""
    state = SandboxState()
    with serve_in_thread(create_app(state)) as server:
        yield server, state


@pytest.fixture
def access_token(tokens: Callable[..., dict[str, object]]) -> str:
    """An access token of EMAIL with the default scopes (gmail.readonly among them)."""
    return str(tokens()["access_token"])


@pytest.fixture
def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


@pytest.fixture
def served(app: Flask) -> Iterator[RunningServer]:
    """The `app` fixture (fake clock) over real HTTP, for googleapiclient."""
    with serve_in_thread(app) as server:
        yield server


@pytest.fixture
def gmail(served: RunningServer, access_token: str) -> Any:
    """googleapiclient's Gmail v1, as the product builds it, pointed at `served`."""
    return build(
        "gmail",
        "v1",
        credentials=Credentials(token=access_token),
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": served.base_url + "/"},
    )
