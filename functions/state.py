"""The pending authorization between ``authorize`` and ``oauth2callback``.

RFC 6749 §10.12 and RFC 9700 §4.7 ask that ``state`` be unguessable and bound to the user agent
that started the flow; RFC 7636 (PKCE) asks that the code verifier stay on the server. So
``authorize`` draws a 256-bit ``state`` and a verifier, keeps them server-side for ten minutes,
and sets an HttpOnly cookie holding a random browser binding; the callback accepts the ``state``
once, and only from the browser carrying that cookie. Only hashes of ``state`` and the binding are
stored, so a reader of the database cannot replay either.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

LIFETIME = timedelta(minutes=10)
"""How long a consent link stays usable."""

SECURE_COOKIE = "__Host-gmail-auth-binding"
"""The binding cookie's name on https: ``__Host-`` pins it to this host, path ``/``, Secure."""
LOOPBACK_COOKIE = "gmail-auth-binding"
"""Its name on a plain-http loopback callback, where browsers refuse ``__Host-`` cookies."""

_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,128}$")


def cookie_name(secure: bool) -> str:
    """The binding cookie's name for this deployment."""
    return SECURE_COOKIE if secure else LOOPBACK_COOKIE


def new_binding() -> str:
    """A fresh browser binding (256 random bits)."""
    return secrets.token_urlsafe(32)


def is_well_formed(value: str | None) -> bool:
    """Whether a ``state`` or binding value has the shape we issue (cheap pre-check)."""
    return value is not None and bool(_TOKEN.match(value))


def digest(value: str) -> str:
    """SHA-256 of a high-entropy value: what we store instead of the value itself."""
    return hashlib.sha256(value.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class PendingAuthorization:
    """What ``authorize`` keeps for the callback.

    Attributes:
        state: the value sent to the provider (never stored; its digest is the record's key).
        binding_digest: digest of the browser binding cookie this flow belongs to.
        code_verifier: the PKCE verifier (RFC 7636 §4.1), sent only to the token endpoint.
        scopes: the scopes requested, the granted ones when the provider omits ``scope``.
        login_hint: the e-mail hinted at the consent page, if any.
        return_to: where to send the browser after success, already checked.
        reconsent: set when this flow is itself the retry after no refresh token came back.
        expires_at: when the link stops working.
    """

    binding_digest: str
    scopes: tuple[str, ...]
    expires_at: datetime
    login_hint: str | None = None
    return_to: str | None = None
    reconsent: bool = False
    state: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    code_verifier: str = field(default_factory=lambda: secrets.token_urlsafe(64))

    def __repr__(self) -> str:
        return f"PendingAuthorization(expires_at={self.expires_at!r}, reconsent={self.reconsent})"

    def is_bound_to(self, binding: str | None) -> bool:
        """Whether the browser presenting ``binding`` is the one that started this flow."""
        if not is_well_formed(binding):
            return False
        assert binding is not None
        return hmac.compare_digest(digest(binding), self.binding_digest)


def start(
    *,
    binding: str,
    scopes: tuple[str, ...],
    now: datetime,
    login_hint: str | None = None,
    return_to: str | None = None,
    reconsent: bool = False,
) -> PendingAuthorization:
    """A new pending authorization for the browser holding ``binding``."""
    return PendingAuthorization(
        binding_digest=digest(binding),
        scopes=scopes,
        expires_at=now + LIFETIME,
        login_hint=login_hint,
        return_to=return_to,
        reconsent=reconsent,
    )


OUTCOME_LIFETIME = timedelta(minutes=5)
"""How long the success page stays viewable after the callback's clean-URL redirect."""


@dataclass(frozen=True)
class Outcome:
    """What the success page shows, kept briefly so the code never stays in the address bar."""

    user_id: str
    email: str | None
    scopes: tuple[str, ...]


class StateStore(Protocol):
    """Keeps pending authorizations; each can be taken back exactly once."""

    def put(self, pending: PendingAuthorization) -> None:
        """Keep ``pending`` until it is consumed or expires."""

    def consume(self, state: str, binding: str | None, now: datetime) -> PendingAuthorization:
        """Return and forget the authorization for ``state`` if ``binding`` owns it.

        Raises:
            InvalidState: unknown, already used, expired, or bound to another browser.
        """
        ...

    def put_outcome(self, binding: str, outcome: Outcome, now: datetime) -> None:
        """Keep the success page's content for the browser holding ``binding``."""

    def get_outcome(self, binding: str | None, now: datetime) -> Outcome | None:
        """The outcome kept for this browser, if it is still fresh."""
        ...
