"""The sandbox's errors and the one place that turns them into HTTP responses.

OAuth endpoints answer with RFC 6749 §5.2 bodies; Google APIs (Gmail, Secret Manager) answer with
Google's JSON error format (https://cloud.google.com/apis/design/errors#http_mapping), which is
what googleapiclient and google-api-core parse into HttpError / GoogleAPICallError.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import flask

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_LIMITS = "usageLimits"


class SandboxError(Exception):
    """Base of every error the sandbox reports to a client."""

    def __init__(self, message: str, http_status: int, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.headers = headers or {}


class OAuthError(SandboxError):
    """An RFC 6749 §5.2 error from the token or revocation endpoint."""

    def __init__(
        self,
        error: str,
        description: str,
        http_status: int = 400,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(description, http_status, headers)
        self.error = error


class ApiError(SandboxError):
    """A Google API error: HTTP code, canonical status name and a legacy `reason`."""

    def __init__(
        self,
        http_status: int,
        status: str,
        message: str,
        reason: str,
        *,
        domain: str = "global",
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message, http_status, headers)
        self.status = status
        self.reason = reason
        self.domain = domain


def unauthenticated(message: str = "Request had invalid authentication credentials.") -> ApiError:
    """401 for a missing, expired or revoked bearer token."""
    return ApiError(
        401,
        "UNAUTHENTICATED",
        message,
        "authError",
        headers={"WWW-Authenticate": 'Bearer realm="sandbox", error="invalid_token"'},
    )


def permission_denied(message: str, reason: str = "forbidden") -> ApiError:
    """403: authenticated, but not allowed to do this."""
    headers = {}
    if reason == "insufficientPermissions":
        headers["WWW-Authenticate"] = 'Bearer realm="sandbox", error="insufficient_scope"'
    return ApiError(403, "PERMISSION_DENIED", message, reason, headers=headers)


def rate_limited(http_status: int, retry_at: float) -> ApiError:
    """The per-user quota is spent: 403 `userRateLimitExceeded` or 429 `rateLimitExceeded`.

    As https://developers.google.com/workspace/gmail/api/guides/handle-errors describes Gmail's
    rate-limit refusals: no `Retry-After` header; the time from which a retry may succeed is in
    the message, in UTC with milliseconds ("Retry after 2026-11-29T17:00:00.000Z").
    """
    millis = math.ceil(retry_at * 1000)
    when = datetime.fromtimestamp(millis / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    message = f"User-rate limit exceeded.  Retry after {when}.{millis % 1000:03d}Z"
    if http_status == 429:
        return ApiError(429, "RESOURCE_EXHAUSTED", message, "rateLimitExceeded", domain=_LIMITS)
    return ApiError(403, "PERMISSION_DENIED", message, "userRateLimitExceeded", domain=_LIMITS)


def too_many_concurrent_requests() -> ApiError:
    """429 for the per-user limit on concurrent requests (Resolve errors, "429 errors")."""
    message = "Too many concurrent requests for user"
    return ApiError(429, "RESOURCE_EXHAUSTED", message, "rateLimitExceeded", domain=_LIMITS)


def invalid_argument(message: str) -> ApiError:
    """400 for a malformed parameter."""
    return ApiError(400, "INVALID_ARGUMENT", message, "invalidArgument")


def not_found(message: str = "Requested entity was not found.") -> ApiError:
    """404 for an unknown message or a history id too old to sync from."""
    return ApiError(404, "NOT_FOUND", message, "notFound")


def oauth_response(exc: OAuthError) -> flask.Response:
    """Render an OAuthError as `{"error", "error_description"}`."""
    body = {"error": exc.error, "error_description": exc.message}
    response = flask.jsonify(body)
    response.status_code = exc.http_status
    response.headers.update({**_NO_STORE, **exc.headers})
    return response


def api_response(exc: ApiError) -> flask.Response:
    """Render an ApiError in Google's JSON error format."""
    detail = {"message": exc.message, "domain": exc.domain, "reason": exc.reason}
    body = {
        "error": {
            "code": exc.http_status,
            "message": exc.message,
            "errors": [detail],
            "status": exc.status,
        }
    }
    response = flask.jsonify(body)
    response.status_code = exc.http_status
    response.headers.update(exc.headers)
    return response


def register_handlers(app: flask.Flask) -> None:
    """Map every SandboxError to its response format."""
    app.register_error_handler(OAuthError, oauth_response)
    app.register_error_handler(ApiError, api_response)
