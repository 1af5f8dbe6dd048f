"""The functions' configuration on a laptop: what a deployed function gets, and where Google is.

Each function gets the environment the deployment gives it (``infra/functions.json`` through
:mod:`devstack.deployment`, as Terraform and ``deploy.sh`` do) and the platform's own variables;
only the emulators' hosts and, in sandbox mode, the sandbox's endpoints are added. In real-Google
mode the user's client JSON and redirect URI pass through and the endpoints keep the product's
defaults (Google's). Variable names are the public contract (the README's Configuration).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from devstack import deployment
from devstack.deployment import Definition, Settings
from devstack.errors import DevStackError
from devstack.google_sandbox import CONSENT_PATH

OAUTH_CLIENT_SECRETS = "OAUTH_CLIENT_SECRETS"
OAUTH_REDIRECT_URI = "OAUTH_REDIRECT_URI"
OAUTH_CLIENT_ID = "OAUTH_CLIENT_ID"
SANDBOX_CLIENT_ID = "sbx-local.apps.sandbox.test"
"""The client the sandbox registers for the local stack: known before it starts, so that
``authorize`` is given it as ``OAUTH_CLIENT_ID``, as deployed."""


@dataclass(frozen=True)
class RealGoogle:
    """The user's own OAuth client, for running the stack against real Google.

    Attributes:
        client_secrets: path of the client JSON, or its Secret Manager version name.
        redirect_uri: the callback URL registered with that client.
        client_id: its ID (``OAUTH_CLIENT_ID``, else read from the JSON file).
    """

    client_secrets: str
    redirect_uri: str
    client_id: str = ""


def real_google_from_env(environ: Mapping[str, str]) -> RealGoogle | None:
    """Real-Google mode when both client variables are set; sandbox mode when neither is.

    Raises:
        DevStackError: when only one of the two is set, which is surely a mistake.
    """
    secrets = environ.get(OAUTH_CLIENT_SECRETS, "").strip()
    redirect = environ.get(OAUTH_REDIRECT_URI, "").strip()
    if secrets and redirect:
        client_id = environ.get(OAUTH_CLIENT_ID, "").strip() or _client_id_in(secrets)
        return RealGoogle(client_secrets=secrets, redirect_uri=redirect, client_id=client_id)
    if secrets or redirect:
        missing = OAUTH_REDIRECT_URI if secrets else OAUTH_CLIENT_SECRETS
        raise DevStackError(
            f"{missing} is not set: set both {OAUTH_CLIENT_SECRETS} and {OAUTH_REDIRECT_URI} "
            "to use real Google, or neither to use the sandbox."
        )
    return None


def _client_id_in(client_json: str) -> str:
    """The ``web.client_id`` of a client JSON file; empty when it cannot be read (a Secret Manager
    version: then ``OAUTH_CLIENT_ID`` must be given)."""
    try:
        document = json.loads(Path(client_json).expanduser().read_text(encoding="utf-8"))
        return str(document["web"]["client_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""


LOCAL_ONLY = frozenset(
    {
        "FIRESTORE_EMULATOR_HOST",
        "PUBSUB_EMULATOR_HOST",
        "OAUTH_AUTH_URI",
        "OIDC_USERINFO_URI",
        "OAUTH_REVOKE_URI",
        "GMAIL_API_ROOT",
        "OAUTHLIB_INSECURE_TRANSPORT",
        "ACCOUNT_PERMISSIONS_URL",
        "RISC_CONFIGURATION_URI",
    }
)
"""The only variables a locally served function has beyond what a deployed one gets: where the
emulators are and, in sandbox mode, the sandbox's endpoints (Google's are the code's defaults)."""


def function_environments(
    *,
    settings: Settings,
    firestore_host: str,
    pubsub_host: str,
    authorize_url: str,
    redirect_uri: str,
    secrets_root: Path,
    sandbox_url: str | None,
    client_secrets: str | None = None,
    definition: Definition | None = None,
) -> dict[str, dict[str, str]]:
    """Each function's variables, as deployed (``infra/functions.json``) plus :data:`LOCAL_ONLY`.

    Every function gets what Terraform and ``deploy.sh`` give it and what Cloud Run functions
    sets itself (``FUNCTION_TARGET``, ``K_SERVICE``, ``LOG_EXECUTION_ID``, ...), with its
    secrets read from files laid out under ``secrets_root`` as they are mounted in production.

    Args:
        settings: the deployment settings of the local stack (project, topic IDs).
        authorize_url, redirect_uri: the public URLs, on localhost.
        secrets_root: the folder that stands in for the root of a deployed function's file
            system: the secrets are at ``secrets_root/etc/secrets/...``.
        sandbox_url: the sandbox's base URL in sandbox mode; None for real Google.
        client_secrets: a Secret Manager version name to read the client from instead of the
            mounted file (real-Google mode only).
    """
    definition = definition or deployment.load()
    environments = {}
    for function in definition.functions.values():
        env = {
            **deployment.platform_environment(function),
            **deployment.environment(
                function,
                definition,
                settings,
                authorize_url=authorize_url,
                redirect_uri=redirect_uri,
                secrets_root=str(secrets_root),
            ),
            "FIRESTORE_EMULATOR_HOST": firestore_host,
            "PUBSUB_EMULATOR_HOST": pubsub_host,
        }
        if client_secrets is not None and OAUTH_CLIENT_SECRETS in env:
            env[OAUTH_CLIENT_SECRETS] = client_secrets
        if sandbox_url is not None:
            env.update(
                {
                    "OAUTH_AUTH_URI": f"{sandbox_url}{CONSENT_PATH}",
                    "OIDC_USERINFO_URI": f"{sandbox_url}/v1/userinfo",
                    "OAUTH_REVOKE_URI": f"{sandbox_url}/revoke",
                    "GMAIL_API_ROOT": f"{sandbox_url}/",
                    # the success page links where people remove access: the sandbox's page
                    "ACCOUNT_PERMISSIONS_URL": f"{sandbox_url}/connections",
                    "RISC_CONFIGURATION_URI": f"{sandbox_url}/.well-known/risc-configuration",
                    # oauthlib refuses plain-http token endpoints unless told; only ever locally.
                    "OAUTHLIB_INSECURE_TRANSPORT": "1",
                }
            )
        environments[function.key] = env
    return environments
