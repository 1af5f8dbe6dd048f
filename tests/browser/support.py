"""What the browser tests share: where Chromium and the screenshots are, the stack's names."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import requests
from playwright.sync_api import Page

from devstack.stack import LocalStack, Topology

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium keeps calling Google's services, which this network refuses.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOPOLOGY = Topology(
    requests_topic="browser-requests",
    results_topic="browser-results",
    reauth_topic="browser-reauth",
    gmail_push_topic="browser-gmail-push",
    requests_push_subscription="browser-requests-push",
    results_pull_subscription="browser-results-cli",
    reauth_pull_subscription="browser-reauth-cli",
    gmail_push_subscription="browser-gmail-push-push",
    dead_letter_topic="browser-dead-letter",
    dead_letter_pull_subscription="browser-dead-letter-hold",
)

SITE = {
    "SERVICE_NAME": "Acme Mail Reports",
    "SUPPORT_URL": "https://acme.example/help",
    "PRIVACY_POLICY_URL": "https://acme.example/privacy",
}
"""What the browser stack's pages show of the service (the README's Configuration)."""

Screenshot = Callable[[Page, str], Path]
"""``screenshot(page, name)``: the whole page saved as ``SCREENSHOTS/<name>.png``."""


def screenshot_path(name: str) -> Path:
    """Where the screenshot called ``name`` goes (any character a file name dislikes → ``-``)."""
    return SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"


def sandbox_behaves(stack: LocalStack, **knobs: object) -> None:
    """Turn the sandbox's knobs through its admin hook (it runs in its own process)."""
    response = requests.post(f"{stack.sandbox_url}/_sandbox/behaviour", json=knobs, timeout=10)
    response.raise_for_status()
