"""The HTML pages people see after consent: short, plain, and self-contained.

Pages carry no external assets and only one inline stylesheet, whose hash the Content Security
Policy names, so ``default-src 'none'`` holds. Every value is escaped; nothing from the request is
echoed back.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from html import escape

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;"
    "color:#1f1f1f;background:#fff;line-height:1.5}h1{font-size:1.5rem}"
    "a.button{display:inline-block;padding:.5rem 1rem;border-radius:4px;background:#0b57d0;"
    "color:#fff;text-decoration:none}code{background:#f1f3f4;padding:0 .25rem}"
)
STYLE_HASH = "sha256-" + base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()

SCOPE_LABELS = {
    "openid": "Know who you are on Google",
    "email": "See your primary email address",
    "https://www.googleapis.com/auth/userinfo.email": "See your primary email address",
    "https://www.googleapis.com/auth/gmail.readonly": "Read your email messages and settings",
    "https://www.googleapis.com/auth/gmail.metadata": "See your email labels and headers",
    "https://www.googleapis.com/auth/gmail.modify": "Read, compose and send email",
}


@dataclass(frozen=True)
class Page:
    """A rendered page and the status it is served with."""

    status: int
    html: str


def _render(status: int, title: str, body: str) -> Page:
    html = (
        '<!doctype html>\n<html lang="en" dir="ltr"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main><h1>{escape(title)}</h1>{body}</main></body></html>\n"
    )
    return Page(status, html)


def connected(user_id: str, email: str | None, scopes: tuple[str, ...]) -> Page:
    """The account is connected: which one, and what it allowed.

    The account ID is shown because it is what pipelines put in a mailbox request.
    """
    who = f"<strong>{escape(email)}</strong>" if email else "Your Google Account"
    granted = "".join(
        f"<li>{escape(SCOPE_LABELS.get(scope, scope))}</li>"
        for scope in dict.fromkeys(SCOPE_LABELS.get(s, s) for s in scopes)
    )
    return _render(
        200,
        "Your account is connected",
        f"<p>{who} is now connected. The service may:</p><ul>{granted}</ul>"
        f"<p>Account ID: <code>{escape(user_id)}</code></p>"
        "<p>You can close this page. To disconnect, remove the app's access in your Google "
        "Account's security settings (Third-party apps &amp; services).</p>",
    )


def missing_permission(scopes: tuple[str, ...], retry_url: str) -> Page:
    """A required permission was unticked: name it, and offer to ask again."""
    names = "".join(f"<li>{escape(SCOPE_LABELS.get(scope, scope))}</li>" for scope in scopes)
    return _render(
        403,
        "A permission is missing",
        "<p>The service needs this permission to work, but it was not granted:</p>"
        f"<ul>{names}</ul><p>Nothing was stored. To connect your account, try again and leave "
        "the permission ticked.</p>"
        f'<p><a class="button" href="{escape(retry_url)}">Try again</a></p>',
    )


def declined() -> Page:
    """The user pressed Cancel at the consent page."""
    return _render(
        403,
        "Nothing was connected",
        "<p>You declined access, so no account was connected and nothing was stored. "
        "If that was a mistake, open the link you were given again.</p>",
    )


def link_invalid() -> Page:
    """Unknown, used, expired or foreign ``state``: start again."""
    return _render(
        400,
        "This sign-in link has expired",
        "<p>The link is older than ten minutes, was already used, or was opened in another "
        "browser. Nothing was stored. Please start again from the link you were given.</p>",
    )


def bad_request(status: int = 400) -> Page:
    """The request itself was malformed."""
    return _render(
        status,
        "This request could not be understood",
        "<p>Something in the link is missing or malformed, so nothing was done. Please start "
        "again from the link you were given.</p>",
    )


def provider_error() -> Page:
    """The provider sent the user back with an error."""
    return _render(
        400,
        "Google could not complete the sign-in",
        "<p>The sign-in was not completed, so nothing was stored. Please start again from the "
        "link you were given.</p>",
    )


def failure(status: int, reference: str) -> Page:
    """Our fault or the provider's: a reference that appears in the logs."""
    return _render(
        status,
        "Something went wrong",
        "<p>We could not connect your account this time, and nothing was stored. Please try "
        "again in a few minutes. If it keeps happening, give this reference to the people "
        f"who sent you here: <code>{escape(reference)}</code></p>",
    )
