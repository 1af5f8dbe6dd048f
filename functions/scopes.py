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

OIDC_SHORT_SCOPES = frozenset({"openid", "email", "profile"})
"""The only scopes Google accepts without a URL (OpenID Connect Core §5.4)."""
GMAIL_SCOPES = frozenset(
    {FULL_MAIL}
    | {
        GMAIL + name
        for name in (
            "addons.current.action.compose",
            "addons.current.message.action",
            "addons.current.message.metadata",
            "addons.current.message.readonly",
            "compose",
            "insert",
            "labels",
            "metadata",
            "modify",
            "readonly",
            "send",
            "settings.basic",
            "settings.sharing",
        )
    }
)
"""Every Gmail scope: ``auth.oauth2.scopes`` of the gmail v1 discovery document."""

_BROADER = {
    METADATA: frozenset({METADATA, READONLY, MODIFY, FULL_MAIL}),
    READONLY: frozenset({READONLY, MODIFY, FULL_MAIL}),
    MODIFY: frozenset({MODIFY, FULL_MAIL}),
}


def is_gmail_scope(scope: str) -> bool:
    """Whether ``scope`` grants access to Gmail data."""
    return scope.startswith(GMAIL) or scope == FULL_MAIL


def unknown_to_google(scope: str) -> bool:
    """Whether Google would refuse ``scope`` at consent (its own ``invalid_scope`` error page).

    Only what can be known here: a bare word other than OpenID Connect's, or a Gmail-looking
    scope that Gmail does not define (a misspelling). Other APIs' scope URLs are let through.
    """
    if "/" not in scope:
        return scope not in OIDC_SHORT_SCOPES
    return scope.startswith(GMAIL) and scope not in GMAIL_SCOPES


def missing_scopes(requested: tuple[str, ...], granted: tuple[str, ...]) -> tuple[str, ...]:
    """The requested Gmail scopes that nothing in ``granted`` satisfies."""
    have = set(granted)
    return tuple(
        scope
        for scope in requested
        if is_gmail_scope(scope) and not have & _BROADER.get(scope, frozenset({scope}))
    )
