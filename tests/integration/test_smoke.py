"""``make smoke`` against the local stack: the command an operator runs after a deploy.

The smoke command runs as a child process, as an operator would, against a :class:`LocalStack`
over the session's emulators, reading the env file ``make dev`` writes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.pubsub_v1 import PubsubMessage

from devstack.envfile import write_env_file
from devstack.pubsub_setup import publisher_client, subscriber_client
from devstack.stack import LocalStack, StackPorts, Topology

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TOPOLOGY = Topology(
    requests_topic="smoke-requests",
    results_topic="smoke-results",
    requests_push_subscription="smoke-requests-push",
    results_pull_subscription="smoke-results-cli",
    reauth_topic="smoke-reauth",
    reauth_pull_subscription="smoke-reauth-cli",
    gmail_push_topic="smoke-gmail-push",
    gmail_push_subscription="smoke-gmail-push-push",
    dead_letter_topic="smoke-dead-letter",
    dead_letter_pull_subscription="smoke-dead-letter-hold",
)


@pytest.fixture(scope="module")
def stack(emulator_env: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(
        ports=StackPorts.any_free(),
        state_dir=tmp_path_factory.mktemp("smoke-stack"),
        emulators=emulator_env,
        topology=TOPOLOGY,
    ) as running:
        write_env_file(running.state_dir / "env", running.cli_env)  # as `make dev` does
        yield running


def run_smoke(stack: LocalStack, *extra: str) -> subprocess.CompletedProcess[str]:
    """``python -m functions.cli smoke --local STATE_DIR``, with the stack's own topic names."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.endswith("_EMULATOR_HOST") and name != "GOOGLE_CLOUD_PROJECT"
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "functions.cli",
            "smoke",
            "--local",
            str(stack.state_dir),
            "--requests-topic",
            TOPOLOGY.requests_topic,
            "--dead-letter-subscription",
            TOPOLOGY.dead_letter_pull_subscription,
            *extra,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_smoke_passes_against_the_local_stack(stack):
    completed = run_smoke(stack)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = completed.stdout.splitlines()
    assert len(lines) == 5, completed.stdout
    authorize, callback, malformed, dead_letters, iam = lines
    assert authorize.startswith("OK      authorize redirects to consent: 302 to http://127.0.0.1:")
    assert "client_id matches" in authorize
    assert "flow cookie HttpOnly" in authorize
    assert callback.startswith("OK      callback answers a bare request: HTTP 4")
    assert callback.endswith("HTML page")
    assert malformed.startswith("OK      malformed request acknowledged: message ")
    assert "logged as acknowledged, not dead-lettered" in malformed
    assert dead_letters == (
        f"OK      dead-letter subscription empty: {TOPOLOGY.dead_letter_pull_subscription} "
        "holds nothing"
    )
    assert iam == "SKIPPED service accounts and invokers: skipped: no IAM in the local stack"
    # The message was acknowledged as the function's log says, under the ID the smoke printed.
    message_id = malformed.split("message ")[1].split()[0]
    logged = [
        json.loads(line[line.index("{") :])
        for line in (stack.log_dir / "list_messages.log").read_text().splitlines()
        if "malformed message acknowledged" in line
    ]
    assert any(str(entry.get("event_id")) == message_id for entry in logged)
    # No secret reaches the output.
    client = json.loads(stack.client_json_path.read_text())["web"]
    output = completed.stdout + completed.stderr
    assert client["client_secret"] not in output
    assert "code_challenge=" not in output
    assert "state=" not in output


def test_a_dead_letter_fails_the_smoke_naming_it_and_is_left_in_place(stack, emulator_env):
    # GIVEN a message held in the dead-letter subscription
    publisher = publisher_client(emulator_env.pubsub_host)
    [message_id] = publisher.publish(
        topic=publisher.topic_path(emulator_env.project, TOPOLOGY.dead_letter_topic),
        messages=[PubsubMessage(data=b'{"user_id": "gone"}')],
    ).message_ids
    subscriber = subscriber_client(emulator_env.pubsub_host)
    subscription = subscriber.subscription_path(
        emulator_env.project, TOPOLOGY.dead_letter_pull_subscription
    )
    try:
        # WHEN the smoke runs
        completed = run_smoke(stack)

        # THEN it fails, naming the message
        assert completed.returncode == 1, completed.stdout + completed.stderr
        [line] = [x for x in completed.stdout.splitlines() if "dead-letter subscription" in x]
        assert line == (
            f"FAILED  dead-letter subscription empty: 1 message(s) in "
            f"{TOPOLOGY.dead_letter_pull_subscription}: {message_id}"
        )
        assert "OK      malformed request acknowledged" in completed.stdout
    finally:
        # AND the check consumed nothing: the message is still there to be pulled (and cleared)
        response = subscriber.pull(
            request={"subscription": subscription, "max_messages": 10}, timeout=10
        )
        held = {m.message.message_id: m.ack_id for m in response.received_messages}
        if held:
            subscriber.acknowledge(
                request={"subscription": subscription, "ack_ids": list(held.values())}
            )
    assert message_id in held


def test_an_authorize_naming_another_callback_fails_the_smoke(stack):
    # GIVEN the callback URL the deployment should name differs from the one authorize names
    completed = run_smoke(stack, "--callback-url", "http://localhost:1/elsewhere")

    assert completed.returncode == 1, completed.stdout + completed.stderr
    [line] = [x for x in completed.stdout.splitlines() if "authorize" in x]
    assert line.startswith("FAILED  authorize redirects to consent: redirect_uri is ")
    assert "expected 'http://localhost:1/elsewhere'" in line
