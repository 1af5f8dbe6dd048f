"""Reading credentials off a request: HTTP Basic client auth and RFC 6750 bearer tokens."""

from __future__ import annotations

from urllib.parse import unquote_plus

import flask


def bearer_token(request: flask.Request) -> str | None:
    """RFC 6750 §2.1: the token in `Authorization: Bearer <token>`, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def basic_client(request: flask.Request) -> tuple[str, tuple[str, ...]] | None:
    """RFC 6749 §2.3.1 Basic auth as (client_id, secret candidates), or None.

    The RFC form-encodes id and secret before Base64, but requests' HTTPBasicAuth (used by
    requests-oauthlib) does not, so both the raw and the decoded values are accepted.
    """
    auth = request.authorization
    if auth is None or auth.type != "basic" or auth.username is None:
        return None
    client_id = unquote_plus(auth.username) if "%" in auth.username else auth.username
    password = auth.password or ""
    return client_id, tuple(dict.fromkeys((password, unquote_plus(password))))
