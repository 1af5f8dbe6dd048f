"""Disconnecting a user: revoke the grant at the provider, then forget it here.

The document is deleted even when revocation fails (the provider is down, the token is already
dead or unreadable): keeping a token the user asked us to drop would be worse than leaving a
grant the user can still remove in their Google Account. The result says what happened to each.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from functions.config import Settings
from functions.consent.oauth_client import OAuthClient
from functions.consent.revoke import Revocation, revoke_token
from functions.crypto import TokenUnreadable
from functions.grants.store import GrantStore

if TYPE_CHECKING:
    import requests

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Disconnected:
    """The outcome of a disconnect."""

    user_id: str
    found: bool
    revocation: Revocation
    deleted: bool

    def as_json(self) -> dict[str, object]:
        """The JSON the ``disconnect`` function and CLI report."""
        return {
            "user_id": self.user_id,
            "found": self.found,
            "revocation": self.revocation.value,
            "deleted": self.deleted,
        }


class Disconnecting(Protocol):
    """What a disconnect uses (the composition root provides it)."""

    settings: Settings

    @property
    def token_store(self) -> GrantStore: ...
    @property
    def http(self) -> requests.Session: ...
    @property
    def oauth_client(self) -> OAuthClient: ...


def disconnect_user(services: Disconnecting, user_id: str) -> Disconnected:
    """Revoke and delete ``user_id``'s stored grant."""
    store = services.token_store
    try:
        stored = store.get(user_id)
    except TokenUnreadable:
        token, found = None, True
    else:
        token, found = (stored.refresh_token if stored else None), stored is not None
    if not found:
        return Disconnected(user_id, found=False, revocation=Revocation.SKIPPED, deleted=False)
    revocation = Revocation.FAILED
    if token is not None:
        settings = services.settings
        revocation = revoke_token(services.http, settings.revoke_uri, token, services.oauth_client)
    store.delete(user_id)
    result = Disconnected(user_id, found=True, revocation=revocation, deleted=True)
    logger.warning(
        "user disconnected", extra={"json_fields": {"event": "disconnect", **result.as_json()}}
    )
    return result
