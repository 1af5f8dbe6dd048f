"""`python -m sandbox`: client JSON on disk, one line on stdout, path-only logs, clean exit."""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]


def _first_line(process: subprocess.Popen[str], timeout: float = 15.0) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        assert selector.select(timeout), "the sandbox printed nothing"
    return process.stdout.readline()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_writes_a_private_client_json_and_stops_cleanly(tmp_path, stop):
    client_json = tmp_path / "client_secret.json"
    client_json.write_text("stale")
    client_json.chmod(0o644)
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port=0",
         "--redirect-uri=http://localhost:8082/", "--redirect-uri=http://localhost:8082/cb",
         f"--write-client-json={client_json}", "--client-id=cli-client",
         "--client-secret=cli-secret-value", "--project=demo-gmail-auth",
         "--gmail-push-topic=projects/demo-gmail-auth/topics/gmail-push"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        line = _first_line(process)
        match = re.fullmatch(r"Google sandbox listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        base_url = match[1]

        assert stat.S_IMODE(client_json.stat().st_mode) == 0o600
        web = json.loads(client_json.read_text())["web"]
        assert web["client_id"] == "cli-client"
        assert web["project_id"] == "demo-gmail-auth"
        assert web["token_uri"] == base_url + "/token"
        assert web["redirect_uris"] == ["http://localhost:8082/", "http://localhost:8082/cb"]
        assert requests.get(base_url + "/_sandbox/health", timeout=5).text == "ok"
        revoked = requests.post(base_url + "/revoke?token=sbx-rt-very-secret", timeout=5)
        assert revoked.status_code == 400
        token = requests.post(
            base_url + "/token",
            data={"grant_type": "refresh_token", "refresh_token": "sbx-rt-very-secret"},
            auth=("cli-client", "cli-secret-value"),
            timeout=5,
        )
        assert token.json()["error"] == "invalid_grant"  # authenticated, token unknown

        process.send_signal(stop)
        _, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 0
    assert "/revoke" in stderr
    assert "very-secret" not in stderr
    assert "cli-secret-value" not in stderr


def test_cli_requires_a_redirect_uri():
    result = subprocess.run(
        [sys.executable, "-m", "sandbox", "--port=0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 2
    assert "--redirect-uri" in result.stderr


def test_cli_says_so_when_the_port_is_taken():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "sandbox", f"--port={port}", "--redirect-uri=http://x.test/"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
