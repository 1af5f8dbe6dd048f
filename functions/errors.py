"""The project's error hierarchy.

Every failure the flow expects derives from :class:`AppError`, which carries what the two
places that turn errors into answers need: the HTTP status and page for the browser-facing
functions (``web.responses``) and whether Pub/Sub should redeliver (``list_messages``). As in
google-auth, ``retryable`` is decided where the error is raised, on purpose, never guessed later.
"""

from __future__ import annotations


class AppError(Exception):
    """Base of every error this package raises on purpose.

    Attributes:
        status: HTTP status used when the error reaches a browser.
        code: a short machine-readable reason, safe to log and publish.
        retryable: whether the same work may succeed if tried again later.
    """

    status: int = 500
    code: str = "internal_error"
    retryable: bool = False

    def headers(self) -> dict[str, str]:
        """Headers the HTTP answer to this error carries (as authlib's ``get_headers``)."""
        return {}


class ConfigError(AppError):
    """Missing or malformed configuration: raised at start-up, naming the variable."""

    code = "config_error"


class BadRequest(AppError):
    """The browser sent something we cannot use (missing, duplicated or oversized input)."""

    status = 400
    code = "bad_request"


class MethodNotAllowed(BadRequest):
    """A method the entry point does not answer; the answer names those it does (``Allow``)."""

    status = 405
    code = "method_not_allowed"

    def __init__(self, method: str, *, allowed: tuple[str, ...]) -> None:
        super().__init__(f"{method} is not allowed")
        self.allowed = allowed

    def headers(self) -> dict[str, str]:
        """``Allow``, as RFC 9110 §15.5.6 requires of a 405."""
        return {"Allow": ", ".join(self.allowed)}


class UnsupportedMediaType(BadRequest):
    """An internal function received a body that is not JSON."""

    status = 415
    code = "unsupported_media_type"


class PayloadTooLarge(BadRequest):
    """A request body over the limit."""

    status = 413
    code = "payload_too_large"


class InvalidState(BadRequest):
    """The ``state`` is unknown, expired, already used, or not bound to this browser."""

    code = "invalid_state"


class ReturnToNotAllowed(BadRequest):
    """``return_to`` is not under any ``ALLOWED_RETURN_TO`` prefix."""

    code = "return_to_not_allowed"


class AccessDenied(AppError):
    """The user declined consent at the provider (``error=access_denied``)."""

    status = 403
    code = "access_denied"


class ProviderError(BadRequest):
    """The provider sent the user back with an error other than ``access_denied``."""

    code = "provider_error"


class ExchangeFailed(BadRequest):
    """The token endpoint refused the code (expired, reused, PKCE mismatch: ``invalid_grant``)."""

    code = "exchange_failed"


class UpstreamError(AppError):
    """A provider endpoint failed or answered with something we cannot use."""

    status = 502
    code = "upstream_error"
    retryable = True


class NeedsConsent(AppError):
    """No refresh token came back and none is stored: the user must grant offline access.

    The seed's ``NoRefreshTokenException``; it carries the e-mail to hint at the consent page.
    """

    code = "needs_consent"

    def __init__(self, message: str, *, email: str | None) -> None:
        super().__init__(message)
        self.email = email


class MalformedRequest(AppError):
    """A mailbox request that can never succeed: acknowledged, never retried.

    Attributes:
        user_id: the ``user_id`` the request named, if it named one (maybe not a valid ID).
        request_id: the ``request_id`` the request named, else its Pub/Sub message ID, when the
            request named a user or a request ID; ``None`` otherwise.
    """

    code = "malformed_request"

    def __init__(
        self, message: str, *, user_id: str | None = None, request_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.user_id = user_id
        self.request_id = request_id

    @property
    def names_a_request(self) -> bool:
        """Whether the request named a user or a request ID, so its sender can be told."""
        return self.user_id is not None or self.request_id is not None


class UnknownUser(AppError):
    """No stored credentials for the user named (by a mailbox request, or ``watch``'s caller)."""

    status = 404
    code = "unknown_user"


class NotAuthorized(AppError):
    """The requesting pipeline may not read this user's mailbox: the user did not grant it, or
    is unknown (one answer for both, so a pipeline learns nothing of other pipelines' users)."""

    code = "not_authorized"


class ReauthRequired(AppError):
    """The stored grant no longer works (revoked, ``invalid_grant``, missing scope)."""

    code = "reauth_required"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class AccessTokenRefused(AppError):
    """Gmail answered 401 to the access token (expired early, or revoked on its own).

    Not retryable as it stands: the same call with the same token cannot succeed. The Gmail
    session drops the token and mints one new one from the refresh token; only the refresh token
    being refused (``invalid_grant``) means the user must consent again.
    """

    code = "access_token_refused"


class GmailRequestRejected(AppError):
    """Gmail refused the request itself (for example an invalid query): not worth retrying."""

    code = "gmail_rejected"

    def __init__(self, message: str, *, http_status: int = 0, reason: str | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.reason = reason
        """Gmail's own words (``error.message`` of its answer), such as ``Invalid query``."""


class TransientError(AppError):
    """Google, Firestore or Pub/Sub failed in a way that may pass: let Pub/Sub redeliver."""

    status = 503
    code = "transient"
    retryable = True


class QuotaPaused(TransientError):
    """Gmail's per-user quota would not let the next page finish within the work budget.

    Attributes:
        progressed: set by the mailbox reader when this attempt recorded progress before the
            pause; such a read is continued by a new message rather than a redelivery, so its
            pauses do not count toward Pub/Sub's ``max_delivery_attempts``.
    """

    code = "quota_paused"
    progressed: bool = False


class SecurityEventRejected(BadRequest):
    """A security event token that failed validation (RFC 8935 §2.4: 400 with ``err``).

    Attributes:
        err: the RFC 8935 error code: ``invalid_request``, ``invalid_key``, ``invalid_issuer``
            or ``invalid_audience``.
    """

    code = "security_event_rejected"

    def __init__(self, message: str, *, err: str = "invalid_request") -> None:
        super().__init__(message)
        self.err = err
