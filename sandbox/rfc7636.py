"""PKCE (RFC 7636): validating a code challenge and checking the verifier against it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

S256 = "S256"
PLAIN = "plain"
METHODS = frozenset({S256, PLAIN})

# §4.1: code-verifier = 43*128unreserved; an S256 challenge (43 chars) fits the same shape.
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


def s256(verifier: str) -> str:
    """§4.2: BASE64URL-ENCODE(SHA256(ASCII(code_verifier))) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def is_well_formed(value: str) -> bool:
    """True when `value` is a syntactically valid verifier or challenge."""
    return bool(_VERIFIER.match(value))


def verify(method: str, challenge: str, verifier: str) -> bool:
    """§4.6: does `verifier` prove possession for `challenge`?"""
    if not is_well_formed(verifier):
        return False
    expected = s256(verifier) if method == S256 else verifier
    return hmac.compare_digest(expected.encode(), challenge.encode())
