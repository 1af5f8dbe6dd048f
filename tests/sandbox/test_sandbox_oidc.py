"""ID tokens in token responses, the signing keys and the discovery document (OpenID Connect)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sandbox import identity
from tests.sandbox.sandbox_helpers import CLIENT_ID, CLIENT_SECRET, EMAIL, GMAIL_READONLY

ISSUER = "http://localhost"  # the test client's host


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _verified_claims(http: Any, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of `token`, its RS256 signature checked against the jwks_uri keys."""
    discovery = http.get("/.well-known/openid-configuration").json
    jwks = http.get(discovery["jwks_uri"].removeprefix(ISSUER)).json
    header_b64, claims_b64, signature_b64 = token.split(".")
    header = json.loads(_b64decode(header_b64))
    [jwk] = [key for key in jwks["keys"] if key["kid"] == header["kid"]]
    public = rsa.RSAPublicNumbers(
        int.from_bytes(_b64decode(jwk["e"]), "big"), int.from_bytes(_b64decode(jwk["n"]), "big")
    ).public_key()
    public.verify(
        _b64decode(signature_b64),
        f"{header_b64}.{claims_b64}".encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    return header, json.loads(_b64decode(claims_b64))


def test_a_token_response_with_openid_carries_a_signed_id_token(http, tokens, clock):
    body = tokens(nonce="n-0S6_WzA2Mj")

    header, claims = _verified_claims(http, str(body["id_token"]))

    assert header["alg"] == "RS256"
    access = str(body["access_token"]).encode()
    at_hash = base64.urlsafe_b64encode(hashlib.sha256(access).digest()[:16]).rstrip(b"=")
    assert claims == {
        "iss": ISSUER,
        "azp": CLIENT_ID,
        "aud": CLIENT_ID,
        "sub": identity.user_id(EMAIL),
        "email": EMAIL,
        "email_verified": True,
        "at_hash": at_hash.decode(),
        "nonce": "n-0S6_WzA2Mj",
        "iat": int(clock.now),
        "exp": int(clock.now) + 3600,
    }


def test_a_forged_signature_does_not_verify(http, tokens):
    token = str(tokens()["id_token"])
    header, claims, signature = token.split(".")
    forged_claims = base64.urlsafe_b64encode(
        json.dumps({**json.loads(_b64decode(claims)), "sub": "1"}).encode()
    ).rstrip(b"=")

    with pytest.raises(InvalidSignature):
        _verified_claims(http, f"{header}.{forged_claims.decode()}.{signature}")


def test_claims_follow_the_granted_scopes(http, tokens):
    without_email = tokens(scopes=("openid", GMAIL_READONLY))
    without_openid = tokens(scopes=("email", GMAIL_READONLY))
    with_profile = tokens(scopes=("openid", "profile"))

    assert "email" not in _verified_claims(http, str(without_email["id_token"]))[1]
    assert "id_token" not in without_openid
    profile = _verified_claims(http, str(with_profile["id_token"]))[1]
    assert profile["name"] == "Ada Lovelace"
    assert "nonce" not in profile


def test_a_refresh_brings_a_new_id_token(http, tokens):
    refresh_token = tokens()["refresh_token"]

    refreshed = http.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    ).json

    claims = _verified_claims(http, refreshed["id_token"])[1]
    assert claims["sub"] == identity.user_id(EMAIL)
    assert claims["aud"] == CLIENT_ID


def test_the_discovery_document_names_the_issuer_and_every_endpoint(http):
    document = http.get("/.well-known/openid-configuration").json

    assert document["issuer"] == ISSUER
    for key, path in {
        "authorization_endpoint": "/o/oauth2/v2/auth",
        "token_endpoint": "/token",
        "userinfo_endpoint": "/v1/userinfo",
        "revocation_endpoint": "/revoke",
        "jwks_uri": "/oauth2/v3/certs",
    }.items():
        assert document[key] == ISSUER + path
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert "S256" in document["code_challenge_methods_supported"]
    jwks = http.get("/oauth2/v3/certs").json
    certs = http.get("/oauth2/v1/certs").json
    assert [key["kid"] for key in jwks["keys"]] == list(certs)
