"""OpenID Connect as Google serves it: signed ID tokens, the signing keys, the discovery document.

- ID tokens: OpenID Connect Core §2 and §3.1.3.6, as Google's "OpenID Connect" guide lists their
  claims (https://developers.google.com/identity/openid-connect/openid-connect#an-id-tokens-payload):
  `iss`, `azp` and `aud` (the client ID), `sub`, `email` and `email_verified` with the email
  scope, `at_hash`, `iat`, `exp` (an hour later), `nonce` when the request had one; RS256 with
  a `kid` (RFC 7515, RFC 7518 §3.3).
- Keys: as a JWK Set (RFC 7517) at the discovery document's `jwks_uri` (Google's
  `/oauth2/v3/certs`) and as `{kid: PEM certificate}` at `/oauth2/v1/certs`, the older format
  google-auth's `verify_token(..., certs_url=...)` reads without PyJWT.
- Discovery: OpenID Connect Discovery 1.0 §3, at `/.well-known/openid-configuration`.

The issuer is the sandbox's own base URL (Discovery §4.3: `iss` must equal the document's
`issuer`). One key pair per process, made when first needed: tests start many sandboxes.
"""

from __future__ import annotations

import base64
import datetime
import functools
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from sandbox import identity, scopes

ID_TOKEN_LIFETIME = 3600
JWKS_PATH = "/oauth2/v3/certs"
X509_CERTS_PATH = "/oauth2/v1/certs"
DISCOVERY_PATH = "/.well-known/openid-configuration"


@dataclass(frozen=True)
class SigningKey:
    """The private key, its key ID and a self-signed certificate for the public half."""

    private: rsa.RSAPrivateKey
    kid: str
    certificate_pem: str

    def jwk(self) -> dict[str, str]:
        """The public key as an RFC 7517 JWK for RS256 signatures."""
        numbers = self.private.public_key().public_numbers()
        return {
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": self.kid,
            "n": _b64(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": _b64(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
        }


@functools.cache
def signing_key() -> SigningKey:
    """This process's RS256 key, made on first use."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    kid = hashlib.sha256(der).hexdigest()[:40]
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sandbox.test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(private, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
    return SigningKey(private, kid, pem)


def jwks() -> dict[str, list[dict[str, str]]]:
    """The JWK Set served at `jwks_uri`."""
    return {"keys": [signing_key().jwk()]}


def x509_certs() -> dict[str, str]:
    """`{kid: PEM certificate}`, Google's `/oauth2/v1/certs` format."""
    key = signing_key()
    return {key.kid: key.certificate_pem}


def id_token(
    *,
    issuer: str,
    client_id: str,
    email: str,
    granted: Iterable[str],
    access_token: str,
    now: float,
    nonce: str | None = None,
) -> str:
    """A signed ID token for `email`, carrying the claims the granted scopes allow."""
    granted = set(granted)
    issued = int(now)
    claims: dict[str, object] = {
        "iss": issuer,
        "azp": client_id,
        "aud": client_id,
        "sub": identity.user_id(email),
    }
    if scopes.USERINFO_EMAIL in granted:
        claims.update(email=email, email_verified=True)
    claims["at_hash"] = _b64(hashlib.sha256(access_token.encode("ascii")).digest()[:16])
    if scopes.USERINFO_PROFILE in granted:
        name = identity.display_name(email)
        given, _, family = name.partition(" ")
        claims.update(name=name, given_name=given, family_name=family or given)
    if nonce is not None:
        claims["nonce"] = nonce
    claims.update(iat=issued, exp=issued + ID_TOKEN_LIFETIME)
    return sign(claims)


def sign(claims: dict[str, object]) -> str:
    """`claims` as a compact JWS, RS256 with this process's key."""
    key = signing_key()
    header = {"alg": "RS256", "kid": key.kid, "typ": "JWT"}
    signing_input = f"{_b64(_json(header))}.{_b64(_json(claims))}".encode("ascii")
    signature = key.private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input.decode('ascii')}.{_b64(signature)}"


def discovery(base_url: str) -> dict[str, object]:
    """The OpenID Provider Metadata for a sandbox reached at `base_url` (no trailing slash)."""
    return {
        "issuer": base_url,
        "authorization_endpoint": base_url + "/o/oauth2/v2/auth",
        "token_endpoint": base_url + "/token",
        "userinfo_endpoint": base_url + "/v1/userinfo",
        "revocation_endpoint": base_url + "/revoke",
        "jwks_uri": base_url + JWKS_PATH,
        "response_types_supported": ["code"],
        "authorization_response_iss_parameter_supported": True,  # RFC 9207 §3
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": [
            "aud",
            "email",
            "email_verified",
            "exp",
            "family_name",
            "given_name",
            "iat",
            "iss",
            "name",
            "sub",
        ],
        "code_challenge_methods_supported": ["plain", "S256"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
    }


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
