"""The one place that decides what a failure talking to Google means: :func:`mapped`.

Every call to Google (Gmail, the token endpoint, Firestore, Pub/Sub) runs inside ``with
mapped():``, which turns the client libraries' exceptions into ours, as httpx's
``map_exceptions`` does for transports; nothing else classifies them.

- Transient (429, 5xx, timeouts, an unreachable endpoint, Firestore or Pub/Sub unavailable):
  :class:`TransientError`, so the call is retried and then Pub/Sub redelivers.
- Gmail refused the access token (401, in or out of a batch): :class:`AccessTokenRefused`, for
  the Gmail session to mint a new one from the refresh token, once. A 401 says nothing about the
  refresh token (Gmail's "Resolve errors": refresh the access token).
- The grant is gone (``invalid_grant`` from the token endpoint) or too narrow (403 insufficient
  scope): :class:`ReauthRequired`.
- Rate limits (429, and 403 ``userRateLimitExceeded``/``rateLimitExceeded``) are transient, never
  a permission error.
- Gmail refusing the request itself (400, 404): :class:`GmailRequestRejected`, carrying Gmail's
  own ``error.message`` (such as "Invalid query") as its ``reason``.
- Anything else is not ours to guess and is re-raised as is.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from functions.errors import (
    AccessTokenRefused,
    AppError,
    GmailRequestRejected,
    ReauthRequired,
    TransientError,
)

MAX_REASON_LENGTH = 500
"""The longest part of Google's error message passed on (to a results message, say)."""
_SCOPE_REASONS = frozenset({"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"})
_RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED"})


@contextlib.contextmanager
def mapped() -> Iterator[None]:
    """Run the block with Google's exceptions raised as ours; anything else passes unchanged.

    The mapped error is raised ``from None`` (no library traceback in the logs); the exception it
    was mapped from stays reachable through :func:`origin`, for reading Google's stated retry time.
    """
    try:
        yield
    except Exception as error:
        ours = classify(error)
        if ours is None or ours is error:
            raise
        raise ours from None


def origin(error: BaseException) -> BaseException:
    """The Google exception :func:`mapped` turned into ``error`` (``error`` itself otherwise)."""
    return error.__context__ if error.__context__ is not None else error


def classify(error: Exception) -> AppError | None:
    """Map a client-library exception to our hierarchy; ``None`` when it is not Google's."""
    from google.api_core import exceptions as api_errors
    from google.auth import exceptions as auth_errors
    from googleapiclient.errors import HttpError

    if isinstance(error, AppError):
        return error
    if isinstance(error, auth_errors.RefreshError):
        if not error.retryable and "invalid_grant" in str(error):
            return ReauthRequired("the refresh token was refused", reason="invalid_grant")
        return TransientError(f"refreshing the access token failed: {_first_line(error)}")
    if isinstance(error, auth_errors.TransportError):
        return TransientError("the token endpoint could not be reached")
    if isinstance(error, HttpError):
        return _classify_http(error)
    # Firestore, Pub/Sub and Secret Manager (google-api-core): 5xx, deadlines, contention, quota.
    if isinstance(
        error,
        api_errors.RetryError
        | api_errors.ServerError
        | api_errors.Aborted
        | api_errors.TooManyRequests,
    ):
        return TransientError(f"a Google Cloud service is unavailable: {type(error).__name__}")
    if isinstance(error, OSError):  # timeouts and refused connections included
        return TransientError(f"Google could not be reached: {type(error).__name__}")
    try:
        import httplib2
    except ImportError:  # pragma: no cover - httplib2 ships with the API client
        return None
    if isinstance(error, httplib2.HttpLib2Error):
        return TransientError(f"Google could not be reached: {type(error).__name__}")
    return None


def _classify_http(error: object) -> AppError:
    status = int(getattr(getattr(error, "resp", None), "status", 0) or 0)
    reasons = _reasons(getattr(error, "content", b""))
    if status == 401:
        return AccessTokenRefused("Gmail refused the access token (401)")
    if status == 403 and reasons & _SCOPE_REASONS:
        return ReauthRequired("the grant lacks a Gmail scope (403)", reason="missing_scope")
    if status == 429 or status >= 500 or (status == 403 and reasons & _RATE_REASONS):
        return TransientError(f"Gmail answered {status}")
    return GmailRequestRejected(
        f"Gmail refused the request ({status})", http_status=status, reason=_message(error)
    )


def error_body(content: object) -> dict[str, Any]:
    """The ``error`` object of a Google JSON error body (https://google.aip.dev/193), or ``{}``."""
    try:
        body = json.loads(content if isinstance(content, bytes | str) else b"")
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _message(error: object) -> str | None:
    """Google's own sentence for the failure (``error.message``), bounded, or ``None``."""
    message = error_body(getattr(error, "content", b"")).get("message")
    if not isinstance(message, str) or not message.strip():
        return None
    return message.strip()[:MAX_REASON_LENGTH]


def _reasons(content: object) -> set[str]:
    """The ``reason``/``status`` strings of a Google JSON error body."""
    error = error_body(content)
    if not error:
        return set()
    found = {str(error.get("status", ""))}
    for item in error.get("errors") or []:
        if isinstance(item, dict):
            found.add(str(item.get("reason", "")))
    for detail in error.get("details") or []:
        if isinstance(detail, dict):
            found.add(str(detail.get("reason", "")))
    return found - {""}


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0][:200] if str(error) else type(error).__name__
