"""What the stack computes before starting anything: ports, URLs, the functions' environment."""

from __future__ import annotations

import base64
import json
import stat
import subprocess
from pathlib import Path

import pytest

from devstack.banner import render_banner
from devstack.envfile import env_prefix, write_env_file
from devstack.errors import DevStackError
from devstack.function_env import RealGoogle, real_google_from_env
from devstack.stack import LocalStack, StackPorts
from devstack.token_keys import ensure_token_keys


def test_make_dev_ports_are_the_documented_ones() -> None:
    ports = StackPorts()
    assert (ports.authorize, ports.oauth2callback, ports.list_messages) == (8081, 8082, 8083)
    assert ports.disconnect == 8084
    assert (ports.pubsub, ports.firestore, ports.sandbox) == (8085, 8086, 8090)


def test_zero_ports_become_distinct_free_ports() -> None:
    ports = StackPorts.any_free().resolved()
    values = [ports.authorize, ports.oauth2callback, ports.list_messages, ports.disconnect]
    values += [ports.watch, ports.renew_watches, ports.gmail_push, ports.security_events]
    values += [ports.pubsub, ports.firestore, ports.sandbox]
    assert all(values)
    assert len(set(values)) == len(values)


def test_sandbox_mode_points_every_endpoint_at_the_sandbox(tmp_path: Path) -> None:
    stack = LocalStack(state_dir=tmp_path)

    assert stack.mode == "sandbox"
    assert stack.authorize_url == "http://localhost:8081/"
    secrets = tmp_path / "secrets" / "etc" / "secrets"
    assert stack.function_envs["list_messages"] == {
        "FUNCTION_TARGET": "list_messages",
        "FUNCTION_SIGNATURE_TYPE": "cloudevent",
        "K_SERVICE": "list-messages",
        "K_REVISION": "list-messages-00001-loc",
        "LOG_EXECUTION_ID": "true",
        "GOOGLE_CLOUD_PROJECT": "demo-gmail-auth",
        "FIRESTORE_EMULATOR_HOST": "127.0.0.1:8086",
        "PUBSUB_EMULATOR_HOST": "127.0.0.1:8085",
        "OAUTH_CLIENT_SECRETS": str(secrets / "oauth-client" / "client.json"),
        "TOKEN_ENCRYPTION_KEYS": str(secrets / "token-keys" / "keys.json"),
        "OAUTH_REDIRECT_URI": "http://localhost:8082/",
        "AUTHORIZE_URL": "http://localhost:8081/",
        "CREDENTIALS_COLLECTION": "gmail_credentials",
        "EVENTS_COLLECTION": "processed_events",
        "AUTH_SESSIONS_COLLECTION": "oauth_sessions",
        "RESULTS_TOPIC": "projects/demo-gmail-auth/topics/mailbox-results",
        "REAUTH_TOPIC": "projects/demo-gmail-auth/topics/reauth-events",
        "OIDC_USERINFO_URI": "http://127.0.0.1:8090/v1/userinfo",
        "OAUTH_REVOKE_URI": "http://127.0.0.1:8090/revoke",
        "GMAIL_API_ROOT": "http://127.0.0.1:8090/",
        "RISC_CONFIGURATION_URI": "http://127.0.0.1:8090/.well-known/risc-configuration",
        "OAUTHLIB_INSECURE_TRANSPORT": "1",
    }
    # Each function gets only what it is deployed with: authorize publishes nowhere.
    assert "RESULTS_TOPIC" not in stack.function_envs["authorize"]
    assert stack.function_envs["watch"]["GMAIL_PUSH_TOPIC"] == (
        "projects/demo-gmail-auth/topics/gmail-push"
    )
    assert stack.client_env == {
        "FIRESTORE_EMULATOR_HOST": "127.0.0.1:8086",
        "PUBSUB_EMULATOR_HOST": "127.0.0.1:8085",
        "GOOGLE_CLOUD_PROJECT": "demo-gmail-auth",
    }


def test_real_google_mode_passes_the_client_through_and_keeps_google_endpoints(
    tmp_path: Path,
) -> None:
    # GIVEN the user's own client, registered for http://127.0.0.1:9999/callback
    client = tmp_path / "client_secret.json"
    client.write_text("{}")
    real = RealGoogle(client_secrets=str(client), redirect_uri="http://127.0.0.1:9999/callback")

    # WHEN the stack is configured for it
    stack = LocalStack(state_dir=tmp_path, real_google=real)

    # THEN no sandbox endpoint is set, the callback listens where Google will redirect,
    # and the authorize URL shares the callback's host (cookies are per host)
    env = stack.function_env
    assert stack.mode == "google"
    assert stack.sandbox_url is None
    # the client is read where its secret would be mounted (the stack copies it there)
    assert env["OAUTH_CLIENT_SECRETS"] == str(stack.client_json_path)
    assert env["OAUTH_REDIRECT_URI"] == "http://127.0.0.1:9999/callback"
    for name in ("OIDC_USERINFO_URI", "OAUTH_REVOKE_URI", "GMAIL_API_ROOT"):
        assert name not in env
    assert "OAUTHLIB_INSECURE_TRANSPORT" not in env
    assert stack.ports.oauth2callback == 9999
    assert stack.authorize_url == "http://127.0.0.1:8081/"


def test_real_google_secret_manager_names_are_kept_as_they_are(tmp_path: Path) -> None:
    name = "projects/p/secrets/oauth-client/versions/1"
    real = RealGoogle(client_secrets=name, redirect_uri="http://localhost:8082/")
    env = LocalStack(state_dir=tmp_path, real_google=real).function_envs["oauth2callback"]
    assert env["OAUTH_CLIENT_SECRETS"] == name


def test_real_google_needs_both_variables() -> None:
    assert real_google_from_env({}) is None
    assert real_google_from_env(
        {"OAUTH_CLIENT_SECRETS": "c.json", "OAUTH_REDIRECT_URI": "http://localhost:8082/"}
    ) == RealGoogle("c.json", "http://localhost:8082/")
    with pytest.raises(DevStackError, match=r"^OAUTH_REDIRECT_URI is not set"):
        real_google_from_env({"OAUTH_CLIENT_SECRETS": "c.json"})


def test_env_file_can_be_sourced(tmp_path: Path) -> None:
    env = {"PUBSUB_EMULATOR_HOST": "127.0.0.1:8085", "ODD": "it's got spaces"}
    path = write_env_file(tmp_path / "env", env)
    shown = subprocess.run(
        ["sh", "-c", f". {path}; echo $PUBSUB_EMULATOR_HOST; echo $ODD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert shown.splitlines() == ["127.0.0.1:8085", "it's got spaces"]
    assert env_prefix(env) == "PUBSUB_EMULATOR_HOST=127.0.0.1:8085 ODD='it'\"'\"'s got spaces'"


def test_banner_says_where_to_go_and_what_to_run(tmp_path: Path) -> None:
    stack = LocalStack(state_dir=tmp_path)
    banner = render_banner(stack, tmp_path / "env", "/venv/bin/python")
    assert "Open        http://localhost:8081/" in banner
    assert "sandbox" in banner
    assert (
        "PUBSUB_EMULATOR_HOST=127.0.0.1:8085 GOOGLE_CLOUD_PROJECT=demo-gmail-auth "
        "/venv/bin/python -m functions.cli read-mailbox USER_ID"
    ) in banner.replace("FIRESTORE_EMULATOR_HOST=127.0.0.1:8086 ", "")
    assert f"source {tmp_path / 'env'}" in banner


def test_token_keys_are_generated_once_and_private(tmp_path: Path) -> None:
    path = ensure_token_keys(tmp_path / "keys.json")
    document = json.loads(path.read_text())
    assert len(base64.b64decode(document["keys"][document["primary"]])) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_text()
    ensure_token_keys(path)
    assert path.read_text() == before
