"""What the stack computes before starting anything: ports, URLs, the functions' environment."""

from __future__ import annotations

import base64
import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.__main__ import parse_ports
from devstack.banner import render_banner
from devstack.envfile import current_venv, env_prefix, write_env_file
from devstack.errors import DevStackError
from devstack.function_env import RealGoogle, real_google_from_env
from devstack.paths import REPO_ROOT
from devstack.stack import LocalStack, StackPorts
from devstack.token_keys import ensure_token_keys, key_files


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
        "PIPELINES": "default",
        "REQUESTS_TOPIC": "projects/demo-gmail-auth/topics/mailbox-requests",
        "RESULTS_TOPIC": "projects/demo-gmail-auth/topics/mailbox-results",
        "REAUTH_TOPIC": "projects/demo-gmail-auth/topics/reauth-events",
        "OAUTH_AUTH_URI": "http://127.0.0.1:8090/o/oauth2/v2/auth",
        "OIDC_USERINFO_URI": "http://127.0.0.1:8090/v1/userinfo",
        "OAUTH_REVOKE_URI": "http://127.0.0.1:8090/revoke",
        "GMAIL_API_ROOT": "http://127.0.0.1:8090/",
        "RISC_CONFIGURATION_URI": "http://127.0.0.1:8090/.well-known/risc-configuration",
        "OAUTHLIB_INSECURE_TRANSPORT": "1",
        "ACCOUNT_PERMISSIONS_URL": "http://127.0.0.1:8090/connections",
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
    assert "ACCOUNT_PERMISSIONS_URL" not in env  # Google's own page, the code's default
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
    venv = tmp_path / "venv"
    banner = render_banner(stack, tmp_path / "env", str(venv / "bin" / "python"), venv)
    assert "Open        http://localhost:8081/" in banner
    assert "sandbox" in banner
    # the commands as printed run after `source`: the env file puts the venv first on PATH
    assert f"  source {tmp_path / 'env'}\n" in banner
    assert "\n  python -m functions.cli read-mailbox USER_ID --query is:unread\n" in banner
    assert f"puts {venv / 'bin'} first on PATH" in banner


def test_banner_lists_every_url_and_calls_the_id_user_id(tmp_path: Path) -> None:
    # GIVEN a stack on the fixed ports that keeps its data
    stack = LocalStack(state_dir=tmp_path, data_dir=tmp_path / "data")

    # WHEN its banner is rendered
    banner = render_banner(stack, tmp_path / "env", sys.executable, current_venv())

    # THEN it lists every function, the sandbox's consent page and admin, both emulators, the
    # logs and whether the data was kept
    rows = banner.splitlines()
    for target, url in stack.function_urls.items():
        assert any(target in row and row.endswith(url) for row in rows), (target, banner)
    assert "http://127.0.0.1:8090/o/oauth2/v2/auth" in banner
    assert "http://127.0.0.1:8090/_sandbox/behaviour" in banner
    assert "http://127.0.0.1:8090/_sandbox/calls" in banner
    assert "Firestore 127.0.0.1:8086, Pub/Sub 127.0.0.1:8085" in banner
    assert f"Logs        {tmp_path / 'logs'}/" in banner
    assert f"Data        new (nothing kept yet); Firestore is saved to {tmp_path / 'data'}/" in (
        banner
    )
    # AND the ID has one name: "user ID" in prose, USER_ID in commands
    assert "your user ID" in banner
    assert "USER_ID" in banner
    for other in ("Account ID", "ACCOUNT_ID", "account ID", " sub"):
        assert other not in banner


def test_banner_of_a_stack_that_keeps_nothing_says_so(tmp_path: Path) -> None:
    banner = render_banner(LocalStack(state_dir=tmp_path), tmp_path / "env", sys.executable)
    assert "Data        in memory only: nothing is kept after Ctrl-C" in banner


def test_env_file_puts_the_venv_first_so_plain_python_has_the_packages(tmp_path: Path) -> None:
    # GIVEN a PATH without the venv, where plain `python` lacks the project's packages
    venv = current_venv()
    assert venv is not None, "run the tests in the venv (make test)"
    bare = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    probe = "python -c 'import google.cloud.firestore, sys; print(sys.prefix)'"
    assert subprocess.run(["sh", "-c", probe], env=bare, capture_output=True).returncode != 0

    # WHEN the env file `make dev` writes is sourced in sh
    path = write_env_file(tmp_path / "env", {"GOOGLE_CLOUD_PROJECT": "demo-x"}, venv)
    shown = subprocess.run(
        ["sh", "-c", f". {path} && {probe} && echo $VIRTUAL_ENV"],
        env=bare,
        capture_output=True,
        text=True,
        check=False,
    )

    # THEN plain `python` is the venv's, with the packages
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == [str(venv), str(venv.resolve())]


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("", (False, {})),
        ("free", (True, {})),
        ("free sandbox=9090", (True, {"sandbox": 9090})),
        ("sandbox=9090,list-messages=9091", (False, {"sandbox": 9090, "list_messages": 9091})),
    ],
)
def test_dev_ports_takes_free_and_named_ports(
    spec: str, parsed: tuple[bool, dict[str, int]]
) -> None:
    assert parse_ports(spec) == parsed


@pytest.mark.parametrize("spec", ["any", "sandbox=", "nope=1", "sandbox=70000"])
def test_dev_ports_refuses_anything_else_in_one_sentence(spec: str) -> None:
    with pytest.raises(DevStackError, match=r"^DEV_PORTS: .* is neither `free` nor NAME=PORT"):
        parse_ports(spec)


def test_make_dev_passes_the_port_and_data_options_on() -> None:
    dry_run = subprocess.run(
        ["make", "-n", "dev", "dev-reset", "DEV_PORTS=free sandbox=9090", "DEV_DATA=memory"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert '.venv/bin/python -m devstack --ports "free sandbox=9090" --data "memory"' in dry_run
    assert ".venv/bin/python -m devstack --reset" in dry_run


def test_token_keys_are_generated_once_and_private(tmp_path: Path) -> None:
    path = ensure_token_keys(tmp_path / "keys.json")
    document = json.loads(path.read_text())
    assert len(base64.b64decode(document["private_keys"][document["primary"]])) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_text()
    ensure_token_keys(path)
    assert path.read_text() == before


def test_local_keys_of_before_hpke_are_kept_as_legacy_keys(tmp_path: Path) -> None:
    # GIVEN a .dev folder kept from before tokens were sealed to a public key
    old = {"primary": "dev-1", "keys": {"dev-1": base64.b64encode(bytes(32)).decode()}}
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(old))
    # WHEN the stack starts THEN it gains a token key and keeps the old one for `reseal`
    document = json.loads(ensure_token_keys(path).read_text())
    assert document["legacy_keys"] == old["keys"]
    assert document["primary"] in document["private_keys"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_every_key_file_a_function_mounts_is_laid_out(tmp_path: Path) -> None:
    files = key_files(tmp_path)
    assert set(files) == {"TOKEN_ENCRYPTION_KEYS", "TOKEN_PUBLIC_KEYS", "COOKIE_KEYS"}
    public = json.loads(Path(files["TOKEN_PUBLIC_KEYS"]).read_text())
    private = json.loads(Path(files["TOKEN_ENCRYPTION_KEYS"]).read_text())
    assert set(public["public_keys"]) == set(private["private_keys"])
    assert not set(public["public_keys"].values()) & set(private["private_keys"].values())
