"""OAuth scope strings as Google treats them: aliases, consent labels and the Gmail read set.

Google expands the short sign-in scopes in what it grants: a request for `email` comes back as
`https://www.googleapis.com/auth/userinfo.email` in the token response's `scope`. The sandbox does
the same so that code comparing granted scopes is tested against what Google really returns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

OPENID = "openid"
USERINFO_EMAIL = "https://www.googleapis.com/auth/userinfo.email"
USERINFO_PROFILE = "https://www.googleapis.com/auth/userinfo.profile"
_GMAIL = "https://www.googleapis.com/auth/gmail."
GMAIL_READONLY = _GMAIL + "readonly"
GMAIL_METADATA = _GMAIL + "metadata"
MAIL_FULL = "https://mail.google.com/"

#: Any of these lets a token list messages and read the profile.
GMAIL_READ_SCOPES = frozenset({GMAIL_READONLY, _GMAIL + "modify", GMAIL_METADATA, MAIL_FULL})

#: The scopes this Google knows: OpenID Connect's and the Gmail API's (`auth.oauth2.scopes` of
#: the gmail v1 discovery document). Google stops at its own "Error 400: invalid_scope" page for
#: anything else; the sandbox stands in for no other API, so it knows no other scopes.
KNOWN = frozenset(
    {OPENID, "email", "profile", USERINFO_EMAIL, USERINFO_PROFILE, MAIL_FULL}
    | {
        _GMAIL + name
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

_ALIASES = {"email": USERINFO_EMAIL, "profile": USERINFO_PROFILE}

_LABELS = {
    OPENID: "Associate you with your personal info on Google",
    USERINFO_EMAIL: "See your primary Google Account email address",
    USERINFO_PROFILE: (
        "See your personal info, including any personal info you've made publicly available"
    ),
    GMAIL_READONLY: "Read your email messages and settings",
    _GMAIL + "modify": "Read, compose, and send emails from your Gmail account",
    GMAIL_METADATA: (
        "View your email message metadata such as labels and headers, but not the email body"
    ),
    _GMAIL + "send": "Send email on your behalf",
    _GMAIL + "labels": "See and edit your email labels",
    _GMAIL + "compose": "Manage drafts and send emails",
    MAIL_FULL: "Read, compose, send, and permanently delete all your email from Gmail",
}

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]+$")


def normalize(scope: str) -> str:
    """Return the canonical form Google reports for `scope`."""
    return _ALIASES.get(scope, scope)


def normalize_all(scopes: Iterable[str]) -> tuple[str, ...]:
    """Canonicalise and de-duplicate, keeping first-seen order."""
    return tuple(dict.fromkeys(normalize(s) for s in scopes))


def parse(value: str) -> tuple[str, ...] | None:
    """Split a space-separated `scope` parameter; None when a token is malformed."""
    tokens = value.split()
    if not all(_SCOPE_TOKEN.match(token) for token in tokens):
        return None
    return tuple(dict.fromkeys(tokens))


def label(scope: str) -> str:
    """The human sentence the consent page shows for `scope`."""
    return _LABELS.get(normalize(scope), scope)
