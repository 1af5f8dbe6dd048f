"""Gmail push notifications, published to a Pub/Sub emulator the way Gmail publishes them.

https://developers.google.com/workspace/gmail/api/guides/push: one message per change batch whose
data is the JSON `{"emailAddress": ..., "historyId": ...}`. The sandbox uses the emulator's REST
API (`POST /v1/projects/P/topics/T:publish`, data base64-encoded), so it needs no Pub/Sub client.
A failed publish is logged and reported, never raised: Gmail's notifications are best effort too.
"""

from __future__ import annotations

import base64
import json
import logging

import requests

_log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 5.0


def notification(email: str, history_id: int) -> bytes:
    """The data of one Gmail notification; historyId is a JSON number, as Gmail sends it."""
    return json.dumps({"emailAddress": email, "historyId": history_id}).encode()


def publish(host: str, topic_name: str, data: bytes, timeout: float = TIMEOUT_SECONDS) -> bool:
    """Publish `data` to `topic_name` on the emulator at `host` (host:port).

    Returns:
        True when the emulator accepted the message, False (after logging why) otherwise.
    """
    url = f"http://{host}/v1/{topic_name}:publish"
    body = {"messages": [{"data": base64.b64encode(data).decode("ascii")}]}
    try:
        with requests.Session() as session:
            session.trust_env = False  # an emulator is local: never through a proxy
            response = session.post(url, json=body, timeout=timeout)
            response.raise_for_status()
    except requests.RequestException as exc:
        _log.warning(
            "Publishing a Gmail notification to %s at %s failed: %s", topic_name, host, exc
        )
        return False
    return True


def topic_exists(host: str, topic_name: str, timeout: float = TIMEOUT_SECONDS) -> bool | None:
    """Whether the emulator at `host` has `topic_name` (`GET /v1/{topic}`); None if unknown."""
    try:
        with requests.Session() as session:
            session.trust_env = False
            response = session.get(f"http://{host}/v1/{topic_name}", timeout=timeout)
    except requests.RequestException as exc:
        _log.warning("Looking up %s at %s failed: %s", topic_name, host, exc)
        return None
    if response.status_code in (200, 404):
        return response.status_code == 200
    _log.warning("Looking up %s at %s answered %s", topic_name, host, response.status_code)
    return None
