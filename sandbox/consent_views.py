"""The authorization endpoint: `GET/POST /o/oauth2/v2/auth` (RFC 6749 §4.1.1 to §4.1.2).

GET validates the request and shows the consent screen, or Google's own error page for a bad
request (missing client_id: 400 invalid_request; unknown client: 401 invalid_client; an
unregistered redirect_uri: 400 redirect_uri_mismatch; then anything else wrong with it, see
`auth_request`), as the OAuth 2.0 web-server guide's "Authorization errors" describe. POST takes
the user's answer and redirects back to the client with a code and the granted scopes, or with
access_denied. Every response back carries `iss`, the issuer identifier (RFC 9207 §2), as
Google's does (`iss=https://accounts.google.com`); the sandbox's issuer is its own base URL.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import flask

from sandbox import auth_request, identity, scopes
from sandbox.context import current_state
from sandbox.pages import connections_page, consent_page, error_page

bp = flask.Blueprint("consent", __name__)
AUTH_PATH = "/o/oauth2/v2/auth"
CONNECTIONS_PATH = "/connections"
"""Where the local stack's ``ACCOUNT_PERMISSIONS_URL`` points."""


@bp.route(CONNECTIONS_PATH, methods=["GET", "POST"])
def connections() -> flask.Response:
    """Google Account's "Third-party apps & services": removing access revokes every grant."""
    form = flask.request.form
    email = identity.normalize_email(form.get("email", "")) if flask.request.form else None
    removed = current_state().revoke_user(email) if email else None
    return flask.Response(connections_page(email, removed), mimetype="text/html")


def redirect_back(redirect_uri: str, params: dict[str, str | None]) -> flask.Response:
    """302 to the client's redirect URI with `params` and `iss` added to its query (None =
    omitted)."""
    parts = urlsplit(redirect_uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in params.items() if v is not None]
    query.append(("iss", flask.request.host_url.rstrip("/")))
    location = urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))
    return flask.Response(status=302, headers={"Location": location})


@bp.get(AUTH_PATH)
def authorize() -> flask.Response | str:
    """Validate like Google, then render the consent screen."""
    state = current_state()
    state.count("authorize")
    args = flask.request.args
    client_id, redirect_uri = args.get("client_id", ""), args.get("redirect_uri", "")
    if not client_id:
        return error_page(400, "invalid_request", "Missing required parameter: client_id")
    client = state.client(client_id)
    if client is None:
        return error_page(401, "invalid_client", "The OAuth client was not found.")
    if not redirect_uri:
        return error_page(400, "invalid_request", "Missing required parameter: redirect_uri")
    if redirect_uri not in client.redirect_uris:
        return error_page(
            400,
            "redirect_uri_mismatch",
            f"You can't sign in to this app because it doesn't comply with OAuth 2.0 policy. "
            f"The redirect_uri {redirect_uri!r} is not registered for client {client_id}.",
        )
    request = auth_request.parse(args, client_id, redirect_uri)
    if isinstance(request, auth_request.RequestError):
        if not request.redirect:  # Google's own page: the user never gets back to the app
            return error_page(400, request.error, request.description)
        return redirect_back(
            redirect_uri,
            {
                "error": request.error,
                "error_description": request.description,
                "state": args.get("state"),
            },
        )
    return consent_page(
        action=AUTH_PATH,
        consent_id=state.open_consent(request),
        client_id=client_id,
        redirect_uri=redirect_uri,
        login_hint=request.login_hint,
        scopes=[{"value": s, "label": scopes.label(s)} for s in request.scopes],
    )


@bp.post(AUTH_PATH)
def decide() -> flask.Response:
    """The user's answer: Allow (with the ticked scopes) or Cancel."""
    state = current_state()
    state.count("consent")
    form = flask.request.form
    consent_id = form.get("consent_id", "")
    request = state.pending_consent(consent_id)
    if request is None:
        return error_page(
            400, "invalid_request", "This sign-in request is unknown or has expired. Start again."
        )
    action = form.get("action", "")
    if action not in ("allow", "cancel"):
        return error_page(400, "invalid_request", "Choose Allow or Cancel.")
    ticked = set(form.getlist("scope"))
    chosen = [s for s in request.scopes if s in ticked]
    if action == "cancel" or not chosen:
        state.deny_consent(consent_id)
        return redirect_back(
            request.redirect_uri, {"error": "access_denied", "state": request.state}
        )
    email = identity.normalize_email(form.get("email", ""))
    if email is None:
        return error_page(400, "invalid_request", "Enter a valid e-mail address and try again.")
    code = state.approve_consent(consent_id, email, chosen)
    if code is None:
        return error_page(400, "invalid_request", "This sign-in request was already answered.")
    return redirect_back(
        request.redirect_uri,
        {"code": code.value, "scope": " ".join(code.scopes), "state": request.state},
    )
