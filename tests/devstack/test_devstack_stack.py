"""LocalStack and ``python -m devstack`` end to end, over stand-ins for the product.

The stand-ins (a ``main.py`` and a ``sandbox`` package written to a temporary directory) keep
these tests about the stack's machinery: processes, ports, Pub/Sub push, clean stops.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from dataclasses import fields
from pathlib import Path

import pytest
import requests
from google.cloud import firestore
from google.pubsub_v1 import PubsubMessage

from devstack.banner import render_banner
from devstack.emulators import EmulatorHosts
from devstack.errors import StartupError
from devstack.function_env import RealGoogle
from devstack.health import check_stack
from devstack.paths import REPO_ROOT
from devstack.pubsub_setup import publisher_client
from devstack.stack import LocalStack, StackPorts, Topology

pytestmark = pytest.mark.integration

STUB_MAIN = """
import json
import os
import pathlib

import functions_framework

SEEN = (
    "OAUTH_CLIENT_SECRETS", "OAUTH_REDIRECT_URI", "GMAIL_API_ROOT", "FIRESTORE_EMULATOR_HOST",
    "PUBSUB_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT", "RESULTS_TOPIC", "OAUTHLIB_INSECURE_TRANSPORT",
    "K_SERVICE", "FUNCTION_TARGET", "LOG_EXECUTION_ID", "OAUTH_CLIENT_ID",
)


@functions_framework.http
def authorize(request):
    return json.dumps({name: os.environ.get(name) for name in SEEN}), 200


@functions_framework.http
def oauth2callback(request):
    return json.dumps({name: os.environ.get(name) for name in SEEN}), 200


@functions_framework.http
def disconnect(request):
    return "disconnect stub", 200


@functions_framework.http
def watch(request):
    return "watch stub", 200


@functions_framework.http
def renew_watches(request):
    return "renew stub", 200


@functions_framework.cloud_event
def gmail_push(event):
    return None


@functions_framework.http
def security_events(request):
    return "", 202


@functions_framework.cloud_event
def list_messages(event):
    record = {"type": event["type"], "source": event["source"], "data": event.data}
    with open(pathlib.Path(__file__).with_name("events.jsonl"), "a") as events:
        events.write(json.dumps(record) + "\\n")
"""

STUB_SANDBOX = """
import argparse
import http.server
import json

parser = argparse.ArgumentParser()
parser.add_argument("--host")
parser.add_argument("--port", type=int)
parser.add_argument("--redirect-uri")
parser.add_argument("--write-client-json")
parser.add_argument("--pubsub-emulator-host")
parser.add_argument("--project")
parser.add_argument("--gmail-push-topic", action="append")
parser.add_argument("--client-id", default="stub")
args = parser.parse_args()
base = f"http://{args.host}:{args.port}"
web = {"client_id": args.client_id, "client_secret": "stub", "redirect_uris": [args.redirect_uri],
       "auth_uri": base + "/o/oauth2/v2/auth", "token_uri": base + "/token"}
with open(args.write_client_json, "w") as out:
    json.dump({"web": web}, out)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/_sandbox/health" else 404)
        self.end_headers()
        self.wfile.write(b"ok")


http.server.ThreadingHTTPServer((args.host, args.port), Handler).serve_forever()
"""

BROKEN_SANDBOX = "import sys\nsys.exit('sandbox broke on purpose')\n"


def write_stub_repo(root: Path, sandbox_main: str = STUB_SANDBOX) -> Path:
    """A checkout of stand-ins; events pushed to list_messages land in ``events.jsonl``."""
    (root / "sandbox").mkdir(parents=True)
    (root / "main.py").write_text(textwrap.dedent(STUB_MAIN))
    (root / "sandbox" / "__init__.py").write_text("")
    (root / "sandbox" / "__main__.py").write_text(textwrap.dedent(sandbox_main))
    return root


def processes_matching(pattern: str) -> list[str]:
    """Command lines of live processes matching the regex ``pattern`` (``pgrep -f``)."""
    found = subprocess.run(["pgrep", "-af", "--", pattern], capture_output=True, text=True)
    return [line for line in found.stdout.splitlines() if "pgrep" not in line]


def processes_working_in(directory: Path) -> list[str]:
    """PIDs of live processes whose working directory is ``directory`` (the stack's children)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and Path(os.readlink(entry / "cwd")) == directory:
                found.append(entry.name)
        except OSError:
            continue
    return found


def port_pattern(ports: StackPorts) -> str:
    """Matches any child the stack starts (all are given ``--port=N``)."""
    numbers = "|".join(str(getattr(ports, field.name)) for field in fields(ports))
    return f"--port=({numbers})( |$)"


def unique_topology() -> Topology:
    """Names no other test on the shared emulator uses."""
    tag = uuid.uuid4().hex[:8]
    return Topology(
        requests_topic=f"req-{tag}",
        results_topic=f"res-{tag}",
        reauth_topic=f"reauth-{tag}",
        gmail_push_topic=f"push-{tag}",
        requests_push_subscription=f"req-{tag}-push",
        results_pull_subscription=f"res-{tag}-cli",
        reauth_pull_subscription=f"reauth-{tag}-cli",
        gmail_push_subscription=f"push-{tag}-push",
        dead_letter_topic=f"dead-{tag}",
        dead_letter_pull_subscription=f"dead-{tag}-hold",
    )


def devstack(*args: str) -> list[str]:
    """The command line of ``python -m devstack`` (what ``make dev`` runs)."""
    return [sys.executable, "-m", "devstack", *args]


def test_stack_serves_the_functions_and_pushes_requests_to_list_messages(
    emulators: EmulatorHosts, tmp_path: Path
) -> None:
    # GIVEN the stack over the session's emulators
    repo = write_stub_repo(tmp_path / "repo")
    stack = LocalStack(
        ports=StackPorts.any_free(),
        state_dir=tmp_path / "state",
        repo_root=repo,
        emulators=emulators,
        topology=unique_topology(),
    )
    with stack:
        # THEN every part answers, and each function sees the computed configuration
        statuses = check_stack(stack)
        assert set(statuses) >= {"Google sandbox", "authorize function", "list_messages function"}
        seen = requests.get(stack.function_urls["authorize"], timeout=10).json()
        assert seen == {name: stack.function_envs["authorize"].get(name) for name in seen}
        assert seen["RESULTS_TOPIC"] is None  # authorize publishes nowhere, as deployed
        assert seen["K_SERVICE"] == "authorize"
        # authorize has the client's ID, no client secret; the callback has the sandbox's JSON
        assert seen["OAUTH_CLIENT_SECRETS"] is None
        callback = requests.get(stack.function_urls["oauth2callback"], timeout=10).json()
        client = json.loads(Path(callback["OAUTH_CLIENT_SECRETS"]).read_text())["web"]
        assert client["redirect_uris"]
        assert client["client_id"] == seen["OAUTH_CLIENT_ID"] == callback["OAUTH_CLIENT_ID"]
        assert seen["GMAIL_API_ROOT"] == f"{stack.sandbox_url}/"

        # WHEN a mailbox request is published
        with publisher_client(stack.pubsub_host) as publisher:
            publisher.publish(
                topic=publisher.topic_path(stack.project, stack.topology.requests_topic),
                messages=[PubsubMessage(data=b'{"user_id": "42"}')],
            )

        # THEN list_messages receives it as a Pub/Sub CloudEvent
        events = repo / "events.jsonl"
        deadline = time.monotonic() + 20
        while not events.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        [event] = [json.loads(line) for line in events.read_text().splitlines()]
        assert event["type"] == "google.cloud.pubsub.topic.v1.messagePublished"
        # AND its source names the topic it came through, as a deployed subscription's does
        assert event["source"] == (
            f"//pubsub.googleapis.com/projects/{stack.project}/topics/"
            f"{stack.topology.requests_topic}"
        )
        assert base64.b64decode(event["data"]["message"]["data"]) == b'{"user_id": "42"}'
        assert len(processes_working_in(repo)) >= 4  # sandbox, functions, gunicorn workers

    # AND after the stack stops nothing of it is left (the shared emulators keep running)
    assert processes_working_in(repo) == []
    assert (stack.log_dir / "list_messages.log").exists()


def test_real_google_mode_starts_no_sandbox(emulators: EmulatorHosts, tmp_path: Path) -> None:
    client = tmp_path / "client_secret.json"
    client.write_text('{"web": {}}')
    ports = StackPorts.any_free().resolved()
    real = RealGoogle(str(client), f"http://localhost:{ports.oauth2callback}/")
    with LocalStack(
        ports=ports,
        state_dir=tmp_path / "state",
        repo_root=write_stub_repo(tmp_path / "repo"),
        emulators=emulators,
        topology=unique_topology(),
        real_google=real,
    ) as stack:
        assert "Google sandbox" not in check_stack(stack)
        seen = requests.get(stack.function_urls["oauth2callback"], timeout=10).json()
        assert seen["OAUTH_CLIENT_SECRETS"] == str(stack.client_json_path)
        assert stack.client_json_path.read_text() == client.read_text()
        assert seen["GMAIL_API_ROOT"] is None
        assert [p.name for p in stack.processes if "sandbox" in p.name] == []


def test_a_start_that_fails_halfway_stops_everything_it_started(tmp_path: Path) -> None:
    # GIVEN a stack that owns its emulators, and a sandbox that dies at once
    stack = LocalStack(
        ports=StackPorts.any_free(),
        state_dir=tmp_path / "state",
        repo_root=write_stub_repo(tmp_path / "repo", BROKEN_SANDBOX),
    )

    # WHEN it starts
    with pytest.raises(StartupError) as raised:
        stack.start()

    # THEN the error names the part and shows its log, and no emulator (Java) is left running
    assert "The Google sandbox exited with status 1" in str(raised.value)
    assert "sandbox broke on purpose" in str(raised.value)
    assert processes_matching(port_pattern(stack.ports)) == []


def test_make_dev_check_comes_up_prints_the_banner_and_stops(tmp_path: Path) -> None:
    repo = write_stub_repo(tmp_path / "repo")
    state = tmp_path / "state"
    completed = subprocess.run(
        devstack("--check", "--free-ports", "--state-dir", str(state), "--repo-root", str(repo)),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "Open        http://localhost:" in completed.stdout
    assert "-m functions.cli read-mailbox USER_ID" in completed.stdout
    assert "Check passed" in completed.stderr
    env = (state / "env").read_text()
    assert "export PUBSUB_EMULATOR_HOST=127.0.0.1:" in env
    assert processes_working_in(repo) == []
    assert processes_matching(_emulator_pattern(env)) == []


def test_make_dev_with_free_ports_shows_the_ports_it_took(tmp_path: Path) -> None:
    # WHEN make dev DEV_PORTS=free runs (its --check form)
    repo = write_stub_repo(tmp_path / "repo")
    state = tmp_path / "state"
    completed = subprocess.run(
        devstack("--check", "--ports", "free", "--state-dir", str(state), "--repo-root", str(repo)),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    # THEN it comes up on ports other than the fixed ones, and the banner lists those
    assert completed.returncode == 0, completed.stderr[-3000:]
    banner = completed.stdout
    fixed = StackPorts()
    taken = {
        line.split("=", 1)[0].removeprefix("export "): line.rsplit(":", 1)[1]
        for line in (state / "env").read_text().splitlines()
        if "_EMULATOR_HOST=" in line
    }
    assert taken["FIRESTORE_EMULATOR_HOST"] != str(fixed.firestore)
    assert f"Firestore 127.0.0.1:{taken['FIRESTORE_EMULATOR_HOST']}" in banner
    assert f"Pub/Sub 127.0.0.1:{taken['PUBSUB_EMULATOR_HOST']}" in banner
    function_rows = [row for row in banner.splitlines() if "http://127.0.0.1:" in row]
    assert len(function_rows) >= 7 + 3  # seven functions, the sandbox's consent page and admin
    assert not any(f":{fixed.authorize}/" in row for row in function_rows)
    assert "Data        new (nothing kept yet)" in banner


def test_the_banner_commands_work_as_printed_once_the_env_file_is_sourced(
    tmp_path: Path,
) -> None:
    # GIVEN make dev up, and a shell whose PATH has no venv
    repo = write_stub_repo(tmp_path / "repo")
    state = tmp_path / "state"
    process = subprocess.Popen(
        devstack("--free-ports", "--state-dir", str(state), "--repo-root", str(repo)),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner: list[str] = []
        for line in process.stdout:
            banner.append(line.rstrip("\n"))
            if "Ctrl-C stops everything" in line:
                break
        commands = banner[
            banner.index("Next, after consenting (the success page shows your user ID):") + 1 :
        ]
        source, *cli = [
            line.strip() for line in commands if line.startswith("  ") and " " in line.strip()
        ]
        assert source.startswith("source ")
        [list_users] = [line for line in cli if line.endswith("list-users")]

        # WHEN the user types the banner's lines exactly as printed
        shell = subprocess.run(
            ["bash", "-c", f"{source}\n{list_users}"],
            cwd=REPO_ROOT,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

        # THEN they run against the stack
        assert shell.returncode == 0, shell.stderr[-3000:]
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
    assert process.returncode == 0


def test_make_dev_keeps_firestore_data_across_restarts_until_dev_reset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the stack with its own emulators, keeping data under the state directory
    repo = write_stub_repo(tmp_path / "repo")
    state = tmp_path / "state"

    def stack() -> LocalStack:
        return LocalStack(
            ports=StackPorts.any_free(),
            state_dir=state,
            repo_root=repo,
            data_dir=state / "data",
        )

    def users(running: LocalStack) -> firestore.CollectionReference:
        monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", running.firestore_host)
        return firestore.Client(project=running.project).collection("gmail_credentials")

    # WHEN a document is written, and the stack stopped and started again
    with stack() as first:
        assert not first.data_was_kept
        users(first).document("1234567890").set({"email": "a@example.com"})
    with stack() as second:
        # THEN it is still there, and the stack says the data was kept
        assert second.data_was_kept
        assert [doc.id for doc in users(second).stream()] == ["1234567890"]
        assert "Data        kept from the last run" in render_banner(second, state / "env", "py")

    # WHEN make dev-reset runs
    reset = subprocess.run(
        devstack("--reset", "--state-dir", str(state)),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    # THEN it says so, and the next start is empty
    assert reset.stdout.startswith("Deleted the kept emulator data (")
    with stack() as third:
        assert not third.data_was_kept
        assert list(users(third).stream()) == []


def _emulator_pattern(env_file_text: str) -> str:
    """Matches the emulators whose hosts an env file names."""
    ports = [
        line.rsplit(":", 1)[1] for line in env_file_text.splitlines() if "_EMULATOR_HOST" in line
    ]
    assert len(ports) == 2
    return f"--port=({'|'.join(ports)})( |$)"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_make_dev_stops_cleanly_on_ctrl_c_or_sigterm(
    tmp_path: Path, signum: signal.Signals
) -> None:
    # GIVEN make dev, up and waiting
    repo = write_stub_repo(tmp_path / "repo")
    state = tmp_path / "state"
    process = subprocess.Popen(
        devstack("--free-ports", "--state-dir", str(state), "--repo-root", str(repo)),
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:  # ends early if it fails: the asserts below then say why
        if "Ctrl-C stops everything" in line:
            break
    emulators = _emulator_pattern((state / "env").read_text())
    assert len(processes_matching(emulators)) >= 2
    assert processes_working_in(repo)

    # WHEN the user presses Ctrl-C (or a supervisor sends SIGTERM)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)

    # THEN it exits 0 and leaves nothing behind
    assert process.returncode == 0, stderr[-3000:]
    assert f"Stopping ({signum.name})" in stderr
    assert "Traceback" not in stderr
    assert processes_matching(emulators) == []
    assert processes_working_in(repo) == []


def test_make_dev_refuses_a_taken_port_in_one_sentence(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        completed = subprocess.run(
            devstack("--free-ports", "--pubsub-port", str(port), "--state-dir", str(tmp_path)),
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert completed.returncode == 1
    assert completed.stderr.strip() == (
        f"devstack: Port {port} (needed by the Pub/Sub emulator) is already in use: stop "
        "whatever holds it (an earlier `make dev`?) or choose another port."
    )


def test_make_dev_without_gcloud_says_so_in_one_sentence(tmp_path: Path) -> None:
    completed = subprocess.run(
        devstack("--free-ports", "--state-dir", str(tmp_path)),
        cwd=REPO_ROOT,
        env={**os.environ, "PATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 1
    assert completed.stderr.startswith("devstack: gcloud was not found on PATH")
    assert len(completed.stderr.strip().splitlines()) == 1
