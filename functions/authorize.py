"""Step 1 of the guide: the consent URL (the seed's ``get_authorization_url``).

Offline access with forced consent, as the guide asks, plus what the guide leaves out: PKCE with
S256 (RFC 7636) and a ``state`` bound to the browser (see ``functions.state``). The URL is built
by oauthlib's web-application client, the same code google-auth-oauthlib's ``Flow`` calls
underneath, without the HTTP stack ``Flow`` imports: building a URL needs no requests session,
and ``authorize`` is the function whose cold start a person waits for.
"""

from __future__ import annotations

from functions.oauth_client import OAuthClient
from functions.state import PendingAuthorization


def authorization_url(client: OAuthClient, pending: PendingAuthorization, redirect_uri: str) -> str:
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
