"""What ``authorize`` loads to answer: the cold start a person waits for (goal: 1.3x hello).

Not a timing: `make bench` measures the time. This holds what the time depends on. A fresh
interpreter serves one consent redirect through functions-framework, as a new instance would,
and must not have loaded a Google client library, the HTTP stack or the pages' translations.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from devstack.token_keys import key_files

REPO = Path(__file__).resolve().parents[2]

# Each costs from ~5 ms (Babel) to ~200 ms (Firestore) of cold start, and authorize needs none.
NOT_FOR_AUTHORIZE = (
    "google.cloud.firestore",
    "google.cloud.pubsub_v1",
    "google.cloud.secretmanager",
    "googleapiclient",
    "google_auth_oauthlib",
    "requests",
    "grpc",
    "babel",
    "functions.web.pages",
)

_SERVE_ONCE = """
import json, sys
import functions_framework

client = functions_framework.create_app("authorize", "main.py").test_client()
response = client.get("/?login_hint=ada@example.com")
print(json.dumps({"status": response.status_code, "modules": sorted(sys.modules)}))
"""


def test_authorize_redirects_without_loading_what_it_does_not_need(tmp_path: Path) -> None:
    # GIVEN a new instance with its secrets in files, as deployments mount them
    client_json = tmp_path / "client.json"
    client_json.write_text(
        json.dumps(
            {
                "web": {
                    "client_id": "c.apps.googleusercontent.com",
                    "client_secret": "s",
                    "auth_uri": "https://accounts.example/o/oauth2/auth",
                    "token_uri": "https://oauth2.example/token",
                }
            }
        )
    )
    env = {
        **os.environ,
        "GOOGLE_CLOUD_PROJECT": "p-1",
        "OAUTH_CLIENT_SECRETS": str(client_json),
        "OAUTH_REDIRECT_URI": "https://fn.example/oauth2callback",
        **key_files(tmp_path),
    }
    # WHEN it serves its first consent redirect
    completed = subprocess.run(
        [sys.executable, "-c", _SERVE_ONCE],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    served = json.loads(completed.stdout.strip().splitlines()[-1])
    # THEN it redirected, having loaded none of them
    assert served["status"] == 302
    loaded = [
        name
        for name in served["modules"]
        if any(name == heavy or name.startswith(heavy + ".") for heavy in NOT_FOR_AUTHORIZE)
    ]
    assert loaded == []
