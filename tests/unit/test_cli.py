"""The operator CLI fails fast and says what to do (issue 19): no hang, no traceback."""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from functions import cli

REPO = Path(__file__).resolve().parents[2]


def _closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"  # closed once the block ends


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "functions.cli", *args],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("args", [("list-users",), ("read-mailbox", "u1"), ("status",)])
def test_a_stopped_stack_is_named_at_once_with_how_to_start_it(args):
    # GIVEN the env file sourced, but the stack stopped (nothing listens on the emulator port)
    host = _closed_port()
    env = {"GOOGLE_CLOUD_PROJECT": "demo", "PUBSUB_EMULATOR_HOST": host}
    env["FIRESTORE_EMULATOR_HOST"] = host
    started = time.monotonic()
    completed = _run(env, *args)
    assert time.monotonic() - started < 20
    assert completed.returncode == 2
    assert "not running" in completed.stderr
    assert "make dev" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_the_env_file_not_sourced_is_one_sentence_naming_it():
    completed = _run({}, "list-users")
    assert completed.returncode == 2
    assert "source .dev/env" in completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1


def test_a_project_without_credentials_is_one_sentence_not_a_traceback(tmp_path):
    env = {"GOOGLE_CLOUD_PROJECT": "demo", "HOME": str(tmp_path), "NO_GCE_CHECK": "True"}
    env["GCE_METADATA_HOST"] = _closed_port()
    env["GCE_METADATA_IP"] = env["GCE_METADATA_HOST"]
    completed = _run(env, "dead-letters", "list")
    assert completed.returncode == 2, completed.stderr
    assert "Traceback" not in completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1
    assert "credentials" in completed.stderr


@pytest.mark.parametrize("value", ["0", "-5"])
def test_max_below_one_is_refused_before_anything_is_published(value, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["read-mailbox", "u1", "--max", value])
    assert exited.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err


def test_help_lays_out_examples_and_explains_every_argument(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    top = capsys.readouterr().out
    assert "``" not in top
    assert "\n  python -m functions.cli read-mailbox USER_ID" in top
    assert "\n  python -m functions.cli dead-letters replay" in top
    parser = cli._parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in commands.choices.items():
        assert "Example:\n  python -m functions.cli" in (sub.epilog or ""), name
        for action in sub._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help, f"{name} {action.dest} has no help"
            if action.dest == "user_id":
                assert action.metavar == "USER_ID"


def test_a_plain_http_risc_api_root_off_loopback_is_refused(tmp_path):
    # the operator's signed token would travel to it
    env = {"GOOGLE_CLOUD_PROJECT": "demo", "RISC_API_ROOT": "http://risc.example.com/"}
    completed = _run(env, "risc", "status", "--credentials", str(tmp_path / "key.json"))
    assert completed.returncode == 2, completed.stderr
    assert "RISC_API_ROOT must use https unless it points at localhost" in completed.stderr
