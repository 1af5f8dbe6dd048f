"""The HTML pages people see after consent: short, plain, self-contained, in their language.

Pages carry no external assets, no script and one inline stylesheet, whose hash the Content
Security Policy names, so ``default-src 'none'`` holds. Each page is written in the language
negotiated from the request's ``Accept-Language`` (:mod:`functions.web.i18n`), with ``lang`` and
``dir`` set on ``<html>``. Translations are text: they are escaped like every other value, and the
few bits of markup (an e-mail address, an ID, a link) are put into them with ``%`` after escaping.
Nothing from the request is echoed back.

Every page names the service (``SERVICE_NAME``) in its title and above its heading, links the
support and privacy pages in a footer when they are configured (:class:`Site`), and, where trying
again can help, offers a "Try again" button that starts a new sign-in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from html import escape

from functions.web import i18n
from functions.web.i18n import N_
from functions.web.site import NO_SITE, Site
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


def _render(
    text: _Html,
    site: Site,
    status: int,
    title: str,
    body: str,
    *,
    retry_url: str | None = None,
) -> Page:
    """The whole document; ``title`` and ``body`` are HTML already."""
    language = text.language
    service = escape(site.service_name) if site.service_name else None
    head_title = f"{title} \N{EN DASH} {service}" if service else title
    header = f'<p class="service"><bdi>{service}</bdi></p>' if service else ""
    if retry_url:
        try_again = text.gettext("Try again")
        body += f'<p><a class="button" href="{escape(retry_url)}">{try_again}</a></p>'
    html = (
        f'<!doctype html>\n<html lang="{language.tag}" dir="{language.direction}"><head>'
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{head_title}</title><style>{STYLE}</style></head>"
        f"<body><main>{header}<h1>{title}</h1>{body}</main>{_footer(text, site)}</body></html>\n"
    )
    return Page(status, html, language.tag)


def _footer(text: _Html, site: Site) -> str:
    links = [
        f'<a href="{escape(url)}">{text.gettext(label)}</a>'
        for url, label in (
            (site.support_url, N_("Support")),
            (site.privacy_policy_url, N_("Privacy policy")),
        )
        if url
    ]
    return f"<footer>{' · '.join(links)}</footer>" if links else ""


def _service(site: Site) -> dict[str, str]:
    """The ``%(service)s`` of a sentence, when the service has a name."""
    return {"service": f"<bdi>{escape(site.service_name or '')}</bdi>"}


def _scope_list(text: _Html, scopes: Iterable[str], order: tuple[str, ...] = ()) -> str:
    """One ``<li>`` per distinct permission, in the order of the configured scopes (then by
    name), whatever order the provider granted them in; a scope we have no words for is shown
    as is."""
    rank: dict[str, int] = {}
    for scope in order:  # by words, so "email" ranks its URL form too, as Google grants it
        rank.setdefault(SCOPE_LABELS.get(scope, scope), len(rank))

    def position(scope: str) -> tuple[int, str]:
        return rank.get(SCOPE_LABELS.get(scope, scope), len(rank)), scope

    ordered = sorted(set(scopes), key=position)
    items = dict.fromkeys(
        text.gettext(SCOPE_LABELS[scope])
        if scope in SCOPE_LABELS
        else f"<code>{escape(scope)}</code>"
        for scope in ordered
    )
    return "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def connected(
    user_id: str,
    email: str | None,
    scopes: tuple[str, ...],
    *,
    site: Site = NO_SITE,
    language: str | None = None,
    pipeline: str | None = None,
) -> Page:
    """The account is connected: which one, what it allowed, for which pipeline, and how to
    disconnect it.

    The user ID is shown because it is what pipelines put in a mailbox request; the pipeline,
    because only it may read the mailbox.
    """
    text = _html(language)
    _ = text.gettext
    named = _service(site)
    if email and site.service_name:
        # TRANSLATORS: %(email)s is the address of the Google Account that was connected,
        # %(service)s the name of the service it was connected to.
        who = _("%(email)s is now connected. %(service)s may:") % {
            "email": f"<strong><bdi>{escape(email)}</bdi></strong>",
            **named,
        }
    elif email:
        # TRANSLATORS: %(email)s is the address of the Google Account that was connected.
        who = _("%(email)s is now connected. The service may:") % {
            "email": f"<strong><bdi>{escape(email)}</bdi></strong>"
        }
    elif site.service_name:
        # TRANSLATORS: %(service)s is the name of the service the account was connected to.
        who = _("Your Google Account is now connected. %(service)s may:") % named
    else:
        who = _("Your Google Account is now connected. The service may:")
    # TRANSLATORS: the ID that pipelines use to read this account's mailbox.
    shown_id = _("User ID: %(user_id)s") % {"user_id": f"<code>{escape(user_id)}</code>"}
    if pipeline:
        # TRANSLATORS: %(pipeline)s is the name of the pipeline (the part of the service that
        # reads mailboxes) this account was connected for; only it may read the mailbox.
        shown_id += "</p><p>" + _("Connected for: %(pipeline)s") % {
            "pipeline": f"<strong><bdi>{escape(pipeline)}</bdi></strong>"
        }
    # TRANSLATORS: %(link)s and %(end_link)s surround the words that link to the page of the
    # Google Account where people remove an app's access.
    disconnect = _(
        "You can close this page. To disconnect later, %(link)sremove this app's access in your "
        "Google Account%(end_link)s."
    ) % {"link": f'<a href="{escape(site.account_permissions_url)}">', "end_link": "</a>"}
    return _render(
        text,
        site,
        200,
        _("Your account is connected"),
        f"<p>{who}</p>{_scope_list(text, scopes, site.scopes)}<p>{shown_id}</p><p>{disconnect}</p>",
    )


def missing_permission(
    scopes: tuple[str, ...],
    retry_url: str | None,
    *,
    site: Site = NO_SITE,
    language: str | None = None,
) -> Page:
    """A required permission was unticked: name it, and offer to ask again."""
    text = _html(language)
    ngettext, n = text.ngettext, len(scopes)
    if site.service_name:
        # TRANSLATORS: %(service)s is the name of the service.
        needed = ngettext(
            "%(service)s needs this permission to work, but it was not granted:",
            "%(service)s needs these permissions to work, but they were not granted:",
            n,
        ) % _service(site)
    else:
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
    return _render(
        text,
        site,
        403,
        ngettext("A permission is missing", "Some permissions are missing", n),
        f"<p>{needed}</p>{_scope_list(text, scopes, site.scopes)}<p>{retry}</p>",
        retry_url=retry_url,
    )


def declined(
    *, site: Site = NO_SITE, retry_url: str | None = None, language: str | None = None
) -> Page:
    """The user pressed Cancel at the consent page."""
    text = _html(language)
    _ = text.gettext
    return _render(
        text,
        site,
        403,
        _("Nothing was connected"),
        _paragraph(
            _(
                "You declined access, so no account was connected and nothing was stored. If "
                "that was a mistake, open the link you were given again."
            )
        ),
        retry_url=retry_url,
    )


def link_invalid(
    *, site: Site = NO_SITE, retry_url: str | None = None, language: str | None = None
) -> Page:
    """Unknown, used, expired or foreign ``state``: start again."""
    text = _html(language)
    _ = text.gettext
    return _render(
        text,
        site,
        400,
        _("This sign-in link has expired"),
        _paragraph(
            _(
                "The link is older than ten minutes, was already used, or was opened in another "
                "browser. Nothing was stored. Please start again from the link you were given."
            )
        ),
        retry_url=retry_url,
    )


def bad_request(status: int = 400, *, site: Site = NO_SITE, language: str | None = None) -> Page:
    """The request itself was malformed."""
    text = _html(language)
    _ = text.gettext
    return _render(
        text,
        site,
        status,
        _("This request could not be understood"),
        _paragraph(
            _(
                "Something in the link is missing or malformed, so nothing was done. Please "
                "start again from the link you were given."
            )
        ),
    )


def provider_error(
    *, site: Site = NO_SITE, retry_url: str | None = None, language: str | None = None
) -> Page:
    """The provider sent the user back with an error."""
    text = _html(language)
    _ = text.gettext
    return _render(
        text,
        site,
        400,
        _("Google could not complete the sign-in"),
        _paragraph(
            _(
                "The sign-in was not completed, so nothing was stored. Please start again from "
                "the link you were given."
            )
        ),
        retry_url=retry_url,
    )


def failure(
    status: int,
    reference: str,
    *,
    site: Site = NO_SITE,
    retry_url: str | None = None,
    language: str | None = None,
) -> Page:
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
    return _render(
        text,
        site,
        status,
        _("Something went wrong"),
        f"<p>{sorry}</p><p>{ask}</p>",
        retry_url=retry_url,
    )


def callback_explained(*, site: Site = NO_SITE, language: str | None = None) -> Page:
    """The callback URL opened on its own (no code, no error, no recent outcome): say what the
    address is for, rather than that a link expired. A 400, as for any callback without a
    sign-in to finish."""
    text = _html(language)
    _ = text.gettext
    return _render(
        text,
        site,
        400,
        _("This is where Google sends you back"),
        _paragraph(
            _(
                "After you sign in with Google to connect your account, Google sends your browser "
                "back to this address to finish. Opened on its own, it has nothing to show: to "
                "connect your account, open the link you were given."
            )
        ),
    )


OUTCOME_PAGES: dict[str, Callable[..., Page]] = {
    "connected": connected,
    "missing_permission": missing_permission,
    "declined": declined,
    "link_invalid": link_invalid,
    "bad_request": bad_request,
    "provider_error": provider_error,
    "failure": failure,
}
"""The pages an outcome of the callback may show, by name (as sealed in the outcome cookie)."""


def _paragraph(html: str) -> str:
    return f"<p>{html}</p>"
