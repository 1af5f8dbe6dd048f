"""The ``oauth2callback`` entry point: steps 2 and 3 of the guide, behind a checked ``state``.

Order matters: the ``state`` must come with the flow cookie its own browser was given and is
spent (once) before the code is, the granted scopes are checked before anyone is identified, the
user is identified before anything is written, and the write keeps any stored refresh token.
Every outcome, success or not, answers with a 303 to the bare callback URL (RFC 9700 §4.2.4), so
the spent code and state leave the address bar and history; the page shown there comes from a
sealed five-minute outcome cookie. Where trying again can help, the page offers "Try again",
keeping the address the person used (the hint, or the account they signed in with) and
``return_to``. The bare URL opened without an outcome says what the address is for."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from urllib.parse import urlencode

import flask
from werkzeug.datastructures import MultiDict

from functions.consent import pending as flow
from functions.consent.exchange import TokenResponse, exchange_code
from functions.consent.identify import UserInfo, fetch_userinfo, user_from_id_token
from functions.consent.pending import Outcome, PendingAuthorization
from functions.errors import (
    AccessDenied,
    AppError,
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
from functions.web.responses import error_page, page, redirect, set_cookie
from functions.web.site import Site

logger = logging.getLogger(__name__)

STATE_MAX_LENGTH = 128
CODE_MAX_LENGTH = 2048
ERROR_MAX_LENGTH = 128
ISSUER_MAX_LENGTH = 256
RETRY_PAGES = frozenset({"declined", "link_invalid", "provider_error", "failure"})
"""The error pages where trying again can help (a malformed request would fail the same way)."""


def handle_oauth2callback(
    request: flask.Request, services: Services | None = None
) -> flask.Response:
    """``GET ?state=&code=`` (or ``?error=``) → 303 to the success page, or a clear error."""
    services = services or get_services()
    settings = services.settings
    state_value: str | None = None
    pending: PendingAuthorization | None = None

    def answer(secrets_: RequestSecrets) -> flask.Response:
        nonlocal state_value, pending
        if not request.args:
            return _show_outcome(services, request.cookies)
        try:
            state_value = single(request.args, "state", max_length=STATE_MAX_LENGTH)
            secrets_.add(state_value)
            _check_issuer(services, request.args)
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
            return _complete(services, pending, code, request.cookies)
        except Exception as error:  # every outcome is shown behind a clean URL
            chosen = error_page(error)
            retry = None
            if chosen.name in RETRY_PAGES:
                retry = _try_again_url(services, request.cookies, state_value, pending)
            outcome = Outcome(
                page=chosen.name,
                status=chosen.status,
                retry_url=retry,
                reference=chosen.reference,
            )
            return _show_after_redirect(services, outcome)

    def forget_flow(response: flask.Response) -> flask.Response:
        if state_value is None or not flow.is_well_formed(state_value):
            return response
        # The flow is over, whatever its outcome: its cookie goes (a retry sets its own).
        forget = flow.forget_flow(state_value, secure=settings.secure_cookies)
        return set_cookie(response, forget, secure=settings.secure_cookies)

    return serve_page(request, answer, settings, after=forget_flow)


def _check_issuer(services: Services, args: MultiDict[str, str]) -> None:
    """RFC 9207 §2.4: an authorization response that names its issuer must name ours, or it
    came from another authorization server (a mix-up attack) and nothing of it is used. A
    provider that sends no ``iss`` is not checked (Google sends it).

    Raises:
        BadRequest: another issuer, before any code is exchanged.
    """
    issuer = single(args, "iss", max_length=ISSUER_MAX_LENGTH)
    if "iss" in args and issuer != services.oauth_client.issuer:  # an empty one too
        logger.warning(
            "authorization response from another issuer refused",
            extra={"json_fields": {"event": "issuer_mismatch"}},
        )
        raise BadRequest("the authorization response names another issuer")


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
        retry = _restart(services, pending, reconsent=False, email=_email_of(services, tokens))
        consent = services.consent_page
        outcome = Outcome(
            page="missing_permission", status=403, scopes=missing, retry_url=consent.url(retry)
        )
        return consent.remember(_show_after_redirect(services, outcome), retry, cookies)
    user = _identify(services, tokens)
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
            pipeline=pending.pipeline,
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
    outcome = Outcome(
        user_id=stored.user_id, email=stored.email, scopes=stored.scopes, pipeline=pending.pipeline
    )
    return _show_after_redirect(services, outcome)


def _show_after_redirect(services: Services, outcome: Outcome) -> flask.Response:
    """A 303 to the bare callback URL, carrying ``outcome`` in a sealed cookie to show there."""
    secure = services.settings.secure_cookies
    sealed = flow.seal_outcome(services.cookie_keys, outcome, secure=secure, now=services.now())
    return set_cookie(redirect(services.settings.redirect_uri, status=303), sealed, secure=secure)


def _show_outcome(services: Services, cookies: Mapping[str, str]) -> flask.Response:
    """The bare callback URL: the page of this browser's recent outcome, reached by our own 303;
    without one (a bookmark, a typed address), what this address is for."""
    site = Site.of(services.settings)
    outcome = flow.open_outcome(
        services.cookie_keys,
        cookies,
        secure=services.settings.secure_cookies,
        now=services.now(),
    )
    if outcome is None:
        logger.info("callback opened without a sign-in to finish")
        return page(pages.callback_explained(site=site))
    if outcome.page == "connected" and outcome.user_id:
        return page(
            pages.connected(
                outcome.user_id, outcome.email, outcome.scopes, site=site, pipeline=outcome.pipeline
            )
        )
    if outcome.page == "missing_permission":
        return page(pages.missing_permission(outcome.scopes, outcome.retry_url, site=site))
    if outcome.page == "failure":
        return page(
            pages.failure(
                outcome.status, outcome.reference or "", site=site, retry_url=outcome.retry_url
            )
        )
    if outcome.page == "bad_request":
        return page(pages.bad_request(outcome.status, site=site))
    show = pages.OUTCOME_PAGES.get(outcome.page, pages.link_invalid)
    return page(show(site=site, retry_url=outcome.retry_url))


def _try_again_url(
    services: Services,
    cookies: Mapping[str, str],
    state: str | None,
    pending: PendingAuthorization | None,
) -> str | None:
    """``authorize`` again, with the hint and ``return_to`` of the flow when this browser still
    has it; ``None`` when ``AUTHORIZE_URL`` is unknown."""
    settings = services.settings
    if settings.authorize_url is None:
        return None
    if pending is None and flow.is_well_formed(state):
        with contextlib.suppress(InvalidState):
            pending = flow.open_flow(
                services.cookie_keys,
                cookies,
                str(state),
                secure=settings.secure_cookies,
                now=services.now(),
            )
    params = {}
    if pending is not None and pending.login_hint:
        params["login_hint"] = pending.login_hint
    if pending is not None and pending.return_to:
        params["return_to"] = pending.return_to
    if pending is not None and pending.pipeline:
        params["pipeline"] = pending.pipeline
    if not params:
        return settings.authorize_url
    separator = "&" if "?" in settings.authorize_url else "?"
    return f"{settings.authorize_url}{separator}{urlencode(params)}"


def _identify(services: Services, tokens: TokenResponse) -> UserInfo:
    """Who consented. One wait on the provider: the ID token that came with the tokens names
    the user; userinfo is asked only when there is none that holds up."""
    return user_from_id_token(
        tokens.id_token,
        client_id=services.oauth_client.client_id,
        token_uri=services.oauth_client.token_uri,
        now=services.now(),
    ) or fetch_userinfo(services.http, services.settings.userinfo_uri, tokens.access_token)


def _email_of(services: Services, tokens: TokenResponse) -> str | None:
    """The address of the account that just consented, to hint the retry; ``None`` when the
    provider will not say (the e-mail permission was unticked too, say)."""
    with contextlib.suppress(AppError):
        return _identify(services, tokens).email
    return None


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
        pipeline=pending.pipeline,
        reconsent=reconsent,
    )


def _user_fields(user_id: str, **fields: object) -> dict[str, object]:
    return {"json_fields": {"user_id": user_id, **fields}}
