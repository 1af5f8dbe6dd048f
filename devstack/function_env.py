"""The functions' configuration on a laptop: which Google they talk to and where the emulators are.

In sandbox mode every endpoint points at the local sandbox. In real-Google mode the user's client
JSON and redirect URI pass through and the endpoints keep the product's defaults (Google's).
Variable names are the public contract of DESIGN.md §3.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from devstack.errors import DevStackError

OAUTH_CLIENT_SECRETS = "OAUTH_CLIENT_SECRETS"
OAUTH_REDIRECT_URI = "OAUTH_REDIRECT_URI"


@dataclass(frozen=True)
class RealGoogle:
    """The user's own OAuth client, for running the stack against real Google.

    Attributes:
        client_secrets: path of the client JSON, or its Secret Manager version name.
        redirect_uri: the callback URL registered with that client.
    """

    client_secrets: str
    redirect_uri: str


def real_google_from_env(environ: Mapping[str, str]) -> RealGoogle | None:
    """Real-Google mode when both client variables are set; sandbox mode when neither is.

    Raises:
        DevStackError: when only one of the two is set, which is surely a mistake.
    """
    secrets = environ.get(OAUTH_CLIENT_SECRETS, "").strip()
    redirect = environ.get(OAUTH_REDIRECT_URI, "").strip()
    if secrets and redirect:
        return RealGoogle(client_secrets=secrets, redirect_uri=redirect)
    if secrets or redirect:
        missing = OAUTH_REDIRECT_URI if secrets else OAUTH_CLIENT_SECRETS
        raise DevStackError(
            f"{missing} is not set: set both {OAUTH_CLIENT_SECRETS} and {OAUTH_REDIRECT_URI} "
            "to use real Google, or neither to use the sandbox."
        )
    return None


def function_environment(
    *,
    project: str,
    firestore_host: str,
    pubsub_host: str,
    results_topic: str,
    reauth_topic: str,
    authorize_url: str,
    gmail_push_topic: str = "",
    client_secrets: str,
    redirect_uri: str,
    sandbox_url: str | None,
    token_keys: Path | None = None,
) -> dict[str, str]:
    """The variables every locally served function gets.

    Args:
        sandbox_url: the sandbox's base URL in sandbox mode; None for real Google.
        token_keys: file of token-encryption keys, if the stack generated one.
    """
    env = {
        "GOOGLE_CLOUD_PROJECT": project,
        "FIRESTORE_EMULATOR_HOST": firestore_host,
        "PUBSUB_EMULATOR_HOST": pubsub_host,
        OAUTH_CLIENT_SECRETS: client_secrets,
        OAUTH_REDIRECT_URI: redirect_uri,
        "RESULTS_TOPIC": results_topic,
        "REAUTH_TOPIC": reauth_topic,
        **({"GMAIL_PUSH_TOPIC": gmail_push_topic} if gmail_push_topic else {}),
        "AUTHORIZE_URL": authorize_url,
        "ALLOWED_RETURN_TO": "",
        "PYTHONUNBUFFERED": "1",
    }
    if token_keys is not None:
        env["TOKEN_ENCRYPTION_KEYS"] = str(token_keys)
    if sandbox_url is not None:
        env.update(
            {
                "OIDC_USERINFO_URI": f"{sandbox_url}/v1/userinfo",
                "OAUTH_REVOKE_URI": f"{sandbox_url}/revoke",
                "GMAIL_API_ROOT": f"{sandbox_url}/",
                # oauthlib refuses plain-http token endpoints unless told; only ever locally.
                "OAUTHLIB_INSECURE_TRANSPORT": "1",
            }
        )
    return env
