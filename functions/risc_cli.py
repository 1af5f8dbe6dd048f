"""``python -m functions.cli risc register|status|verify``: the Cross-Account Protection stream.

Part of the operators' CLI (``functions.cli``, the same layer: it may import anything below).

Registration is an operator step (Google's page "Protect user accounts with Cross-Account
Protection", "Register your receiver"): the RISC API is called as a service account holding
``roles/riscconfigs.admin``, authorized by a JWT that account signs itself for the audience
:data:`AUDIENCE` (google-auth's ``jwt.Credentials``, an hour long). Two ways to sign it:

- ``--impersonate EMAIL`` (recommended; ``infra/`` creates ``risc-admin``): the operator's own
  credentials (``gcloud auth application-default login``) sign through the IAM Credentials API,
  which needs ``roles/iam.serviceAccountTokenCreator`` on that account only; no key exists;
- ``--credentials FILE``: a JSON key of the account, as Google's page describes.

``RISC_API_ROOT`` points the commands elsewhere than ``https://risc.googleapis.com/`` (the local
sandbox serves the same API).
"""

from __future__ import annotations

import argparse
import json
import os
import uuid
from typing import Any

from functions import config
from functions.errors import ConfigError, UpstreamError

AUDIENCE = "https://risc.googleapis.com/google.identity.risc.v1beta.RiscManagementService"
PUSH = "https://schemas.openid.net/secevent/risc/delivery-method/push"
TIMEOUT_SECONDS = 30.0


EXAMPLE_ACCOUNT = "risc-admin@PROJECT.iam.gserviceaccount.com"


def add_commands(commands: Any) -> None:
    """Add ``risc`` and its actions to the CLI's subparsers, in the CLI's help style."""
    risc = commands.add_parser(
        "risc",
        help="register Google's Cross-Account Protection stream, show it, verify it",
        description=(
            "Manage the Cross-Account Protection (RISC) stream that posts security events to the\n"
            "security_events function. Each action calls the RISC API as the risc-admin service\n"
            "account (--impersonate, recommended) or with a JSON key of it (--credentials);\n"
            "RISC_API_ROOT points it elsewhere than https://risc.googleapis.com/."
        ),
        epilog=(
            "Example:\n"
            "  python -m functions.cli risc register --receiver https://REGION-PROJECT"
            f".cloudfunctions.net/security_events --impersonate {EXAMPLE_ACCOUNT}"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = risc.add_subparsers(required=True, metavar="ACTION")

    def action(name: str, help: str, example: str) -> argparse.ArgumentParser:
        return actions.add_parser(  # type: ignore[no-any-return]
            name,
            help=help,
            description=f"{help[0].upper()}{help[1:]}.",
            epilog=f"Example:\n  python -m functions.cli risc {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    register = action(
        "register",
        "point Google's stream at the receiver, for every event type it acts on",
        f"register --receiver URL --impersonate {EXAMPLE_ACCOUNT}",
    )
    register.add_argument(
        "--receiver",
        required=True,
        metavar="URL",
        help="the security_events function's URL (https; Terraform output function_urls)",
    )
    register.set_defaults(run=register_stream)
    status = action(
        "status", "show the stream as Google has it", f"status --impersonate {EXAMPLE_ACCOUNT}"
    )
    status.set_defaults(run=show_stream)
    verify = action(
        "verify",
        "ask Google to send the receiver a verification event",
        f"verify --state check-1 --impersonate {EXAMPLE_ACCOUNT}",
    )
    verify.add_argument(
        "--state", help="a string to find in the receiver's log (default: a random one)"
    )
    verify.set_defaults(run=verify_stream)
    for sub in (register, status, verify):
        signer = sub.add_mutually_exclusive_group(required=True)
        signer.add_argument(
            "--impersonate",
            metavar="EMAIL",
            help="the RISC service account to sign as, through your own credentials (no key)",
        )
        signer.add_argument(
            "--credentials", metavar="FILE", help="a JSON key of that account, instead"
        )


def register_stream(args: argparse.Namespace, project: str) -> int:
    """``stream:update`` with the receiver and every event type the receiver acts on."""
    from functions.grants.security_events import EVENT_TYPES

    body = {
        "delivery": {"delivery_method": PUSH, "url": args.receiver},
        "events_requested": list(EVENT_TYPES),
    }
    _call(args, "POST", "v1beta/stream:update", body)
    print(f"stream registered: {args.receiver} receives {len(EVENT_TYPES)} event types")
    return 0


def show_stream(args: argparse.Namespace, project: str) -> int:
    """``GET stream``: print the configuration."""
    print(json.dumps(_call(args, "GET", "v1beta/stream"), indent=2))
    return 0


def verify_stream(args: argparse.Namespace, project: str) -> int:
    """``stream:verify``: Google sends a verification token carrying ``state`` to the receiver."""
    state = args.state or f"verify-{uuid.uuid4().hex[:12]}"
    _call(args, "POST", "v1beta/stream:verify", {"state": state})
    print(f"verification requested: look for state {state} in the receiver's log")
    return 0


def _call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    root = config.endpoint_url(
        config.RISC_API_ROOT,
        os.environ.get(config.RISC_API_ROOT, "").strip() or config.DEFAULT_RISC_API_ROOT,
    )
    session = _session(args)
    url = root.rstrip("/") + "/" + path
    import requests

    try:
        response = session.request(method, url, json=body, timeout=TIMEOUT_SECONDS)
    except requests.RequestException as error:
        raise UpstreamError(f"the RISC API could not be reached: {type(error).__name__}") from None
    if response.status_code >= 400:
        raise UpstreamError(f"the RISC API answered {response.status_code}: {_message(response)}")
    return response.json() if response.content else {}


def _session(args: argparse.Namespace) -> Any:
    """A requests session that sends the account's self-signed JWT (google-auth)."""
    from google.auth import jwt
    from google.auth.transport.requests import AuthorizedSession

    credentials: Any
    if args.credentials:
        from google.oauth2 import service_account

        try:
            account = service_account.Credentials.from_service_account_file(args.credentials)  # type: ignore[no-untyped-call]
        except (OSError, ValueError) as error:
            raise ConfigError(f"--credentials: not a service account key ({error})") from None
        credentials = jwt.Credentials.from_signing_credentials(account, audience=AUDIENCE)  # type: ignore[no-untyped-call]
    else:
        import google.auth
        from google.auth import iam
        from google.auth.transport.requests import Request

        source, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
        signer = iam.Signer(Request(), source, args.impersonate)  # type: ignore[no-untyped-call]
        credentials = jwt.Credentials(  # type: ignore[no-untyped-call]
            signer, issuer=args.impersonate, subject=args.impersonate, audience=AUDIENCE
        )
    return AuthorizedSession(credentials)  # type: ignore[no-untyped-call]


def _message(response: Any) -> str:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return str(response.text)[:200]
    if isinstance(error, dict):
        return str(error.get("message", ""))[:200]
    return str(error)[:200]
