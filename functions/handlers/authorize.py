"""The ``authorize`` entry point: send the browser to the provider's consent page (guide step 1)."""

from __future__ import annotations

import flask

from functions.consent import pending as flow
from functions.consent.return_to import MAX_LENGTH as RETURN_TO_MAX_LENGTH
from functions.consent.return_to import check_return_to
from functions.errors import BadRequest
from functions.handlers.http import serve_page
from functions.logging_setup import RequestSecrets
from functions.services import Services, get_services
from functions.web.params import single

EMAIL_MAX_LENGTH = 254  # RFC 5321 §4.5.3.1.3


def handle_authorize(request: flask.Request, services: Services | None = None) -> flask.Response:
    """``GET ?login_hint=&return_to=&pipeline=`` → 302 to the consent page, the flow sealed in
    a cookie."""
    services = services or get_services()
    settings = services.settings

    def answer(secrets_: RequestSecrets) -> flask.Response:
        login_hint = single(request.args, "login_hint", max_length=EMAIL_MAX_LENGTH)
        if login_hint is not None and not _looks_like_email(login_hint):
            raise BadRequest("login_hint is not an e-mail address")
        return_to = single(request.args, "return_to", max_length=RETURN_TO_MAX_LENGTH)
        if return_to is not None:
            return_to = check_return_to(return_to, settings.allowed_return_to)
        pipeline = _pipeline(single(request.args, "pipeline", max_length=64), settings.pipelines)
        pending = flow.start(
            scopes=settings.scopes,
            now=services.now(),
            login_hint=login_hint,
            return_to=return_to,
            pipeline=pipeline,
        )
        secrets_.add(pending.state)
        secrets_.add(pending.code_verifier)
        return services.consent_page.redirect(pending, request.cookies)

    return serve_page(request, answer, settings)


def _pipeline(requested: str | None, configured: tuple[str, ...]) -> str:
    """The pipeline the user is asked to grant: the one named, if it is configured; the only
    one, when none is named.

    Raises:
        BadRequest: the name is not one of ``PIPELINES``, or none is named and there are several.
    """
    if requested is None:
        if len(configured) != 1:
            raise BadRequest("pipeline is required: this service has several pipelines")
        return configured[0]
    if requested not in configured:
        raise BadRequest("pipeline names no pipeline of this service")
    return requested


def _looks_like_email(value: str) -> bool:
    local, at, domain = value.rpartition("@")
    return bool(at and local and "." in domain and not any(c.isspace() for c in value))
