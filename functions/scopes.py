"""Which granted scopes satisfy which requested ones (granular consent).

Google lets people untick permissions on the consent page, and the token response's ``scope``
says what was actually granted (Google's "granular permissions" guidance). A Gmail scope we
requested is satisfied by itself or by a broader Gmail scope; non-Gmail scopes (``openid``,
``email``) are not required for reading a mailbox.
"""

from __future__ import annotations

GMAIL = "https://www.googleapis.com/auth/gmail."
FULL_MAIL = "https://mail.google.com/"
READONLY = GMAIL + "readonly"
METADATA = GMAIL + "metadata"
MODIFY = GMAIL + "modify"

_BROADER = {
    METADATA: frozenset({METADATA, READONLY, MODIFY, FULL_MAIL}),
    READONLY: frozenset({READONLY, MODIFY, FULL_MAIL}),
    MODIFY: frozenset({MODIFY, FULL_MAIL}),
}


def is_gmail_scope(scope: str) -> bool:
    """Whether ``scope`` grants access to Gmail data."""
    return scope.startswith(GMAIL) or scope == FULL_MAIL


def missing_scopes(requested: tuple[str, ...], granted: tuple[str, ...]) -> tuple[str, ...]:
    """The requested Gmail scopes that nothing in ``granted`` satisfies."""
    have = set(granted)
    return tuple(
        scope
        for scope in requested
        if is_gmail_scope(scope) and not have & _BROADER.get(scope, frozenset({scope}))
    )
