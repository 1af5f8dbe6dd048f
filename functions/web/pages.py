"""The HTML pages people see after consent: short, plain, self-contained, in their language.

Pages carry no external assets, no script and one inline stylesheet, whose hash the Content
Security Policy names, so ``default-src 'none'`` holds. Each page is written in the language
negotiated from the request's ``Accept-Language`` (:mod:`functions.web.i18n`), with ``lang`` and
``dir`` set on ``<html>``. Translations are text: they are escaped like every other value, and the
few bits of markup (an e-mail address, an ID) are put into them with ``%`` after escaping. Nothing
from the request is echoed back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from html import escape

from functions.web import i18n
from functions.web.i18n import N_
from functions.web.style import STYLE

SCOPE_LABELS = {
    "openid": N_("Know who you are on Google"),
    "email": N_("See your primary email address"),
    "https://www.googleapis.com/auth/userinfo.email": N_("See your primary email address"),
    "https://www.googleapis.com/auth/gmail.readonly": N_("Read your email messages and settings"),
    "https://www.googleapis.com/auth/gmail.metadata": N_("See your email labels and headers"),
    "https://www.googleapis.com/auth/gmail.modify": N_("Read, compose and send email"),
}
"""What each scope lets the service do, in English (the message IDs of their translations)."""


@dataclass(frozen=True)
class Page:
    """A rendered page, the status it is served with, and the language it is written in."""

    status: int
    html: str
    language: str = i18n.DEFAULT_LANGUAGE


class _Html:
    """gettext for HTML in one language: each translation comes back escaped.

    The result is safe HTML that may still hold ``%(name)s`` placeholders; callers fill them with
    markup they escaped themselves.
    """

    def __init__(self, language: i18n.Language) -> None:
        self.language = language

    def gettext(self, message: str) -> str:
        return escape(self.language.translations.gettext(message), quote=False)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return escape(self.language.translations.ngettext(singular, plural, n), quote=False)


def _html(language: str | None) -> _Html:
    return _Html(i18n.language(language or i18n.current_language()))


def _render(text: _Html, status: int, title: str, body: str) -> Page:
    """The whole document; ``title`` and ``body`` are HTML already."""
    language = text.language
    html = (
        f'<!doctype html>\n<html lang="{language.tag}" dir="{language.direction}"><head>'
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{STYLE}</style></head>"
        f"<body><main><h1>{title}</h1>{body}</main></body></html>\n"
    )
    return Page(status, html, language.tag)


def _scope_list(text: _Html, scopes: Iterable[str]) -> str:
    """One ``<li>`` per distinct permission; a scope we have no words for is shown as is."""
    items = dict.fromkeys(
        text.gettext(SCOPE_LABELS[scope])
        if scope in SCOPE_LABELS
        else f"<code>{escape(scope)}</code>"
        for scope in scopes
    )
    return "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def connected(
    user_id: str, email: str | None, scopes: tuple[str, ...], *, language: str | None = None
) -> Page:
    """The account is connected: which one, what it allowed, and how to disconnect it.

    The account ID is shown because it is what pipelines put in a mailbox request.
    """
    text = _html(language)
    _ = text.gettext
    if email:
        # TRANSLATORS: %(email)s is the address of the Google Account that was connected.
        who = _("%(email)s is now connected. The service may:") % {
            "email": f"<strong><bdi>{escape(email)}</bdi></strong>"
        }
    else:
        who = _("Your Google Account is now connected. The service may:")
    # TRANSLATORS: the ID that pipelines use to read this account's mailbox.
    account_id = _("Account ID: %(account_id)s") % {"account_id": f"<code>{escape(user_id)}</code>"}
    # TRANSLATORS: "Security" and "Third-party apps & services" are the names Google Account
    # gives those pages in your language.
    disconnect = _(
        "You can close this page. To disconnect later, remove this app's access in your "
        "Google Account, under Security → Third-party apps & services."
    )
    return _render(
        text,
        200,
        _("Your account is connected"),
        f"<p>{who}</p>{_scope_list(text, scopes)}<p>{account_id}</p><p>{disconnect}</p>",
    )


def missing_permission(
    scopes: tuple[str, ...], retry_url: str, *, language: str | None = None
) -> Page:
    """A required permission was unticked: name it, and offer to ask again."""
    text = _html(language)
    ngettext, n = text.ngettext, len(scopes)
    needed = ngettext(
        "The service needs this permission to work, but it was not granted:",
        "The service needs these permissions to work, but they were not granted:",
        n,
    )
    retry = ngettext(
        "Nothing was stored. To connect your account, try again and leave the permission ticked.",
        "Nothing was stored. To connect your account, try again and leave the permissions ticked.",
        n,
    )
    try_again = text.gettext("Try again")
    button = f'<a class="button" href="{escape(retry_url)}">{try_again}</a>'
    return _render(
        text,
        403,
        ngettext("A permission is missing", "Some permissions are missing", n),
        f"<p>{needed}</p>{_scope_list(text, scopes)}<p>{retry}</p><p>{button}</p>",
    )


def declined(*, language: str | None = None) -> Page:
    """The user pressed Cancel at the consent page."""
    text = _html(language)
    _ = text.gettext
    return _render(
        text,
        403,
        _("Nothing was connected"),
        _paragraph(
            _(
                "You declined access, so no account was connected and nothing was stored. If "
                "that was a mistake, open the link you were given again."
            )
        ),
    )


def link_invalid(*, language: str | None = None) -> Page:
    """Unknown, used, expired or foreign ``state``: start again."""
    text = _html(language)
    _ = text.gettext
    return _render(
        text,
        400,
        _("This sign-in link has expired"),
        _paragraph(
            _(
                "The link is older than ten minutes, was already used, or was opened in another "
                "browser. Nothing was stored. Please start again from the link you were given."
            )
        ),
    )


def bad_request(status: int = 400, *, language: str | None = None) -> Page:
    """The request itself was malformed."""
    text = _html(language)
    _ = text.gettext
    return _render(
        text,
        status,
        _("This request could not be understood"),
        _paragraph(
            _(
                "Something in the link is missing or malformed, so nothing was done. Please "
                "start again from the link you were given."
            )
        ),
    )


def provider_error(*, language: str | None = None) -> Page:
    """The provider sent the user back with an error."""
    text = _html(language)
    _ = text.gettext
    return _render(
        text,
        400,
        _("Google could not complete the sign-in"),
        _paragraph(
            _(
                "The sign-in was not completed, so nothing was stored. Please start again from "
                "the link you were given."
            )
        ),
    )


def failure(status: int, reference: str, *, language: str | None = None) -> Page:
    """Our fault or the provider's: a reference that appears in the logs."""
    text = _html(language)
    _ = text.gettext
    sorry = _(
        "We could not connect your account this time, and nothing was stored. Please try again "
        "in a few minutes."
    )
    # TRANSLATORS: %(reference)s is a short code that also appears in the service's logs.
    ask = _(
        "If it keeps happening, give this reference to the people who sent you here: %(reference)s"
    ) % {"reference": f"<code>{escape(reference)}</code>"}
    return _render(text, status, _("Something went wrong"), f"<p>{sorry}</p><p>{ask}</p>")


def _paragraph(html: str) -> str:
    return f"<p>{html}</p>"
