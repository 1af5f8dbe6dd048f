"""Step 3 of the guide: who consented (the seed's ``get_user_info``), from the ID token.

The user is identified by the OpenID Connect ``sub`` claim: stable and never reassigned, unlike
the e-mail address. It becomes the Firestore document ID.

When ``openid`` is granted, the token response already carries an ID token with ``sub`` (and
``email`` with the email scope), so the callback waits on the provider once, not twice. OIDC
Core §3.1.3.7 (6) lets a client that received the ID token directly from the token endpoint
over TLS rely on that channel instead of checking the signature; the claims are still checked
(issuer, audience, authorized party, expiry). Without a usable ID token the userinfo endpoint
(OIDC Core §5.3) answers instead, as before.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeGuard
from urllib.parse import urlsplit

from functions.errors import UpstreamError

if TYPE_CHECKING:
    import requests

TIMEOUT_SECONDS = 10.0

# Google's token endpoint issues ID tokens as either spelling (Google's OpenID Connect guide,
# "Validating an ID token").
_GOOGLE_ENDPOINT_HOST = "oauth2.googleapis.com"
_GOOGLE_ISSUERS = frozenset({"https://accounts.google.com", "accounts.google.com"})
_CLOCK_SKEW_SECONDS = 300

# OIDC allows up to 255 ASCII characters (so at most 255 bytes, within Firestore's 1,500);
# Firestore forbids "/" in document IDs.
_SUBJECT = re.compile(r"^[\x21-\x2e\x30-\x7e]{1,255}$")


def is_user_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` can be a user's ID: an OIDC ``sub`` usable as a Firestore document ID.

    Firestore refuses a document ID that is ``.`` or ``..``, holds ``/``, is over 1,500 bytes,
    or matches ``__.*__`` (reserved; https://firebase.google.com/docs/firestore/quotas
    #collections_documents_and_fields). Such an ID, refused here, is a 400 or an acknowledged
    malformed request instead of a database error on every try.
    """
    return (
        isinstance(value, str)
        and bool(_SUBJECT.match(value))
        and value not in (".", "..")
        and not (value.startswith("__") and value.endswith("__"))
    )


@dataclass(frozen=True)
class UserInfo:
    """The claims we keep about the user."""

    sub: str
    email: str | None


def fetch_userinfo(session: requests.Session, userinfo_uri: str, access_token: str) -> UserInfo:
    """Ask the userinfo endpoint who owns ``access_token``.

    Raises:
        UpstreamError: the endpoint failed or answered without a usable ``sub``.
    """
    import requests

    try:
        response = session.get(
            userinfo_uri,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            timeout=TIMEOUT_SECONDS,
        )
    except requests.RequestException as error:
        raise UpstreamError(f"the userinfo endpoint failed: {type(error).__name__}") from None
    if response.status_code != 200:
        raise UpstreamError(f"the userinfo endpoint answered {response.status_code}")
    try:
        claims = response.json()
    except ValueError:
        raise UpstreamError("the userinfo endpoint did not answer JSON") from None
    subject = claims.get("sub") if isinstance(claims, dict) else None
    if not is_user_id(subject):
        raise UpstreamError("the userinfo endpoint answered without a usable sub")
    email = claims.get("email")
    return UserInfo(sub=subject, email=email if isinstance(email, str) and email else None)


def expected_issuers(token_uri: str) -> frozenset[str]:
    """The ``iss`` an ID token from ``token_uri`` may carry: Google's two spellings for Google's
    token endpoint; for any other provider, the endpoint's origin (OIDC Discovery §4.3 ties
    the issuer to the provider's own URL)."""
    parts = urlsplit(token_uri)
    if parts.hostname == _GOOGLE_ENDPOINT_HOST:
        return _GOOGLE_ISSUERS
    return frozenset({f"{parts.scheme}://{parts.netloc}"})


def user_from_id_token(
    id_token: str | None, *, client_id: str, token_uri: str, now: datetime
) -> UserInfo | None:
    """The user named by an ID token received straight from the token endpoint, or None when
    there is none or it does not hold up (then userinfo is asked instead).

    Checked as OIDC Core §3.1.3.7 asks of a token from the token endpoint: ``iss`` is the
    provider's, ``aud`` holds our client ID, ``azp`` (when present, or when there are several
    audiences) is our client ID, and ``exp`` has not passed.
    """
    claims = _payload(id_token) if id_token else None
    if claims is None:
        return None
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list) or client_id not in audiences:
        return None
    if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != client_id:
        return None
    if claims.get("iss") not in expected_issuers(token_uri):
        return None
    expires = claims.get("exp")
    if not isinstance(expires, int | float) or expires + _CLOCK_SKEW_SECONDS < now.timestamp():
        return None
    subject = claims.get("sub")
    if not is_user_id(subject):
        return None
    email = claims.get("email")
    return UserInfo(sub=subject, email=email if isinstance(email, str) and email else None)


def _payload(token: str) -> dict[str, Any] | None:
    """The claims of a compact JWS (RFC 7515 §7.1), or None if it is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    body = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(body.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        return None
    return claims if isinstance(claims, dict) else None
