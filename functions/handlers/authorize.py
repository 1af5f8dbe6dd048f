"""The ``authorize`` entry point: send the browser to the provider's consent page."""

from __future__ import annotations

import logging

import flask

from functions import state
from functions.authorize import authorization_url
from functions.errors import BadRequest, MethodNotAllowed
from functions.http_responses import error_response, redirect, secure
from functions.logging_setup import request_context
from functions.request_params import single
from functions.return_to import MAX_LENGTH as RETURN_TO_MAX_LENGTH
from functions.return_to import check_return_to
from functions.services import Services, get_services
from functions.state import PendingAuthorization

logger = logging.getLogger(__name__)

EMAIL_MAX_LENGTH = 254  # RFC 5321 §4.5.3.1.3


def handle_authorize(request: flask.Request, services: Services | None = None) -> flask.Response:
    """``GET ?login_hint=&return_to=`` → 302 to the consent page, binding cookie set."""
    services = services or get_services()
    settings = services.settings
    with request_context(request, settings.project) as secrets_:
        try:
            if request.method != "GET":
                raise MethodNotAllowed(f"{request.method} is not allowed")
            login_hint = single(request.args, "login_hint", max_length=EMAIL_MAX_LENGTH)
            if login_hint is not None and not _looks_like_email(login_hint):
                raise BadRequest("login_hint is not an e-mail address")
            return_to = single(request.args, "return_to", max_length=RETURN_TO_MAX_LENGTH)
            if return_to is not None:
                return_to = check_return_to(return_to, settings.allowed_return_to)
            binding = request.cookies.get(state.cookie_name(settings.secure_cookies))
            if not state.is_well_formed(binding):
                binding = state.new_binding()
            assert binding is not None
            pending = state.start(
                binding=binding,
                scopes=settings.scopes,
                now=services.now(),
                login_hint=login_hint,
                return_to=return_to,
            )
            for secret in (binding, pending.state, pending.code_verifier):
                secrets_.add(secret)
            response = begin_consent(services, pending, binding)
        except Exception as error:  # every failure becomes a page
            response = error_response(error)
        return secure(response, https=settings.secure_cookies)


def begin_consent(
    services: Services, pending: PendingAuthorization, binding: str
) -> flask.Response:
    """Keep ``pending`` and redirect to the provider, (re)setting the binding cookie."""
    return bind_browser(redirect(consent_url(services, pending)), services, binding)


def consent_url(services: Services, pending: PendingAuthorization) -> str:
    """Keep ``pending`` and return the provider URL that continues it."""
    services.state_store.put(pending)
    logger.info(
        "consent started",
        extra={"json_fields": {"reconsent": pending.reconsent, "hinted": bool(pending.login_hint)}},
    )
    return authorization_url(services.oauth_client, pending, services.settings.redirect_uri)


def bind_browser(response: flask.Response, services: Services, binding: str) -> flask.Response:
    """Set the binding cookie; it is reused across tabs, so parallel flows in one browser work."""
    response.set_cookie(
        state.cookie_name(services.settings.secure_cookies),
        binding,
        max_age=int(state.LIFETIME.total_seconds()),
        path="/",
        secure=services.settings.secure_cookies,
        httponly=True,
        samesite="Lax",
    )
    return response


def _looks_like_email(value: str) -> bool:
    local, at, domain = value.rpartition("@")
    return bool(at and local and "." in domain and not any(c.isspace() for c in value))
