"""Token, revocation and userinfo endpoints, as at oauth2.googleapis.com / openidconnect.

- `POST /token`: RFC 6749 §4.1.3 (authorization_code) and §6 (refresh_token).
- `POST /revoke`: RFC 7009, Google-style (revokes the whole grant).
- `GET /v1/userinfo`: OpenID Connect Core §5.3, claims limited to the granted scopes.
- ID tokens in token responses, the signing keys and the discovery document: see `oidc`.
"""

from __future__ import annotations

import flask

from sandbox import identity, oidc, scopes
from sandbox.context import current_state
from sandbox.credentials import basic_client, bearer_token
from sandbox.errors import OAuthError
from sandbox.models import Client

bp = flask.Blueprint("oauth", __name__)
_GRANT_TYPES = ("authorization_code", "refresh_token")


def _no_store(body: dict[str, object]) -> flask.Response:
    response = flask.jsonify(body)
    response.headers.update({"Cache-Control": "no-store", "Pragma": "no-cache"})
    return response


def _client() -> Client:
    """Authenticate the client by Basic auth or form parameters (RFC 6749 §2.3.1)."""
    form = flask.request.form
    basic = basic_client(flask.request)
    if basic is not None:
        client_id, candidates = basic
        if form.get("client_id", client_id) != client_id:
            raise OAuthError("invalid_request", "client_id differs from the Authorization header.")
        try:
            return current_state().authenticate_client(client_id, candidates)
        except OAuthError as exc:
            exc.headers["WWW-Authenticate"] = 'Basic realm="sandbox"'
            raise
    client_id = form.get("client_id", "")
    if not client_id:
        raise OAuthError("invalid_client", "Client authentication is required.", 401)
    return current_state().authenticate_client(client_id, [form.get("client_secret", "")])


def _required(name: str) -> str:
    value = flask.request.form.get(name, "")
    if not value:
        raise OAuthError("invalid_request", f"Missing required parameter: {name}")
    return value


@bp.post("/token")
def token() -> flask.Response:
    """Exchange a code or a refresh token for an access token."""
    state = current_state()
    grant_type = flask.request.form.get("grant_type", "")
    state.count(f"token.{grant_type}" if grant_type in _GRANT_TYPES else "token.other")
    client = _client()
    if grant_type == "authorization_code":
        code, redirect_uri = _required("code"), _required("redirect_uri")
        verifier = flask.request.form.get("code_verifier")
        return _no_store(state.exchange_code(client, code, redirect_uri, verifier, _issuer()))
    if grant_type == "refresh_token":
        refresh_token = _required("refresh_token")
        narrowed = scopes.parse(flask.request.form.get("scope", ""))
        if narrowed is None:
            raise OAuthError("invalid_scope", "Some requested scopes were invalid.")
        return _no_store(
            state.refresh_access_token(client, refresh_token, narrowed or None, _issuer())
        )
    if not grant_type:
        raise OAuthError("invalid_request", "Missing required parameter: grant_type")
    raise OAuthError("unsupported_grant_type", f"Invalid grant_type: {grant_type}")


@bp.post("/revoke")
def revoke() -> flask.Response:
    """Revoke a refresh or access token, and with it the user's grant to that client."""
    state = current_state()
    state.count("revoke")
    if state.behaviour.revoke_unavailable:
        raise OAuthError("temporarily_unavailable", "The service is unavailable.", 503)
    value = flask.request.form.get("token") or flask.request.args.get("token")
    if not value:
        raise OAuthError("invalid_request", "Missing required parameter: token")
    if not state.revoke_token(value):
        raise OAuthError("invalid_token", "Token expired or revoked")
    return flask.jsonify({})


@bp.route("/v1/userinfo", methods=["GET", "POST"])
@bp.route("/oauth2/v3/userinfo", methods=["GET", "POST"])
def userinfo() -> flask.Response:
    """Who the access token belongs to: `sub` always, the rest as the scopes allow."""
    state = current_state()
    state.count("userinfo")
    value = bearer_token(flask.request)
    access = state.access_token(value) if value else None
    if access is None:
        raise OAuthError(
            "invalid_token",
            "Invalid Credentials",
            401,
            headers={"WWW-Authenticate": 'Bearer realm="sandbox", error="invalid_token"'},
        )
    claims: dict[str, object] = {"sub": identity.user_id(access.email)}
    if scopes.USERINFO_EMAIL in access.scopes:
        claims.update(email=access.email, email_verified=True)
    if scopes.USERINFO_PROFILE in access.scopes:
        name = identity.display_name(access.email)
        given, _, family = name.partition(" ")
        claims.update(name=name, given_name=given, family_name=family or given)
    return flask.jsonify(claims)


@bp.get(oidc.X509_CERTS_PATH)
def x509_certs() -> flask.Response:
    """The signing keys as `{kid: PEM certificate}` (the client JSON's cert URL)."""
    return flask.jsonify(oidc.x509_certs())


@bp.get(oidc.JWKS_PATH)
def jwks() -> flask.Response:
    """The signing keys as a JWK Set (RFC 7517): the discovery document's `jwks_uri`."""
    return flask.jsonify(oidc.jwks())


@bp.get(oidc.DISCOVERY_PATH)
def openid_configuration() -> flask.Response:
    """OpenID Connect Discovery 1.0 §4: where everything is, and what is supported."""
    return flask.jsonify(oidc.discovery(_issuer()))


def _issuer() -> str:
    """This sandbox's base URL, as the client reached it: the ID tokens' `iss`."""
    return flask.request.host_url.rstrip("/")
