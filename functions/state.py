"""The pending authorization between ``authorize`` and ``oauth2callback``.

RFC 6749 §10.12 and RFC 9700 §4.7 ask that ``state`` be unguessable and bound to the user agent
that started the flow; RFC 7636 (PKCE) asks that the code verifier reach nobody but the token
endpoint. So ``authorize`` draws a 256-bit ``state`` and a verifier and hands them to the browser
sealed (AES-256-GCM, see ``functions.flow_cookies``) in an HttpOnly cookie that lives ten
minutes: the browser carries what it cannot read, the callback accepts a ``state`` only with the
cookie sealed for it, and a Firestore marker keyed by the state's digest makes each one usable
once. ``authorize`` itself writes nothing anywhere, so anonymous clicks cost no storage and its
cold start pays for no database client.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

LIFETIME = timedelta(minutes=10)
"""How long a consent link stays usable."""
OUTCOME_LIFETIME = timedelta(minutes=5)
"""How long the success page stays viewable after the callback's clean-URL redirect."""

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,128}$")


def is_well_formed(value: str | None) -> bool:
    """Whether a ``state`` value has the shape we issue (cheap pre-check)."""
    return value is not None and bool(_TOKEN.match(value))


def digest(value: str) -> str:
    """SHA-256 of a high-entropy value: what we store instead of the value itself."""
    return hashlib.sha256(value.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class PendingAuthorization:
    """What ``authorize`` hands the callback, through the browser, sealed.

    Attributes:
        state: the value sent to the provider.
        code_verifier: the PKCE verifier (RFC 7636 §4.1), sent only to the token endpoint.
        scopes: the scopes requested, the granted ones when the provider omits ``scope``.
        login_hint: the e-mail hinted at the consent page, if any.
        return_to: where to send the browser after success, already checked.
        reconsent: set when this flow is itself the retry after no refresh token came back.
        expires_at: when the link stops working.
    """

    scopes: tuple[str, ...]
    expires_at: datetime
    login_hint: str | None = None
    return_to: str | None = None
    reconsent: bool = False
    state: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    code_verifier: str = field(default_factory=lambda: secrets.token_urlsafe(64))

    def __repr__(self) -> str:
        return f"PendingAuthorization(expires_at={self.expires_at!r}, reconsent={self.reconsent})"


def start(
    *,
    scopes: tuple[str, ...],
    now: datetime,
    login_hint: str | None = None,
    return_to: str | None = None,
    reconsent: bool = False,
) -> PendingAuthorization:
    """A new pending authorization, usable for :data:`LIFETIME`."""
    return PendingAuthorization(
        scopes=scopes,
        expires_at=now + LIFETIME,
        login_hint=login_hint,
        return_to=return_to,
        reconsent=reconsent,
    )


@dataclass(frozen=True)
class Outcome:
    """What the success page shows, kept briefly so the code never stays in the address bar."""

    user_id: str
    email: str | None
    scopes: tuple[str, ...]


class StateStore(Protocol):
    """Remembers which states were used, so that each works once."""

    def spend(self, state: str, expires_at: datetime) -> None:
        """Mark ``state`` used; the mark may be forgotten after ``expires_at``.

        Raises:
            InvalidState: the state was used before.
        """
