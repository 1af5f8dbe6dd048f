"""Revoking a refresh token at the provider (RFC 7009), so disconnecting really ends the grant.

The client authenticates with HTTP Basic as RFC 7009 §2.1 asks of confidential clients; Google
ignores it and revokes the whole grant either way.
"""

from __future__ import annotations

import enum
import logging

import requests

from functions.consent.oauth_client import OAuthClient

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0


class Revocation(enum.StrEnum):
    """What the revocation endpoint did with a token."""

    REVOKED = "revoked"
    ALREADY_INVALID = "already_invalid"
    FAILED = "failed"
    SKIPPED = "skipped"


def revoke_token(
    session: requests.Session, revoke_uri: str, token: str, client: OAuthClient
) -> Revocation:
    """Ask the provider to revoke ``token``; never raises, the outcome says what happened."""
    try:
        response = session.post(
            revoke_uri,
            data={"token": token, "token_type_hint": "refresh_token"},
            auth=(client.client_id, client.client_secret),
            timeout=TIMEOUT_SECONDS,
        )
    except requests.RequestException as error:
        logger.warning(
            "revocation endpoint unreachable",
            extra={"json_fields": {"error": type(error).__name__}},
        )
        return Revocation.FAILED
    if response.status_code == 200:
        return Revocation.REVOKED
    if response.status_code == 400 and _error(response) == "invalid_token":
        return Revocation.ALREADY_INVALID
    logger.warning("revocation refused", extra={"json_fields": {"status": response.status_code}})
    return Revocation.FAILED


def _error(response: requests.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None
