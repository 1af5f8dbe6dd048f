"""The ``oauth2callback`` entry point: steps 2 and 3 of the guide, behind a checked ``state``.

Order matters: the ``state`` must come with the flow cookie its own browser was given and is
spent (once) before the code is, the granted scopes are checked before anyone is identified, the
user is identified before anything is written, and the write keeps any stored refresh token.
Success answers with a 303 to the bare callback URL (RFC 9700 §4.2.4), so the code leaves the
address bar and history; the page shown there comes from a sealed five-minute outcome cookie."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import flask

from functions.consent import pending as flow
from functions.consent.exchange import exchange_code
from functions.consent.identify import fetch_userinfo
from functions.consent.pending import Outcome, PendingAuthorization
from functions.errors import (
    AccessDenied,
    BadRequest,
    InvalidState,
    NeedsConsent,
    ProviderError,
    UpstreamError,
)
from functions.handlers.http import serve_page
from functions.logging_setup import RequestSecrets
from functions.scopes import missing_scopes
from functions.services import Services, get_services
from functions.web import pages
from functions.web.params import required, single
from functions.web.responses import page, redirect, set_cookie

logger = logging.getLogger(__name__)

STATE_MAX_LENGTH = 128
CODE_MAX_LENGTH = 2048
ERROR_MAX_LENGTH = 128


def handle_oauth2callback(
    request: flask.Request, services: Services | None = None
) -> flask.Response:
    """``GET ?state=&code=`` (or ``?error=``) → 303 to the success page, or a clear error."""
    services = services or get_services()
    settings = services.settings
    state_value: str | None = None
    spent = False

    def answer(secrets_: RequestSecrets) -> flask.Response:
        nonlocal state_value, spent
        if not request.args:
            return _show_outcome(services, request.cookies)
        state_value = single(request.args, "state", max_length=STATE_MAX_LENGTH)
        secrets_.add(state_value)
        provider_error = single(request.args, "error", max_length=ERROR_MAX_LENGTH)
        if provider_error is not None:
            if provider_error == "access_denied":
                raise AccessDenied("the user declined consent")
            raise ProviderError("the provider answered with an error")
        if state_value is None:
            raise BadRequest("parameter state is missing")
        code = required(request.args, "code", max_length=CODE_MAX_LENGTH)
        secrets_.add(code)
        pending = flow.open_flow(
            services.cookie_keys,
            request.cookies,
            state_value,
            secure=settings.secure_cookies,
            now=services.now(),
        )
        secrets_.add(pending.code_verifier)
        services.state_store.spend(pending.state, pending.expires_at)
        spent = True
        return _complete(services, pending, code, request.cookies)

    def forget_flow(response: flask.Response) -> flask.Response:
        if state_value is None or not flow.is_well_formed(state_value):
            return response
        if spent or response.status_code < 500:
            # The flow is over: its cookie goes (a retry sets its own). A server failure before
            # the state was spent keeps it, so reloading the page can still finish the flow.
            forget = flow.forget_flow(state_value, secure=settings.secure_cookies)
            set_cookie(response, forget, secure=settings.secure_cookies)
        return response

    return serve_page(request, answer, settings, after=forget_flow)


def _complete(
    services: Services, pending: PendingAuthorization, code: str, cookies: Mapping[str, str]
) -> flask.Response:
    settings = services.settings
    tokens = exchange_code(services.oauth_client, pending, code, settings.redirect_uri)
    missing = missing_scopes(settings.scopes, tokens.granted_scopes)
    if missing:
        logger.warning(
            "consent lacks a required permission; nothing stored",
            extra={"json_fields": {"event": "missing_scope", "missing": list(missing)}},
        )
        retry = _restart(services, pending, reconsent=False)
        consent = services.consent_page
        offer = page(pages.missing_permission(missing, consent.url(retry)))
        return consent.remember(offer, retry, cookies)
    user = fetch_userinfo(services.http, settings.userinfo_uri, tokens.access_token)
    try:
        stored = services.token_store.save_grant(
            user_id=user.sub,
            email=user.email,
            refresh_token=tokens.refresh_token,
            scopes=tokens.granted_scopes,
            now=services.now(),
            access_token=tokens.access_token,
            access_token_expires_at=tokens.expires_at,
            grant_expires_at=tokens.refresh_token_expires_at,
        )
    except NeedsConsent as needs:
        if pending.reconsent:
            raise UpstreamError(
                "the provider returned no refresh token even with prompt=consent"
            ) from None
        logger.warning("no refresh token: asking for consent again", extra=_user_fields(user.sub))
        retry = _restart(services, pending, reconsent=True, email=needs.email)
        return services.consent_page.redirect(retry, cookies)
    logger.info(
        "user connected",
        extra=_user_fields(
            user.sub, new_refresh_token=tokens.refresh_token is not None, scopes=stored.scopes
        ),
    )
    if pending.return_to:
        return redirect(pending.return_to, status=303)
    outcome = Outcome(user_id=stored.user_id, email=stored.email, scopes=stored.scopes)
    secure = settings.secure_cookies
    sealed = flow.seal_outcome(services.cookie_keys, outcome, secure=secure, now=services.now())
    return set_cookie(redirect(settings.redirect_uri, status=303), sealed, secure=secure)


def _show_outcome(services: Services, cookies: Mapping[str, str]) -> flask.Response:
    """The bare callback URL, reached by our own 303: the success page for this browser."""
    outcome = flow.open_outcome(
        services.cookie_keys,
        cookies,
        secure=services.settings.secure_cookies,
        now=services.now(),
    )
    if outcome is None:
        raise InvalidState("no recent outcome for this browser")
    return page(pages.connected(outcome.user_id, outcome.email, outcome.scopes))


def _restart(
    services: Services,
    pending: PendingAuthorization,
    *,
    reconsent: bool,
    email: str | None = None,
) -> PendingAuthorization:
    """A fresh pending authorization continuing ``pending`` in the same browser."""
    return flow.start(
        scopes=services.settings.scopes,
        now=services.now(),
        login_hint=email or pending.login_hint,
        return_to=pending.return_to,
        reconsent=reconsent,
    )


def _user_fields(user_id: str, **fields: object) -> dict[str, object]:
    return {"json_fields": {"user_id": user_id, **fields}}
