"""Step 3 of the guide: who consented (the seed's ``get_user_info``), from OIDC userinfo.

The user is identified by the OpenID Connect ``sub`` claim (OIDC Core §5.3): stable and never
reassigned, unlike the e-mail address. It becomes the Firestore document ID.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeGuard

from functions.errors import UpstreamError

if TYPE_CHECKING:
    import requests

TIMEOUT_SECONDS = 10.0

# OIDC allows up to 255 ASCII characters; Firestore forbids "/" in document IDs.
_SUBJECT = re.compile(r"^[\x21-\x2e\x30-\x7e]{1,255}$")


def is_user_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` can be a user's ID: an OIDC ``sub`` usable as a Firestore document ID."""
    return isinstance(value, str) and bool(_SUBJECT.match(value)) and value not in (".", "..")


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
