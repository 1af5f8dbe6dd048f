"""One look at every part of a running stack: does it answer where it should?"""

from __future__ import annotations

import requests

from devstack.errors import StartupError
from devstack.google_sandbox import HEALTH_PATH
from devstack.stack import LocalStack


def health_urls(stack: LocalStack) -> dict[str, str]:
    """Each part's name and the URL that shows it is up."""
    urls = {
        "Firestore emulator": f"http://{stack.firestore_host}/",
        "Pub/Sub emulator": f"http://{stack.pubsub_host}/",
    }
    if stack.sandbox_url is not None:
        urls["Google sandbox"] = stack.sandbox_url + HEALTH_PATH
    for target, url in stack.function_urls.items():
        urls[f"{target} function"] = url
    return urls


def check_stack(stack: LocalStack) -> dict[str, int]:
    """GET every health URL once; emulators and sandbox must say 200, functions anything below 500.

    A function's 4xx (e.g. a GET on the CloudEvent endpoint) still proves it serves; a 5xx means
    it is up but broken, typically misconfigured.

    Returns:
        Each part's HTTP status.

    Raises:
        StartupError: listing every part that failed.
    """
    statuses: dict[str, int] = {}
    failures: list[str] = []
    with requests.Session() as session:
        session.trust_env = False
        for name, url in health_urls(stack).items():
            try:
                status = session.get(url, timeout=10, allow_redirects=False).status_code
            except requests.RequestException as exc:
                failures.append(f"{name} at {url}: {type(exc).__name__}")
                continue
            statuses[name] = status
            healthy = status < 500 if name.endswith(" function") else status == 200
            if not healthy:
                failures.append(f"{name} at {url}: HTTP {status}")
    if failures:
        raise StartupError("Some parts of the stack do not answer: " + "; ".join(failures) + ".")
    return statuses
