"""Cross-Account Protection: Google's security event tokens, validated and acted on.

Google posts a security event token (SET, RFC 8417: a signed JWT whose ``events`` claim names
what happened to whom) to the registered receiver, as RFC 8935 push delivery. As Google's page
"Protect user accounts with Cross-Account Protection" (https://developers.google.com/identity/risc)
requires, each token is validated before anything in it is believed:

1. the issuer and the signing keys come from the RISC configuration document
   (``RISC_CONFIGURATION_URI``: its ``issuer`` and ``jwks_uri``), cached per instance;
2. the header's ``kid`` names a key of that set and the RS256 signature verifies with it;
3. ``iss`` is the document's issuer and ``aud`` one of our client IDs (``RISC_AUDIENCES``, by
   default the OAuth client's); ``exp`` is not checked: the events are historical;
4. ``jti`` is recorded once (``SECURITY_EVENTS_COLLECTION``, with ``expires_at`` for a TTL
   policy): a redelivered event is acknowledged again and changes nothing more.

Then each event acts on the user its subject names (``iss-sub``: our user ID is Google's ``sub``)
or whose refresh token it identifies (``token-revoked``: ``hash_base64_sha512_sha512`` or
``prefix``, matched against one-way digests kept beside the sealed token):

- tokens revoked: status ``revoked``, both tokens deleted, a re-auth event;
- account disabled for ``hijacking``: ``reauth_required``, cached access token dropped, the stored
  refresh token no longer used, a re-auth event; listings are refused until the user consents;
- account purged: the user's document deleted;
- credential change required, sessions revoked, account enabled or disabled for another reason:
  recorded as the user's last security event and logged;
- verification: logged (with its ``state``) and acknowledged.

Each event acted on for a user is logged once as ``event: "security_event"`` with ``event_type``
(the type URI's last segment, e.g. ``account-disabled``) and ``user_id`` (the operator metric
``security_events`` of ``infra/log_metrics.json`` counts these lines); never the token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from functions.consent.identify import is_user_id
from functions.consent.oauth_client import ClientID
from functions.errors import SecurityEventRejected, TransientError, UpstreamError
from functions.grants.access import AccessTokenCache
from functions.grants.reauth import Reauthorizing, notify_reauth

if TYPE_CHECKING:
    import requests
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from google.cloud import firestore

logger = logging.getLogger(__name__)

RISC = "https://schemas.openid.net/secevent/risc/event-type/"
OAUTH = "https://schemas.openid.net/secevent/oauth/event-type/"
SESSIONS_REVOKED = RISC + "sessions-revoked"
TOKENS_REVOKED = OAUTH + "tokens-revoked"
TOKEN_REVOKED = OAUTH + "token-revoked"
ACCOUNT_DISABLED = RISC + "account-disabled"
ACCOUNT_ENABLED = RISC + "account-enabled"
ACCOUNT_PURGED = RISC + "account-purged"
CREDENTIAL_CHANGE_REQUIRED = RISC + "account-credential-change-required"
VERIFICATION = RISC + "verification"
EVENT_TYPES = (
    SESSIONS_REVOKED,
    TOKENS_REVOKED,
    TOKEN_REVOKED,
    ACCOUNT_DISABLED,
    ACCOUNT_ENABLED,
    ACCOUNT_PURGED,
    CREDENTIAL_CHANGE_REQUIRED,
    VERIFICATION,
)
"""Every event type this receiver acts on: what ``risc register`` asks Google for."""

CACHE_SECONDS = 3600.0
"""How long an instance keeps the configuration document and the key set."""
REFETCH_SECONDS = 60.0
"""An unknown ``kid`` refetches the key set (Google rotates keys), at most this often."""
JTI_RETENTION = timedelta(days=30)
"""How long received ``jti`` values are kept: Google redelivers for a limited time only."""
MAX_TOKEN_BYTES = 16 * 1024
TIMEOUT_SECONDS = 10.0


class ReceivingSecurityEvents(Reauthorizing, Protocol):
    """What receiving security events uses (the composition root provides it)."""

    @property
    def firestore(self) -> firestore.Client: ...
    @property
    def access_tokens(self) -> AccessTokenCache: ...
    @property
    def client_id(self) -> ClientID: ...
    @property
    def http(self) -> requests.Session: ...


@dataclass(frozen=True)
class SecurityEvent:
    """One validated token: its ID and its events (type → details)."""

    jti: str
    issued_at: int
    events: dict[str, dict[str, Any]]


@dataclass
class _Fetched:
    value: dict[str, Any]
    at: float


@dataclass
class TokenValidator:
    """Validates security event tokens against one RISC configuration document.

    Keeps the document and its key set for ``CACHE_SECONDS`` (one instance, many events).
    """

    configuration_uri: str
    audiences: tuple[str, ...]
    http: requests.Session
    clock: Callable[[], float] = time.monotonic
    _configuration: _Fetched | None = field(default=None, repr=False)
    _keys: _Fetched | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def validate(self, token: str) -> SecurityEvent:
        """The token's claims, once its signature, issuer and audience hold.

        Raises:
            SecurityEventRejected: for anything that does not hold (RFC 8935 ``err`` set).
            UpstreamError: the configuration document or key set could not be read.
        """
        header, claims, signing_input, signature = _split(token)
        if header.get("alg") != "RS256":
            raise SecurityEventRejected("the token is not signed with RS256", err="invalid_key")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise SecurityEventRejected("the token names no signing key", err="invalid_key")
        configuration = self.configuration()
        key = self._key(kid, str(configuration["jwks_uri"]))
        _verify(key, signing_input, signature)
        if claims.get("iss") != configuration["issuer"]:
            raise SecurityEventRejected("the token's issuer is not expected", err="invalid_issuer")
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience
        if not isinstance(audiences, list) or not set(map(str, audiences)) & set(self.audiences):
            raise SecurityEventRejected(
                "the token is not addressed to this client", err="invalid_audience"
            )
        jti, issued_at, events = claims.get("jti"), claims.get("iat"), claims.get("events")
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            raise SecurityEventRejected("the token has no jti")
        if not isinstance(issued_at, int) or isinstance(issued_at, bool):
            raise SecurityEventRejected("the token has no iat")
        if not isinstance(events, dict) or not events:
            raise SecurityEventRejected("the token has no events")
        details = {
            str(kind): body if isinstance(body, dict) else {} for kind, body in events.items()
        }
        return SecurityEvent(jti=jti, issued_at=issued_at, events=details)

    def configuration(self) -> dict[str, Any]:
        """The RISC configuration document (``issuer``, ``jwks_uri``), cached."""
        with self._lock:
            if self._configuration is None or self._stale(self._configuration, CACHE_SECONDS):
                document = self._fetch(self.configuration_uri)
                if not isinstance(document.get("issuer"), str) or not isinstance(
                    document.get("jwks_uri"), str
                ):
                    raise UpstreamError("the RISC configuration lacks issuer or jwks_uri")
                self._configuration = _Fetched(document, self.clock())
            return self._configuration.value

    def _key(self, kid: str, jwks_uri: str) -> RSAPublicKey:
        with self._lock:
            if self._keys is None or self._stale(self._keys, CACHE_SECONDS):
                self._keys = _Fetched(self._fetch(jwks_uri), self.clock())
            found = _find_key(self._keys.value, kid)
            if found is None and self._stale(self._keys, REFETCH_SECONDS):
                self._keys = _Fetched(self._fetch(jwks_uri), self.clock())
                found = _find_key(self._keys.value, kid)
        if found is None:
            raise SecurityEventRejected("no signing key has the token's kid", err="invalid_key")
        return found

    def _stale(self, fetched: _Fetched, seconds: float) -> bool:
        return self.clock() - fetched.at >= seconds

    def _fetch(self, url: str) -> dict[str, Any]:
        import requests

        try:
            response = self.http.get(url, timeout=TIMEOUT_SECONDS)
            response.raise_for_status()
            document = response.json()
        except (requests.RequestException, ValueError) as error:
            raise UpstreamError(f"reading {url} failed: {type(error).__name__}") from None
        if not isinstance(document, dict):
            raise UpstreamError(f"{url} did not answer a JSON object")
        return document


def validator_for(services: ReceivingSecurityEvents) -> TokenValidator:
    """The instance's validator: ``RISC_CONFIGURATION_URI``, audiences as configured (by
    default our client's ID, ``OAUTH_CLIENT_ID``: the receiver mounts no client secret)."""
    settings = services.settings
    audiences = settings.risc_audiences or (services.client_id.client_id,)
    return TokenValidator(settings.risc_configuration_uri, audiences, services.http)


# -- acting on an event --------------------------------------------------------------------


def receive(services: ReceivingSecurityEvents, validator: TokenValidator, token: str) -> str:
    """Validate ``token``, record its ``jti`` once, act on its events.

    Returns:
        ``"processed"``, or ``"duplicate"`` for a ``jti`` already received (nothing done).

    Raises:
        SecurityEventRejected: the token is invalid (nothing was changed).
        UpstreamError, TransientError: worth a retry by the transmitter (the ``jti`` is released).
    """
    event = validator.validate(token)
    ledger = JtiLedger(services.firestore, services.settings.security_events_collection)
    if not ledger.claim(event.jti, services.now()):
        logger.info("security event received again", extra=_fields(jti=event.jti))
        return "duplicate"
    try:
        for kind, details in event.events.items():
            act(services, event.jti, kind, details)
    except Exception:
        ledger.release(event.jti)
        raise
    return "processed"


def act(services: ReceivingSecurityEvents, jti: str, kind: str, details: Mapping[str, Any]) -> None:
    """Do what one event of the token asks (see the module docstring)."""
    name = kind.rsplit("/", 1)[-1]
    if kind == VERIFICATION:
        logger.info("security event stream verified", extra=_fields(state=details.get("state")))
        return
    subject = details.get("subject")
    subject = subject if isinstance(subject, dict) else {}
    users = _subject_users(services, subject)
    reason = details.get("reason") if isinstance(details.get("reason"), str) else None
    if not users:
        logger.info("security event for no stored user", extra=_fields(event_type=name, jti=jti))
        return
    store = services.token_store
    now = services.now()
    for user_id in users:
        fields = _fields(
            event="security_event", event_type=name, jti=jti, user_id=user_id, reason=reason
        )
        if kind == ACCOUNT_PURGED:
            store.delete(user_id)
            logger.warning("account purged: user deleted", extra=fields)
            continue
        if store.describe(user_id) is None:
            continue
        record: dict[str, Any] = {"type": name, "at": now, "jti": jti}
        if reason:
            record["reason"] = reason
        store.record_security_event(user_id, record)
        if kind in (TOKENS_REVOKED, TOKEN_REVOKED):
            store.revoke(user_id, name.replace("-", "_"), now)
            _tell(services, user_id)
            logger.warning("grant revoked at Google: tokens deleted", extra=fields)
        elif kind == ACCOUNT_DISABLED and reason == "hijacking":
            services.reauth_status.mark_required(user_id, "account_hijacked", now)
            services.access_tokens.clear(user_id)
            _tell(services, user_id)
            logger.warning("account hijacked: consent required", extra=fields)
        else:
            logger.warning("security event recorded", extra=fields)


def _tell(services: ReceivingSecurityEvents, user_id: str) -> None:
    """Publish the re-auth event unless it was published already (a redelivery after a crash)."""
    stored = services.token_store.describe(user_id)
    if stored is not None and not stored.reauth_notified:
        reason = stored.status_reason or stored.status.value
        notify_reauth(services, stored, reason)


def _subject_users(services: ReceivingSecurityEvents, subject: Mapping[str, Any]) -> list[str]:
    """Our user IDs for an event's subject."""
    if subject.get("subject_type") == "oauth_token":
        algorithm, value = subject.get("token_identifier_alg"), subject.get("token")
        if not isinstance(algorithm, str) or not isinstance(value, str) or not value:
            return []
        if algorithm == "hash_base64_sha512_sha512":
            value = _standard_base64(value)
            if value is None:
                return []
        found = services.token_store.find_by_token_identifier(algorithm, value)
        # A prefix names a token only when it names exactly one of ours.
        return found if len(found) == 1 else []
    sub = subject.get("sub")
    # Only a possible user ID reaches the database: a reserved or refused document ID would be a
    # Firestore error on every retry of the transmitter.
    return [sub] if is_user_id(sub) else []


def _standard_base64(value: str) -> str | None:
    """A SHA-512 digest in base64 (standard or URL-safe, padded or not), as we store it."""
    padded = value + "=" * (-len(value) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) != hashlib.sha512().digest_size:
        return None
    return base64.b64encode(raw).decode("ascii")


class JtiLedger:
    """Received ``jti`` values, one document each (keyed by a digest), with ``expires_at``."""

    def __init__(self, client: firestore.Client, collection: str) -> None:
        self._client = client
        self._collection = collection

    def claim(self, jti: str, now: datetime) -> bool:
        """Record ``jti``; ``False`` when it was recorded before."""
        from google.api_core.exceptions import AlreadyExists

        try:
            self._document(jti).create({"received_at": now, "expires_at": now + JTI_RETENTION})
        except AlreadyExists:
            return False
        except Exception as error:
            from functions import google_errors

            classified = google_errors.classify(error)
            raise (classified or TransientError("recording the jti failed")) from None
        return True

    def release(self, jti: str) -> None:
        """Forget ``jti`` after a failure, so the transmitter's retry is acted on."""
        try:
            self._document(jti).delete()
        except Exception:  # the retry is then acknowledged as a duplicate: logged, not hidden
            logger.exception("releasing a security event's jti failed", extra=_fields(jti=jti))

    def _document(self, jti: str) -> firestore.DocumentReference:
        name = hashlib.sha256(jti.encode("utf-8")).hexdigest()
        document: firestore.DocumentReference = self._client.collection(self._collection).document(
            name
        )
        return document


# -- JWS (RFC 7515 compact serialization) ---------------------------------------------------


def _split(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    parts = token.split(".")
    if len(parts) != 3 or not all(parts[:2]):
        raise SecurityEventRejected("the body is not a signed JWT")
    try:
        header = json.loads(_b64decode(parts[0]))
        claims = json.loads(_b64decode(parts[1]))
        signature = _b64decode(parts[2])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise SecurityEventRejected("the JWT does not decode") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise SecurityEventRejected("the JWT's header or claims are not objects")
    return header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _find_key(jwks: Mapping[str, Any], kid: str) -> RSAPublicKey | None:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

    for jwk in jwks.get("keys") or []:
        if not isinstance(jwk, dict) or jwk.get("kid") != kid or jwk.get("kty") != "RSA":
            continue
        try:
            n = int.from_bytes(_b64decode(str(jwk["n"])), "big")
            e = int.from_bytes(_b64decode(str(jwk["e"])), "big")
            return RSAPublicNumbers(e, n).public_key()
        except (KeyError, ValueError, binascii.Error):
            return None
    return None


def _verify(key: RSAPublicKey, signing_input: bytes, signature: bytes) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise SecurityEventRejected(
            "the token's signature does not verify", err="invalid_key"
        ) from None


def _fields(**fields: object) -> dict[str, dict[str, object]]:
    return {"json_fields": {key: value for key, value in fields.items() if value is not None}}


__all__ = [
    "EVENT_TYPES",
    "MAX_TOKEN_BYTES",
    "ReceivingSecurityEvents",
    "SecurityEvent",
    "TokenValidator",
    "act",
    "receive",
    "validator_for",
]
