"""Cross-Account Protection (RISC) as Google serves it: configuration, stream API, pushed SETs.

- The RISC configuration document at `/.well-known/risc-configuration` (Google's at
  accounts.google.com): `issuer` (the base URL with a trailing slash, as Google's
  `https://accounts.google.com/`) and `jwks_uri`, the same keys as the ID tokens (`oidc`).
- The stream management API of https://developers.google.com/identity/risc ("Register your
  receiver"): `POST /v1beta/stream:update`, `GET /v1beta/stream`, `POST /v1beta/stream:verify`,
  authorized by a JWT the service account signs itself (`iss` = `sub` = its e-mail, `aud` =
  :data:`MANAGEMENT_AUDIENCE`, at most an hour long), with the page's error messages. Service
  account keys come from the `/_sandbox/service-accounts` hook, as the console's "Create key".
- Security event tokens (RFC 8417; the events of Google's "Supported event types", plus
  `account-purged` of the OpenID RISC profile), signed RS256 with `typ: secevent+jwt` and pushed
  to the stream's receiver as RFC 8935 describes (`Content-Type: application/secevent+jwt`). The
  `/_sandbox/risc/events` hook emits one on command, valid or deliberately invalid (a forged
  signature, another issuer, another audience) or replays one already sent.

Google refuses receivers that are not HTTPS; the sandbox accepts plain http on loopback only.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sandbox import identity, oidc
from sandbox.errors import ApiError, invalid_argument, permission_denied

if TYPE_CHECKING:
    from sandbox.state import SandboxState

CONFIGURATION_PATH = "/.well-known/risc-configuration"
MANAGEMENT_AUDIENCE = (
    "https://risc.googleapis.com/google.identity.risc.v1beta.RiscManagementService"
)
PUSH = "https://schemas.openid.net/secevent/risc/delivery-method/push"
_RISC = "https://schemas.openid.net/secevent/risc/event-type/"
_OAUTH = "https://schemas.openid.net/secevent/oauth/event-type/"
EVENT_TYPES: dict[str, str] = {
    "sessions-revoked": _RISC + "sessions-revoked",
    "tokens-revoked": _OAUTH + "tokens-revoked",
    "token-revoked": _OAUTH + "token-revoked",
    "account-disabled": _RISC + "account-disabled",
    "account-enabled": _RISC + "account-enabled",
    "account-purged": _RISC + "account-purged",
    "account-credential-change-required": _RISC + "account-credential-change-required",
    "verification": _RISC + "verification",
}
INVALID = ("wrong_signature", "wrong_issuer", "wrong_audience")
"""The deliberately invalid tokens the emit hook can send."""
DELIVERY_TIMEOUT = 10.0
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
_MAX_TOKEN_SECONDS = 3600


@dataclass(frozen=True)
class ServiceAccount:
    """A service account key the sandbox issued: who signs, and the public half."""

    email: str
    project_id: str
    key_id: str
    public_key: rsa.RSAPublicKey


@dataclass
class Stream:
    """A project's event stream: where tokens go and which event types it wants."""

    url: str
    events_requested: list[str]
    status: str = "enabled"


@dataclass(frozen=True)
class Delivery:
    """What pushing one token to the receiver gave."""

    jti: str
    status: int
    body: Any
    delivered: bool = True

    def as_dict(self) -> dict[str, Any]:
        """The JSON the emit hook answers."""
        return {
            "jti": self.jti,
            "delivered": self.delivered,
            "status": self.status,
            "body": self.body,
        }


@dataclass
class RiscState:
    """Streams, service account keys and sent tokens, behind a lock of their own.

    Never held while a token is pushed: the receiver calls the sandbox back (the configuration
    document, the keys).
    """

    streams: dict[str, Stream] = field(default_factory=dict)
    accounts: dict[str, ServiceAccount] = field(default_factory=dict)
    sent: dict[str, tuple[str, str]] = field(default_factory=dict)  # jti → (project, token)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def create_key(self, email: str, project_id: str) -> dict[str, str]:
        """A new key for the service account `email`: the console's JSON key file."""
        if identity.normalize_email(email) is None:
            raise ValueError(f"not a service account e-mail: {email!r}")
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_id = secrets.token_hex(20)
        with self._lock:
            self.accounts[key_id] = ServiceAccount(email, project_id, key_id, private.public_key())
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")
        return {
            "type": "service_account",
            "project_id": project_id,
            "private_key_id": key_id,
            "private_key": pem,
            "client_email": email,
            "client_id": str(int(hashlib.sha256(email.encode()).hexdigest()[:15], 16)),
            "token_uri": "https://oauth2.googleapis.com/token",
        }

    def authenticate(self, authorization: str, now: float) -> ServiceAccount:
        """The service account whose self-signed JWT `authorization` carries.

        Raises:
            ApiError: 401 for a missing, malformed, forged or expired token; 403 when it is not
                a service account's.
        """
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise _unauthorized()
        try:
            header, claims, signing_input, signature = _split(token.strip())
        except ValueError:
            raise _unauthorized() from None
        with self._lock:
            account = self.accounts.get(str(header.get("kid", "")))
        if account is None:
            raise permission_denied(
                "Stream management APIs should only be called by a service account."
            )
        try:
            account.public_key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise _unauthorized() from None
        issued, expires = claims.get("iat"), claims.get("exp")
        if (
            claims.get("aud") != MANAGEMENT_AUDIENCE
            or claims.get("iss") != account.email
            or claims.get("sub") != account.email
            or not isinstance(issued, int)
            or not isinstance(expires, int)
            or expires <= now
            or issued > now + 300
            or expires - issued > _MAX_TOKEN_SECONDS
        ):
            raise _unauthorized()
        return account

    def update_stream(self, project_id: str, config: Mapping[str, Any]) -> Stream:
        """`stream:update`: validate and store the project's stream (Google's error texts).

        Raises:
            ApiError: 400 for a missing field, 403 for a receiver that is not HTTPS.
        """
        delivery = config.get("delivery")
        if not isinstance(delivery, dict):
            raise invalid_argument("Stream configuration must contain delivery field.")
        url = delivery.get("url")
        if delivery.get("delivery_method") != PUSH or not isinstance(url, str):
            raise invalid_argument("Stream configuration must contain delivery.url field.")
        parts = urlsplit(url)
        if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in _LOOPBACK):
            raise permission_denied("The delivery endpoint must be an HTTPS URL.")
        requested = config.get("events_requested")
        if not isinstance(requested, list) or not requested:
            raise invalid_argument("Stream configuration must contain events_requested field.")
        known = set(EVENT_TYPES.values())
        stream = Stream(url, [str(e) for e in requested if e in known])
        with self._lock:
            self.streams[project_id] = stream
        return stream

    def stream(self, project_id: str) -> Stream | None:
        """The project's stream, or None."""
        with self._lock:
            return self.streams.get(project_id)

    def remember(self, jti: str, project_id: str, token: str) -> None:
        """Keep a sent token, so that it can be replayed."""
        with self._lock:
            self.sent[jti] = (project_id, token)

    def sent_token(self, jti: str) -> tuple[str, str] | None:
        """(project, token) of a token sent before, or None."""
        with self._lock:
            return self.sent.get(jti)


def configuration(base_url: str) -> dict[str, object]:
    """The RISC configuration document of a sandbox reached at `base_url` (no trailing slash)."""
    return {
        "issuer": issuer(base_url),
        "jwks_uri": base_url + oidc.JWKS_PATH,
        "delivery_methods_supported": [PUSH],
        "configuration_endpoint": base_url + "/v1beta/stream:update",
        "status_endpoint": base_url + "/v1beta/stream/status",
        "verification_endpoint": base_url + "/v1beta/stream:verify",
    }


def issuer(base_url: str) -> str:
    """The `iss` of the sandbox's security event tokens."""
    return base_url.rstrip("/") + "/"


def token_identifier(token: str, algorithm: str) -> str:
    """Google's identifier of a refresh token: `prefix` or `hash_base64_sha512_sha512`."""
    if algorithm == "prefix":
        return token[:16]
    inner = hashlib.sha512(token.encode()).digest()
    return base64.b64encode(hashlib.sha512(inner).digest()).decode("ascii")


def emit(
    state: SandboxState,
    base_url: str,
    event: str,
    *,
    email: str | None = None,
    reason: str | None = None,
    verification_state: str | None = None,
    invalid: str | None = None,
    token_identifier_alg: str = "hash_base64_sha512_sha512",  # noqa: S107 - an algorithm
    project_id: str | None = None,
) -> Delivery:
    """Make the event happen at "Google" and push its token to the project's receiver.

    Revocations take effect first (`tokens-revoked`, `token-revoked`, `account-disabled` for
    hijacking, `account-purged`), as they have at Google when the token is sent.

    Raises:
        ValueError: an unknown event or invalid kind, no stream, no user for a user event.
    """
    kind = EVENT_TYPES.get(event)
    if kind is None:
        raise ValueError(f"unknown event {event!r}: one of {', '.join(EVENT_TYPES)}")
    if invalid is not None and invalid not in INVALID:
        raise ValueError(f"invalid must be one of {', '.join(INVALID)}")
    project, stream = _stream(state, project_id)
    details: dict[str, object] = {}
    if event == "verification":
        details["state"] = verification_state or ""
    else:
        address = identity.normalize_email(email or "")
        if address is None:
            raise ValueError("this event needs the user's email")
        if event == "token-revoked":
            tokens = state.refresh_tokens(address)
            if not tokens:
                raise ValueError(f"{address} holds no refresh token")
            details["subject"] = {
                "subject_type": "oauth_token",
                "token_type": "refresh_token",
                "token_identifier_alg": token_identifier_alg,
                "token": token_identifier(tokens[0].value, token_identifier_alg),
            }
            if invalid is None:
                state.revoke_token(tokens[0].value)
        else:
            details["subject"] = {
                "subject_type": "iss-sub",
                "iss": issuer(base_url),
                "sub": identity.user_id(address),
            }
        if event == "account-disabled":
            details["reason"] = reason or "hijacking"
        revokes = event in ("tokens-revoked", "account-purged") or (
            event == "account-disabled" and details["reason"] == "hijacking"
        )
        if revokes and invalid is None:
            state.revoke_user(address)
    clients = state.clients_of(project)
    if not clients:
        raise ValueError(f"project {project} has no OAuth client")
    claims: dict[str, object] = {
        "iss": "https://attacker.example/" if invalid == "wrong_issuer" else issuer(base_url),
        "aud": "someone-else.apps.sandbox.test"
        if invalid == "wrong_audience"
        else clients[0].client_id,
        "iat": int(state.clock()),
        "jti": secrets.token_hex(16),
        "events": {kind: details},
    }
    token = sign(claims, forged=invalid == "wrong_signature")
    jti = str(claims["jti"])
    state.risc.remember(jti, project, token)
    if kind not in stream.events_requested or stream.status != "enabled":
        return Delivery(jti, 0, None, delivered=False)
    return push(stream.url, token, jti)


def replay(state: SandboxState, jti: str) -> Delivery:
    """Push a token sent before again, byte for byte.

    Raises:
        ValueError: no token with that `jti` was sent.
    """
    sent = state.risc.sent_token(jti)
    if sent is None:
        raise ValueError(f"no token with jti {jti!r} was sent")
    project, token = sent
    _, stream = _stream(state, project)
    return push(stream.url, token, jti)


def push(url: str, token: str, jti: str) -> Delivery:
    """RFC 8935 §2: POST the token; the receiver answers 202, or 400 with `err`."""
    import requests

    with requests.Session() as session:
        session.trust_env = False  # a local receiver: never through a proxy
        response = session.post(
            url,
            data=token.encode("ascii"),
            headers={
                "Content-Type": "application/secevent+jwt",
                "Accept": "application/json",
            },
            timeout=DELIVERY_TIMEOUT,
        )
    try:
        body: Any = response.json() if response.content else None
    except ValueError:
        body = response.text
    return Delivery(jti, response.status_code, body)


def sign(claims: Mapping[str, object], *, forged: bool = False) -> str:
    """`claims` as a SET: RS256 under the ID-token key's `kid` (another key when `forged`)."""
    key = oidc.signing_key()
    private = _forger() if forged else key.private
    header = {"alg": "RS256", "kid": key.kid, "typ": "secevent+jwt"}
    signing_input = f"{_b64(_json(header))}.{_b64(_json(claims))}".encode("ascii")
    signature = private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input.decode('ascii')}.{_b64(signature)}"


def stream_json(
    state: SandboxState, base_url: str, project_id: str, stream: Stream
) -> dict[str, Any]:
    """`GET /v1beta/stream`: the stream as configured, with what is supported and delivered."""
    supported = list(EVENT_TYPES.values())
    return {
        "iss": issuer(base_url),
        "aud": [client.client_id for client in state.clients_of(project_id)],
        "jwks_uri": base_url + oidc.JWKS_PATH,
        "delivery": {"delivery_method": PUSH, "url": stream.url},
        "events_supported": supported,
        "events_requested": stream.events_requested,
        "events_delivered": [e for e in stream.events_requested if e in supported],
        "status": stream.status,
    }


def _stream(state: SandboxState, project_id: str | None) -> tuple[str, Stream]:
    if project_id is None:
        with state.risc._lock:
            projects = list(state.risc.streams)
        if len(projects) != 1:
            raise ValueError("name the project_id: the sandbox has no single stream")
        project_id = projects[0]
    stream = state.risc.stream(project_id)
    if stream is None:
        raise ValueError(f"project {project_id} has no RISC stream: register one first")
    return project_id, stream


@functools.cache
def _forger() -> rsa.RSAPrivateKey:
    """A key that is not Google's: what a forged token is signed with."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _unauthorized() -> ApiError:
    return ApiError(401, "UNAUTHENTICATED", "Unauthorized.", "authError")


def _split(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a JWS")
    header = json.loads(_unb64(parts[0]))
    claims = json.loads(_unb64(parts[1]))
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("not a JWT")
    return header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), _unb64(parts[2])


def _unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


__all__ = ["EVENT_TYPES", "INVALID", "MANAGEMENT_AUDIENCE", "RiscState", "emit", "replay"]
