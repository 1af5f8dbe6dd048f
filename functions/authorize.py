"""Step 1 of the guide: the consent URL (the seed's ``get_authorization_url``).

Offline access with forced consent, as the guide asks, plus what the guide leaves out: PKCE with
S256 (RFC 7636) and a ``state`` bound to the browser (see ``functions.state``). The URL is built
by google-auth-oauthlib from the client JSON's ``auth_uri``.
"""

from __future__ import annotations

from functions.oauth_client import OAuthClient
from functions.state import PendingAuthorization


def authorization_url(client: OAuthClient, pending: PendingAuthorization, redirect_uri: str) -> str:
    """The provider URL that asks the user to grant ``pending.scopes`` for offline use.

    ``include_granted_scopes`` lets Google merge earlier grants (incremental authorization);
    ``prompt=consent`` makes Google return a refresh token even to a returning user.
    """
    from google_auth_oauthlib.flow import Flow

    flow = Flow.from_client_config(
        client.as_client_config(),
        scopes=list(pending.scopes),
        redirect_uri=redirect_uri,
        code_verifier=pending.code_verifier,
        autogenerate_code_verifier=False,
    )
    extra = {"login_hint": pending.login_hint} if pending.login_hint else {}
    url, _ = flow.authorization_url(
        access_type="offline",
        prompt="consent",
        include_granted_scopes="true",
        state=pending.state,
        **extra,
    )
    return str(url)
