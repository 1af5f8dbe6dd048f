"""Step 1 of the guide: send the browser to the consent page (the seed's ``get_authorization_url``).

Offline access with forced consent, as the guide asks, plus what the guide leaves out: PKCE with
S256 (RFC 7636) and a ``state`` bound to the browser (see ``functions.consent.pending``). The URL
is built by oauthlib's web-application client, the same code google-auth-oauthlib's ``Flow``
calls underneath, without the HTTP stack ``Flow`` imports: building a URL needs no requests
session, and ``authorize`` is the function whose cold start a person waits for.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import flask

from functions.consent import pending as flow
from functions.consent.oauth_client import ClientID
from functions.consent.pending import PendingAuthorization
from functions.crypto import Keyring
from functions.web.responses import redirect, set_cookie

logger = logging.getLogger(__name__)


def authorization_url(client: ClientID, pending: PendingAuthorization, redirect_uri: str) -> str:
    """The provider URL that asks the user to grant ``pending.scopes`` for offline use.

    ``include_granted_scopes`` lets Google merge earlier grants (incremental authorization);
    ``prompt=consent`` makes Google return a refresh token even to a returning user.
    """
    from oauthlib.oauth2 import WebApplicationClient

    oauth = WebApplicationClient(client.client_id)
    extra = {"login_hint": pending.login_hint} if pending.login_hint else {}
    return str(
        oauth.prepare_request_uri(
            client.auth_uri,
            redirect_uri=redirect_uri,
            scope=list(pending.scopes),
            state=pending.state,
            code_challenge=oauth.create_code_challenge(pending.code_verifier, "S256"),
            code_challenge_method="S256",
            access_type="offline",
            prompt="consent",
            include_granted_scopes="true",
            **extra,
        )
    )


@dataclass(frozen=True)
class ConsentPage:
    """Sends a browser to the consent page with its pending authorization sealed in a cookie.

    Used by ``authorize`` and by the callback when it has to ask again (a permission unticked,
    or no refresh token returned).
    """

    client: ClientID
    redirect_uri: str
    cookie_keys: Keyring
    secure: bool

    def url(self, pending: PendingAuthorization) -> str:
        """The provider URL that continues ``pending``."""
        logger.info(
            "consent started",
            extra={
                "json_fields": {"reconsent": pending.reconsent, "hinted": bool(pending.login_hint)}
            },
        )
        return authorization_url(self.client, pending, self.redirect_uri)

    def redirect(self, pending: PendingAuthorization, cookies: Mapping[str, str]) -> flask.Response:
        """Redirect to the provider, handing ``pending`` to the browser (see :meth:`remember`)."""
        return self.remember(redirect(self.url(pending)), pending, cookies)

    def remember(
        self, response: flask.Response, pending: PendingAuthorization, cookies: Mapping[str, str]
    ) -> flask.Response:
        """Set the sealed flow cookie for ``pending``, first forgetting flows beyond the limit."""
        for stale in flow.crowded_flows(self.cookie_keys, cookies, secure=self.secure):
            set_cookie(response, stale, secure=self.secure)
        sealed = flow.seal_flow(self.cookie_keys, pending, secure=self.secure)
        return set_cookie(response, sealed, secure=self.secure)
