"""The pending authorization between ``authorize`` and ``oauth2callback``, in one place.

RFC 6749 §10.12 and RFC 9700 §4.7 ask that ``state`` be unguessable and bound to the user agent
that started the flow; RFC 7636 (PKCE) asks that the code verifier reach nobody but the token
endpoint. So ``authorize`` draws a 256-bit ``state`` and a verifier and hands them to the browser
sealed in an HttpOnly cookie that lives ten minutes (:func:`seal_flow`): the browser carries what
it cannot read, the callback accepts a ``state`` only with the cookie sealed for it
(:func:`open_flow`), and a Firestore marker keyed by the state's digest makes each one usable
once (:class:`UsedStates`). ``authorize`` itself writes nothing anywhere, so anonymous clicks cost
no storage and its cold start pays for no database client.

The cookies: each flow gets its own, named after a digest of its ``state``, so parallel flows in
one browser (two tabs) never overwrite each other. The value is AES-256-GCM under ``COOKIE_KEYS``
(a secret of its own: neither public function holds a key that opens a stored token), with the
cookie's name as associated data: the browser can neither read the verifier nor move a sealed
value to another flow's name, and a rotated key keeps open flows working while the old key is
listed. Auth.js keeps its PKCE verifier the same way; the cookie is HttpOnly, SameSite=Lax (the
provider's redirect back is a top-level GET) and ``__Host-`` on https, so it is pinned to this
host. The success page's content travels the same way, for five minutes (:func:`seal_outcome`),
and so does every other outcome's page.

The used-state marker lives at ``{AUTH_SESSIONS_COLLECTION}/{sha256(state)}`` and is written with
``create()``, which fails when the document exists: an atomic test-and-set, no transaction. Its
``expires_at`` is the link's own, so a Firestore TTL policy can sweep it once the sealed cookie
has stopped working anyway. Only the digest is stored: a reader of the database learns nothing
to replay.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from functions.crypto import Keyring, TokenUnreadable
from functions.errors import InvalidState
from functions.web.responses import Cookie

if TYPE_CHECKING:
    from google.cloud import firestore

LIFETIME = timedelta(minutes=10)
"""How long a consent link stays usable."""
OUTCOME_LIFETIME = timedelta(minutes=5)
"""How long the page of an outcome stays viewable after the callback's clean-URL redirect."""

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
        pipeline: the pipeline the user is asked to grant, already checked against
            ``PIPELINES``; the grant records it.
        reconsent: set when this flow is itself the retry after no refresh token came back.
        expires_at: when the link stops working.
    """

    scopes: tuple[str, ...]
    expires_at: datetime
    login_hint: str | None = None
    return_to: str | None = None
    pipeline: str | None = None
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
    pipeline: str | None = None,
    reconsent: bool = False,
) -> PendingAuthorization:
    """A new pending authorization, usable for :data:`LIFETIME`."""
    return PendingAuthorization(
        scopes=scopes,
        expires_at=now + LIFETIME,
        login_hint=login_hint,
        return_to=return_to,
        pipeline=pipeline,
        reconsent=reconsent,
    )


@dataclass(frozen=True)
class Outcome:
    """What the page after the callback shows, kept briefly so the code never stays in the
    address bar: the callback answers every sign-in with a 303 to its bare URL, which shows it.

    Attributes:
        page: the page's name in ``functions.web.pages.OUTCOME_PAGES``.
        status: the HTTP status the page is served with.
        user_id, email, scopes: the account connected, or the permissions missing.
        pipeline: the pipeline the account was connected for.
        retry_url: where "Try again" leads, if trying again can help.
        reference: the reference of an unexpected failure, also in the logs.
    """

    user_id: str | None = None
    email: str | None = None
    scopes: tuple[str, ...] = ()
    pipeline: str | None = None
    page: str = "connected"
    status: int = 200
    retry_url: str | None = None
    reference: str | None = None


SECURE_PREFIX = "__Host-gmail-auth-"
"""On https: ``__Host-`` pins a cookie to this host, path ``/``, Secure."""
LOOPBACK_PREFIX = "gmail-auth-"
"""On a plain-http loopback callback, where browsers refuse ``__Host-`` cookies."""
MAX_FLOWS = 5
"""Open flows one browser keeps; starting another forgets the oldest, so headers stay small."""

_FLOW = "flow-"
_OUTCOME = "done"


def flow_cookie_name(state: str, *, secure: bool) -> str:
    """The cookie that carries the flow for ``state``."""
    return _prefix(secure) + _FLOW + digest(state)[:32]


def outcome_cookie_name(*, secure: bool) -> str:
    """The cookie that carries the success page's content."""
    return _prefix(secure) + _OUTCOME


def seal_flow(keys: Keyring, pending: PendingAuthorization, *, secure: bool) -> Cookie:
    """The cookie that hands ``pending`` to the callback."""
    name = flow_cookie_name(pending.state, secure=secure)
    payload = {
        "state": pending.state,
        "verifier": pending.code_verifier,
        "scopes": list(pending.scopes),
        "hint": pending.login_hint,
        "return_to": pending.return_to,
        "pipeline": pending.pipeline,
        "reconsent": pending.reconsent,
        "expires": pending.expires_at.timestamp(),
    }
    return Cookie(name, _seal(keys, name, "flow", payload), int(LIFETIME.total_seconds()))


def open_flow(
    keys: Keyring, cookies: Mapping[str, str], state: str, *, secure: bool, now: datetime
) -> PendingAuthorization:
    """The flow this browser started for ``state``.

    Raises:
        InvalidState: no cookie for it (another browser, or the browser dropped it when it
            expired), a cookie that does not open or belongs to another state, or a link past
            its lifetime.
    """
    if not is_well_formed(state):
        raise InvalidState("state is not of the shape we issue")
    name = flow_cookie_name(state, secure=secure)
    sealed = cookies.get(name)
    if sealed is None:
        raise InvalidState("no flow cookie for this state in this browser")
    payload = _open(keys, name, "flow", sealed)
    try:
        if not hmac.compare_digest(str(payload["state"]), state):
            raise InvalidState("the flow cookie belongs to another state")
        pending = PendingAuthorization(
            state=state,
            code_verifier=str(payload["verifier"]),
            scopes=tuple(str(scope) for scope in payload["scopes"]),
            login_hint=payload.get("hint"),
            return_to=payload.get("return_to"),
            pipeline=_optional_text(payload.get("pipeline")),
            reconsent=bool(payload.get("reconsent")),
            expires_at=datetime.fromtimestamp(float(payload["expires"]), UTC),
        )
    except (KeyError, TypeError, ValueError):
        raise InvalidState("the flow cookie is malformed") from None
    if pending.expires_at <= now:
        raise InvalidState("state has expired")
    return pending


def forget_flow(state: str, *, secure: bool) -> Cookie:
    """Delete the flow cookie for ``state``."""
    return Cookie.deletion(flow_cookie_name(state, secure=secure))


def crowded_flows(keys: Keyring, cookies: Mapping[str, str], *, secure: bool) -> list[Cookie]:
    """Deletions that leave room for one more flow: unreadable cookies first, then the oldest."""
    flow_prefix = _prefix(secure) + _FLOW

    def expiry(name: str) -> float:
        try:
            return float(_open(keys, name, "flow", cookies[name])["expires"])
        except (InvalidState, KeyError, TypeError, ValueError):
            return 0.0

    flows = sorted((name for name in cookies if name.startswith(flow_prefix)), key=expiry)
    excess = len(flows) - (MAX_FLOWS - 1)
    return [Cookie.deletion(name) for name in flows[: max(excess, 0)]]


def seal_outcome(keys: Keyring, outcome: Outcome, *, secure: bool, now: datetime) -> Cookie:
    """The cookie that lets the bare callback URL show the page of ``outcome``."""
    name = outcome_cookie_name(secure=secure)
    payload = {
        "page": outcome.page,
        "status": outcome.status,
        "user_id": outcome.user_id,
        "email": outcome.email,
        "scopes": list(outcome.scopes),
        "pipeline": outcome.pipeline,
        "retry_url": outcome.retry_url,
        "reference": outcome.reference,
        "expires": (now + OUTCOME_LIFETIME).timestamp(),
    }
    lifetime = int(OUTCOME_LIFETIME.total_seconds())
    return Cookie(name, _seal(keys, name, "outcome", payload), lifetime)


def open_outcome(
    keys: Keyring, cookies: Mapping[str, str], *, secure: bool, now: datetime
) -> Outcome | None:
    """The fresh outcome this browser carries, or ``None``."""
    name = outcome_cookie_name(secure=secure)
    sealed = cookies.get(name)
    if sealed is None:
        return None
    try:
        payload = _open(keys, name, "outcome", sealed)
        if float(payload["expires"]) <= now.timestamp():
            return None
        return Outcome(
            page=str(payload.get("page", "connected")),
            status=int(payload.get("status", 200)),
            user_id=payload.get("user_id"),
            email=payload.get("email"),
            scopes=tuple(str(scope) for scope in payload["scopes"]),
            pipeline=_optional_text(payload.get("pipeline")),
            retry_url=payload.get("retry_url"),
            reference=payload.get("reference"),
        )
    except (InvalidState, KeyError, TypeError, ValueError):
        return None


def _optional_text(value: object) -> str | None:
    """A sealed optional string; anything else (a cookie from before the field) is none."""
    return value if isinstance(value, str) and value else None


def _prefix(secure: bool) -> str:
    return SECURE_PREFIX if secure else LOOPBACK_PREFIX


def _seal(keys: Keyring, name: str, purpose: str, payload: Mapping[str, Any]) -> str:
    plaintext = json.dumps(payload, separators=(",", ":"))
    sealed = keys.seal(plaintext, user_id=name, purpose=purpose)
    blob = base64.urlsafe_b64encode(sealed["ciphertext"]).rstrip(b"=").decode("ascii")
    return f"{sealed['key_id']}.{blob}"


def _open(keys: Keyring, name: str, purpose: str, value: str) -> dict[str, Any]:
    """The payload of a cookie we sealed (authenticated, so its shape is the one we wrote)."""
    key_id, _, blob = value.rpartition(".")
    try:
        ciphertext = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
        payload = json.loads(
            keys.open({"key_id": key_id, "ciphertext": ciphertext}, user_id=name, purpose=purpose)
        )
    except (TokenUnreadable, binascii.Error, ValueError):
        raise InvalidState("the cookie does not open") from None
    if not isinstance(payload, dict):
        raise InvalidState("the cookie does not open")
    return payload


class UsedStates:
    """The states already spent, on a Firestore collection: each consent link works once."""

    def __init__(self, client: firestore.Client, collection: str) -> None:
        self._client = client
        self._collection = collection

    def spend(self, state: str, expires_at: datetime) -> None:
        """Mark ``state`` used; the mark may be forgotten after ``expires_at``.

        Raises:
            InvalidState: the state was used before.
        """
        from google.api_core.exceptions import AlreadyExists

        reference = self._client.collection(self._collection).document(digest(state))
        try:
            reference.create({"expires_at": expires_at})
        except AlreadyExists:
            raise InvalidState("state was already used") from None
