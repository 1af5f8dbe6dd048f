"""The `/_sandbox/` hooks, the Secret Manager route and the latency knob over the test client."""

from __future__ import annotations

import base64
import time

import pytest

from tests.sandbox.sandbox_helpers import EMAIL

ACCESS = "/v1/projects/demo/secrets/oauth-client/versions/{}:access"


def test_health(http):
    response = http.get("/_sandbox/health")

    assert response.status_code == 200
    assert response.text == "ok"


def test_calls_can_be_read_and_reset(http, authorize):
    authorize()

    assert http.get("/_sandbox/calls").json == {"authorize": 1, "consent": 1}
    assert http.post("/_sandbox/calls/reset").status_code == 200
    assert http.get("/_sandbox/calls").json == {}


def test_behaviour_knobs_are_set_over_http(http, state):
    response = http.post("/_sandbox/behaviour", json={"omit_refresh_token": True})

    assert response.status_code == 200
    assert response.json["omit_refresh_token"] is True
    assert state.behaviour.omit_refresh_token is True
    assert http.get("/_sandbox/behaviour").json == response.json
    assert http.post("/_sandbox/behaviour", json={"latency_ms": "x"}).status_code == 400


def test_mailboxes_are_seeded_over_http(http, state):
    response = http.post(f"/_sandbox/mailboxes/{EMAIL}", json={"count": 42, "seed": 1})

    assert response.json == {"emailAddress": EMAIL, "messagesTotal": 42}
    assert len(state.mailbox(EMAIL).messages) == 42
    assert http.post("/_sandbox/mailboxes/nobody", json={"count": 1}).status_code == 400
    assert http.post(f"/_sandbox/mailboxes/{EMAIL}", json={"count": "1"}).status_code == 400


def test_users_are_revoked_over_http(http, tokens):
    access_token = tokens()["access_token"]

    response = http.post(f"/_sandbox/users/{EMAIL}/revoke")

    assert response.json == {"revoked": 1}
    headers = {"Authorization": f"Bearer {access_token}"}
    assert http.get("/v1/userinfo", headers=headers).status_code == 401


def test_access_tokens_are_ended_early_over_http(http, tokens, state):
    access_token = tokens()["access_token"]

    response = http.post(f"/_sandbox/users/{EMAIL}/access-tokens/expire")

    assert response.json == {"expired": 1}
    headers = {"Authorization": f"Bearer {access_token}"}
    assert http.get("/gmail/v1/users/me/profile", headers=headers).status_code == 401
    assert state.granted_scopes("test-client.apps.sandbox.test", EMAIL)  # the grant stays


def test_clients_are_registered_over_http(http, state):
    response = http.post(
        "/_sandbox/clients", json={"redirect_uris": ["http://localhost:9/cb"], "client_id": "c1"}
    )

    web = response.json["web"]
    assert web["client_id"] == "c1"
    assert web["token_uri"] == "http://localhost/token"
    assert state.client("c1").client_secret == web["client_secret"]
    assert http.post("/_sandbox/clients", json={"redirect_uris": []}).status_code == 400


def test_secrets_are_set_over_http_and_read_like_secret_manager(http, state):
    data = base64.b64encode(b'{"web": {}}').decode()
    name = "projects/demo/secrets/oauth-client/versions/1"
    assert http.post("/_sandbox/secrets", json={"name": name, "data": data}).status_code == 200

    response = http.get(ACCESS.format("latest"))

    assert response.json == {"name": name, "payload": {"data": data}}
    assert state.call_counts()["secretmanager.access"] == 1
    assert http.post("/_sandbox/secrets", json={"name": name, "data": "%%"}).status_code == 400


@pytest.mark.parametrize("version", ["1", "latest", "x"])
def test_an_unknown_secret_version_is_404_in_google_format(http, version):
    response = http.get(ACCESS.format(version))

    assert response.status_code == 404
    error = response.json["error"]
    assert error["code"] == 404
    assert error["status"] == "NOT_FOUND"
    assert "oauth-client" in error["message"]


def test_latency_knob_slows_api_answers_but_not_the_hooks(http, state):
    state.update_behaviour({"latency_ms": 60})

    start = time.perf_counter()
    http.get("/v1/userinfo")
    slowed = time.perf_counter() - start
    start = time.perf_counter()
    http.get("/_sandbox/health")
    hook = time.perf_counter() - start

    assert slowed >= 0.06
    assert hook < 0.05
