"""Turning outcomes into HTTP responses, in one place.

Every response of the browser-facing functions passes through here and gets the same headers:
nothing cached (it may carry a one-time code), no Referer leaked, a CSP that allows only our own
inline stylesheet, HSTS on https. Errors map to pages by type; anything unexpected becomes a page
with a reference ID that is also logged, never a stack trace.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import flask

from functions.errors import (
    AccessDenied,
    AppError,
    BadRequest,
    ExchangeFailed,
    InvalidState,
    ProviderError,
    ReturnToNotAllowed,
)
from functions.web.site import NO_SITE, Site
from functions.web.style import STYLE_HASH

if TYPE_CHECKING:
    from functions.web import pages

logger = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src '{STYLE_HASH}'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


@dataclass(frozen=True)
class Cookie:
    """A cookie to set (``max_age`` 0 deletes it)."""

    name: str
    value: str
    max_age: int

    @classmethod
    def deletion(cls, name: str) -> Cookie:
        """The cookie that makes the browser drop ``name``."""
        return cls(name, "", 0)


def secure(response: flask.Response, *, https: bool) -> flask.Response:
    """Add the headers every page and redirect of ours carries."""
    headers = response.headers
    headers["Cache-Control"] = "no-store"
    headers["Pragma"] = "no-cache"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    if https:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return response


def page(page_: pages.Page) -> flask.Response:
    """A rendered page as a response, in the language ``Accept-Language`` chose for it."""
    response = flask.Response(page_.html, status=page_.status, mimetype="text/html")
    response.headers["Content-Language"] = page_.language
    response.vary.add("Accept-Language")
    return response


def redirect(location: str, status: int = 302) -> flask.Response:
    """A redirect with an empty body."""
    response = flask.Response("", status=status)
    response.headers["Location"] = location
    return response


def set_cookie(response: flask.Response, cookie: Cookie, *, secure: bool) -> flask.Response:
    """Set (or, with ``max_age`` 0, delete) one of our cookies: host-only, path ``/``, HttpOnly,
    SameSite=Lax so the provider's top-level redirect back carries it."""
    response.set_cookie(
        cookie.name,
        cookie.value,
        max_age=cookie.max_age,
        path="/",
        secure=secure,
        httponly=True,
        samesite="Lax",
    )
    return response


def json_response(body: Mapping[str, object], status: int = 200) -> flask.Response:
    """A JSON answer for the internal (IAM-invoked) functions."""
    return flask.Response(json.dumps(body), status=status, mimetype="application/json")


def json_error_response(error: Exception) -> flask.Response:
    """The JSON answer for an error of an internal function; unexpected ones get a reference."""
    if isinstance(error, AppError) and error.status < 500:
        logger.info("bad request", extra={"json_fields": {"reason": str(error)}})
        response = json_response({"error": error.code, "message": str(error)}, error.status)
        return _with_headers(response, error)
    reference = uuid.uuid4().hex[:12]
    logger.error(
        "request failed",
        exc_info=not isinstance(error, AppError),
        extra={"json_fields": {"reference": reference, "error": type(error).__name__}},
    )
    status = error.status if isinstance(error, AppError) else 500
    return json_response({"error": "internal_error", "reference": reference}, status)


@dataclass(frozen=True)
class ErrorPage:
    """Which page answers an error: a name of ``pages.OUTCOME_PAGES``, its status, and the
    reference that is also in the logs (unexpected errors only)."""

    name: str
    status: int
    reference: str | None = None


def error_page(error: Exception) -> ErrorPage:
    """Log ``error`` once, at its level, and choose its page; unexpected ones get a reference."""
    if isinstance(error, InvalidState | ExchangeFailed):
        event = "state_rejected" if isinstance(error, InvalidState) else "exchange_failed"
        logger.warning(
            "link rejected", extra={"json_fields": {"event": event, "reason": str(error)}}
        )
        return ErrorPage("link_invalid", 400)
    if isinstance(error, AccessDenied):
        logger.info("consent declined")
        return ErrorPage("declined", 403)
    if isinstance(error, ProviderError):
        logger.warning("provider error", extra={"json_fields": {"reason": str(error)}})
        return ErrorPage("provider_error", 400)
    if isinstance(error, ReturnToNotAllowed | BadRequest):
        logger.info("bad request", extra={"json_fields": {"reason": str(error)}})
        return ErrorPage("bad_request", error.status)
    reference = uuid.uuid4().hex[:12]
    status = error.status if isinstance(error, AppError) else 500
    logger.error(
        "request failed",
        exc_info=not isinstance(error, AppError),
        extra={
            "json_fields": {
                "reference": reference,
                "error": type(error).__name__,
                "reason": str(error) if isinstance(error, AppError) else None,
            }
        },
    )
    return ErrorPage("failure", status, reference)


def error_response(error: Exception, site: Site = NO_SITE) -> flask.Response:
    """The page for an error; unexpected ones are logged with a reference, never shown."""
    from functions.web import pages  # with translations and Babel: only when a page is shown

    chosen = error_page(error)
    if chosen.name == "bad_request":
        response = page(pages.bad_request(chosen.status, site=site))
        return _with_headers(response, error) if isinstance(error, AppError) else response
    if chosen.name == "failure":
        return page(pages.failure(chosen.status, chosen.reference or "", site=site))
    return page(pages.OUTCOME_PAGES[chosen.name](site=site))


def _with_headers(response: flask.Response, error: AppError) -> flask.Response:
    response.headers.update(error.headers())
    return response
