"""``OAUTH_CLIENT_SECRETS`` as a Secret Manager version: read with the real client library
(REST transport) from the sandbox's stand-in of ``:access``, once per instance."""

from __future__ import annotations

import dataclasses

import flask
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import secretmanager

from functions.config import get_settings
from functions.errors import ConfigError
from functions.handlers.authorize import handle_authorize
from functions.services import Services

pytestmark = pytest.mark.integration

VERSION = "projects/demo-gmail-auth/secrets/oauth-client/versions/1"


@pytest.fixture
def secret_client(sandbox):
    return secretmanager.SecretManagerServiceClient(
        credentials=AnonymousCredentials(),
        transport="rest",
        client_options={"api_endpoint": sandbox.base_url},
    )


@pytest.fixture
def secret_settings(function_env, sandbox):
    sandbox.state.set_secret(VERSION, sandbox.client_json.read_bytes())
    return dataclasses.replace(get_settings(), client_secrets=VERSION)


def test_authorize_reads_the_client_from_secret_manager_once_per_instance(
    secret_settings, secret_client, firestore_client, sandbox
):
    services = Services(
        secret_settings, secret_client=secret_client, firestore_client=firestore_client
    )

    for _ in range(3):
        with flask.Flask(__name__).test_request_context("/") as context:
            response = handle_authorize(context.request, services)
        assert response.status_code == 302
        assert f"client_id={sandbox.client_id}" in response.headers["Location"]

    assert sandbox.state.call_counts().get("secretmanager.access", 0) == 1


def test_latest_resolves_to_the_newest_version(secret_settings, secret_client, sandbox):
    latest = VERSION.replace("/versions/1", "/versions/latest")
    services = Services(
        dataclasses.replace(secret_settings, client_secrets=latest), secret_client=secret_client
    )

    assert services.oauth_client.client_id == sandbox.client_id


def test_a_missing_secret_fails_with_a_sentence_naming_the_variable(secret_settings, secret_client):
    missing = "projects/demo-gmail-auth/secrets/nothing-here/versions/1"
    services = Services(
        dataclasses.replace(secret_settings, client_secrets=missing), secret_client=secret_client
    )

    with pytest.raises(ConfigError, match=r"^OAUTH_CLIENT_SECRETS names a Secret Manager version"):
        _ = services.oauth_client


def test_a_secret_that_is_not_client_json_is_refused_without_echoing_it(
    secret_settings, secret_client, sandbox
):
    sandbox.state.set_secret(VERSION.replace("/1", "/2"), b"hunter2-not-json")
    services = Services(
        dataclasses.replace(secret_settings, client_secrets=VERSION.replace("/1", "/2")),
        secret_client=secret_client,
    )

    with pytest.raises(ConfigError, match="does not hold JSON") as caught:
        _ = services.oauth_client
    assert "hunter2" not in str(caught.value)
