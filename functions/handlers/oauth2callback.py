"""The ``oauth2callback`` entry point: steps 2 and 3 of the guide, behind a checked ``state``.

Order matters: the ``state`` is consumed (once, from its own browser) before the code is spent,
the user is identified before anything is written, and the write keeps any stored refresh token.
"""

from __future__ import annotations

import contextlib
import logging

import flask

from functions import pages, state
from functions.errors import (
    AccessDenied,
    BadRequest,
    InvalidState,
    MethodNotAllowed,
    NeedsConsent,
    ProviderError,
    UpstreamError,
)
from functions.exchange import exchange_code
from functions.handlers.authorize import begin_consent
from functions.http_responses import error_response, page, redirect, secure
from functions.identify import fetch_userinfo
from functions.request_params import required, single
from functions.services import Services, get_services
from functions.state import PendingAuthorization

logger = logging.getLogger(__name__)

STATE_MAX_LENGTH = 128
CODE_MAX_LENGTH = 2048
ERROR_MAX_LENGTH = 128


def handle_oauth2callback(
    request: flask.Request, services: Services | None = None
) -> flask.Response:
    """``GET ?state=&code=`` (or ``?error=``) → success page, ``return_to``, or a clear error."""
    services = services or get_services()
    settings = services.settings
    try:
        if request.method != "GET":
            raise MethodNotAllowed(f"{request.method} is not allowed")
        binding = request.cookies.get(state.cookie_name(settings.secure_cookies))
        state_value = single(request.args, "state", max_length=STATE_MAX_LENGTH)
        provider_error = single(request.args, "error", max_length=ERROR_MAX_LENGTH)
        if provider_error is not None:
            _discard(services, state_value, binding)
            if provider_error == "access_denied":
                raise AccessDenied("the user declined consent")
            raise ProviderError(f"the provider answered error={provider_error!r}")
        if state_value is None:
            raise BadRequest("parameter state is missing")
        code = required(request.args, "code", max_length=CODE_MAX_LENGTH)
        pending = services.state_store.consume(state_value, binding, services.now())
        assert binding is not None  # consume() accepted it
        response = _complete(services, pending, code, binding)
    except Exception as error:
        response = error_response(error)
    return secure(response, https=settings.secure_cookies)


def _complete(
    services: Services, pending: PendingAuthorization, code: str, binding: str
) -> flask.Response:
    settings = services.settings
    tokens = exchange_code(services.oauth_client, pending, code, settings.redirect_uri)
    user = fetch_userinfo(services.http, settings.userinfo_uri, tokens.access_token)
    try:
        stored = services.token_store.save_grant(
            user_id=user.sub,
            email=user.email,
            refresh_token=tokens.refresh_token,
            scopes=tokens.granted_scopes,
            now=services.now(),
        )
    except NeedsConsent as needs:
        if pending.reconsent:
            raise UpstreamError(
                "the provider returned no refresh token even with prompt=consent"
            ) from None
        logger.warning("no refresh token: asking for consent again", extra=_user_fields(user.sub))
        retry = state.start(
            binding=binding,
            scopes=settings.scopes,
            now=services.now(),
            login_hint=needs.email or pending.login_hint,
            return_to=pending.return_to,
            reconsent=True,
        )
        return begin_consent(services, retry, binding)
    logger.info(
        "user connected",
        extra=_user_fields(
            user.sub, new_refresh_token=tokens.refresh_token is not None, scopes=stored.scopes
        ),
    )
    if pending.return_to:
        return redirect(pending.return_to, status=303)
    return page(pages.connected(stored.user_id, stored.email, stored.scopes))


def _discard(services: Services, state_value: str | None, binding: str | None) -> None:
    """Forget the pending authorization of a flow the provider ended with an error."""
    if state_value is None:
        return
    with contextlib.suppress(InvalidState):
        services.state_store.consume(state_value, binding, services.now())


def _user_fields(user_id: str, **fields: object) -> dict[str, object]:
    return {"json_fields": {"user_id": user_id, **fields}}
