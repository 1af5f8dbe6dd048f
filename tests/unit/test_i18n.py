"""The pages in every language: negotiation, the catalogs, and what a browser is given.

The catalogs are checked against the code (every message of ``pages.py`` is in the template and
translated in every language) and against themselves (each committed ``.mo`` says exactly what its
``.po`` says), so a sentence changed without its translations, or a ``.po`` edited without
compiling it, fails here rather than in front of a user.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import flask
import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from functions.config import DEFAULT_ACCOUNT_PERMISSIONS_URL
from functions.web import i18n, pages, responses
from functions.web.site import Site

GMAIL = "https://www.googleapis.com/auth/gmail.readonly"
SCOPES = ("openid", "https://www.googleapis.com/auth/userinfo.email", GMAIL)
EMAIL = "ada@example.com"
USER_ID = "109876543210"
REFERENCE = "0123456789ab"
RETRY = "https://accounts.example/o/auth?client_id=c&state=s"
AGAIN = "https://auth.example/authorize?login_hint=ada%40example.com"
SERVICE = "Acme Reports"
SITE = Site(
    service_name=SERVICE,
    support_url="https://acme.example/help",
    privacy_policy_url="https://acme.example/privacy",
    scopes=("openid", "email", GMAIL),
)
TRANSLATED = [tag for tag in i18n.LANGUAGES if tag != i18n.DEFAULT_LANGUAGE]
PAGES_SOURCE = Path(pages.__file__)
TEMPLATE = i18n.LOCALE_DIR / f"{i18n.DOMAIN}.pot"

PageMaker = Callable[[str], pages.Page]
PAGES: dict[str, PageMaker] = {
    "connected": lambda lang: pages.connected(USER_ID, EMAIL, SCOPES, language=lang),
    "connected_without_email": lambda lang: pages.connected(USER_ID, None, SCOPES, language=lang),
    "missing_permission": lambda lang: pages.missing_permission((GMAIL,), RETRY, language=lang),
    "missing_permissions": lambda lang: pages.missing_permission(SCOPES[1:], RETRY, language=lang),
    "declined": lambda lang: pages.declined(language=lang),
    "link_invalid": lambda lang: pages.link_invalid(language=lang),
    "bad_request": lambda lang: pages.bad_request(405, language=lang),
    "provider_error": lambda lang: pages.provider_error(language=lang),
    "failure": lambda lang: pages.failure(502, REFERENCE, language=lang),
    "callback_explained": lambda lang: pages.callback_explained(language=lang),
    "named_connected": lambda lang: pages.connected(
        USER_ID, EMAIL, SCOPES, site=SITE, language=lang
    ),
    "named_connected_without_email": lambda lang: pages.connected(
        USER_ID, None, SCOPES, site=SITE, language=lang
    ),
    "named_missing_permission": lambda lang: pages.missing_permission(
        (GMAIL,), RETRY, site=SITE, language=lang
    ),
    "named_missing_permissions": lambda lang: pages.missing_permission(
        SCOPES[1:], RETRY, site=SITE, language=lang
    ),
    "named_declined": lambda lang: pages.declined(site=SITE, retry_url=AGAIN, language=lang),
    "named_failure": lambda lang: pages.failure(
        500, REFERENCE, site=SITE, retry_url=AGAIN, language=lang
    ),
}
VALUES = {EMAIL, USER_ID, REFERENCE, SERVICE}  # what the caller passes in, in every language
VALUES |= {".", "·"}  # the full stop after the disconnect link; the footer's separator


class _Text(HTMLParser):
    """The text a person reads (not the stylesheet), one entry per text node."""

    def __init__(self) -> None:
        super().__init__()
        self.nodes: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if data.strip() and not self._in_style:
            self.nodes.append(data.strip())


def _text_nodes(html: str) -> set[str]:
    reader = _Text()
    reader.feed(html)
    return set(reader.nodes)


def _po(tag: str) -> Catalog:
    with (i18n.LOCALE_DIR / tag / "LC_MESSAGES" / f"{i18n.DOMAIN}.po").open("rb") as source:
        return read_po(source, locale=tag)


def _entries(catalog: Catalog) -> dict[object, object]:
    """Message ID → translation, plural forms as tuples (a .mo reader gives lists)."""

    def plain(value: object) -> object:
        return tuple(value) if isinstance(value, list | tuple) else value

    return {plain(message.id): plain(message.string) for message in catalog if message.id}


def _ids(catalog: Catalog) -> set[object]:
    return set(_entries(catalog))


# -- negotiation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("", "en"),
        ("he", "he"),
        ("he-IL,he;q=0.9,en-US;q=0.8", "he"),
        ("pt-BR,pt;q=0.9", "pt"),
        ("PT-br", "pt"),
        ("de-CH, fr;q=0.9", "de"),  # the first preference, by its primary language
        ("zh-CN, id;q=0.5", "id"),  # an unsupported first choice falls through to the next
        ("fr;q=0.2, de;q=0.8", "de"),  # by quality, not by position
        ("fr;q=0, de;q=0.1", "de"),  # q=0 means "not this one"
        ("fr;q=0", "en"),
        ("ja, ko", "en"),
        ("*", "en"),
        ("en-GB, fr", "en"),
        ("de;q=garbage, fr", "fr"),
    ],
)
def test_accept_language_picks_the_best_supported_language(header, expected):
    assert i18n.negotiate(header) == expected


def test_outside_a_request_the_pages_are_in_english():
    assert i18n.current_language() == "en"
    assert '<html lang="en" dir="ltr">' in pages.declined().html


def test_inside_a_request_the_pages_follow_its_accept_language():
    app = flask.Flask(__name__)
    with app.test_request_context(headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}):
        response = responses.page(pages.declined())

    assert response.headers["Content-Language"] == "fr"
    assert "Accept-Language" in response.headers["Vary"]
    assert '<html lang="fr" dir="ltr">' in response.get_data(as_text=True)
    assert "Aucun compte n'a été connecté" in response.get_data(as_text=True)


def test_an_explicit_language_wins_over_the_request():
    app = flask.Flask(__name__)
    with app.test_request_context(headers={"Accept-Language": "fr"}):
        assert pages.declined(language="de").language == "de"


def test_only_hebrew_is_written_right_to_left():
    directions = {tag: i18n.language(tag).direction for tag in i18n.LANGUAGES}

    assert directions == {
        "en": "ltr",
        "pt": "ltr",
        "fr": "ltr",
        "he": "rtl",
        "id": "ltr",
        "de": "ltr",
    }


def test_an_unknown_language_is_refused():
    with pytest.raises(ValueError, match="no pages in 'xx'"):
        i18n.language("xx")


# -- the pages --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize("tag", i18n.LANGUAGES)
def test_every_page_declares_its_language_and_direction(name, tag):
    page = PAGES[name](tag)
    direction = "rtl" if tag == "he" else "ltr"

    assert page.language == tag
    assert page.html.startswith(f'<!doctype html>\n<html lang="{tag}" dir="{direction}">')
    assert "%(" not in page.html  # every placeholder was filled
    assert "<h1>" in page.html
    assert "<title>" in page.html


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize("tag", TRANSLATED)
def test_no_english_sentence_is_left_in_a_translated_page(name, tag):
    english = _text_nodes(PAGES[name]("en").html)
    translated = _text_nodes(PAGES[name](tag).html)

    assert (english & translated) - VALUES == set()


@pytest.mark.parametrize("name", PAGES)
def test_pages_fit_a_strict_content_security_policy(name):
    html = PAGES[name]("he").html
    [style] = re.findall(r"<style>(.*?)</style>", html, flags=re.DOTALL)

    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in responses.CONTENT_SECURITY_POLICY
    assert "<script" not in html
    assert " style=" not in html  # inline style attributes would be blocked
    allowed = {
        RETRY.replace("&", "&amp;"),
        AGAIN,
        DEFAULT_ACCOUNT_PERMISSIONS_URL,
        SITE.support_url,
        SITE.privacy_policy_url,
    }
    assert set(re.findall(r'(?:src|href)="([^"]*)"', html)) <= allowed


def test_the_english_texts_other_code_relies_on_are_unchanged():
    connected = pages.connected(USER_ID, EMAIL, SCOPES, language="en").html
    missing = pages.missing_permission((GMAIL,), RETRY, language="en").html

    assert "Your account is connected" in connected
    assert f"<code>{USER_ID}</code>" in connected
    assert f"User ID: <code>{USER_ID}</code>" in connected
    assert f'<a href="{DEFAULT_ACCOUNT_PERMISSIONS_URL}">remove this app' in connected
    assert "A permission is missing" in missing
    assert "Read your email messages and settings" in missing
    assert f'<a class="button" href="{RETRY.replace("&", "&amp;")}">Try again</a>' in missing
    assert "You declined access" in pages.declined(language="en").html
    assert "expired" in pages.link_invalid(language="en").html
    assert "Something went wrong" in pages.failure(500, REFERENCE, language="en").html


def test_the_service_is_named_in_the_title_above_the_heading_and_in_what_it_may_do():
    for tag in i18n.LANGUAGES:
        for name in (n for n in PAGES if n.startswith("named_")):
            html = PAGES[name](tag).html
            assert re.search(f"<title>[^<]+ \N{EN DASH} {SERVICE}</title>", html), (tag, name)
            assert f'<p class="service"><bdi>{SERVICE}</bdi></p><h1>' in html
            assert '<footer><a href="https://acme.example/help">' in html.split("</main>")[1]
    connected = PAGES["named_connected"]("en").html
    assert f"is now connected. <bdi>{SERVICE}</bdi> may:" in connected
    assert "The service" not in connected
    missing = PAGES["named_missing_permission"]("fr").html
    assert f"<bdi>{SERVICE}</bdi> a besoin de cette autorisation" in missing
    footer = PAGES["named_declined"]("de").html.split("<footer>")[1]
    assert ">Hilfe</a>" in footer
    assert ">Datenschutzerklärung</a>" in footer


def test_without_a_service_name_the_pages_say_the_service_and_have_no_footer():
    html = pages.connected(USER_ID, EMAIL, SCOPES, language="en").html

    assert "The service may:" in html
    assert '<p class="service">' not in html
    assert "<footer>" not in html
    assert "<title>Your account is connected</title>" in html


@pytest.mark.parametrize("name", ["named_declined", "named_failure", "named_missing_permission"])
def test_pages_where_trying_again_helps_offer_it(name):
    html = PAGES[name]("pt").html

    assert re.search(r'<a class="button" href="[^"]+">Tentar novamente</a>', html)


def test_permissions_come_in_the_order_of_the_configured_scopes_whatever_google_granted():
    granted_one_way = (GMAIL, "https://www.googleapis.com/auth/userinfo.email", "openid")
    granted_another = ("openid", GMAIL, "https://www.googleapis.com/auth/userinfo.email")

    shown = [
        re.findall(r"<li>(.*?)</li>", pages.connected(USER_ID, EMAIL, granted, site=SITE).html)
        for granted in (granted_one_way, granted_another)
    ]

    assert (
        shown[0]
        == shown[1]
        == [
            "Know who you are on Google",
            "See your primary email address",
            "Read your email messages and settings",
        ]
    )


def test_the_bare_callback_says_what_the_address_is_for():
    html = pages.callback_explained(language="en").html

    assert "This is where Google sends you back" in html
    assert "expired" not in html


def test_several_missing_permissions_are_named_in_the_plural():
    page = pages.missing_permission(SCOPES[1:], RETRY, language="de").html

    assert "Einige Berechtigungen fehlen" in page
    assert "Ihre E-Mails und E-Mail-Einstellungen lesen" in page
    assert "Ihre primäre E-Mail-Adresse sehen" in page


def test_values_are_escaped_in_every_language():
    hostile = '<script>alert("x")</script>'

    for tag in i18n.LANGUAGES:
        page = pages.connected(hostile, hostile, (hostile,), language=tag).html
        assert "<script>" not in page
        assert "&lt;script&gt;" in page


def test_a_scope_without_words_is_shown_as_it_is():
    page = pages.connected(USER_ID, EMAIL, ("https://example.com/custom",), language="id").html

    assert "<li><code>https://example.com/custom</code></li>" in page


# -- the catalogs -----------------------------------------------------------------------------


def test_the_template_holds_exactly_the_messages_of_the_pages():
    extracted = {
        message_id
        for _, message_id, _, _ in extract_from_file("python", PAGES_SOURCE, DEFAULT_KEYWORDS)
    }
    with TEMPLATE.open("rb") as source:
        template = read_po(source)

    assert _ids(template) == extracted, "run the pybabel commands in functions/web/i18n.py"


@pytest.mark.parametrize("tag", TRANSLATED)
def test_every_message_is_translated(tag):
    with TEMPLATE.open("rb") as source:
        template = read_po(source)
    catalog = _po(tag)

    assert _ids(catalog) == _ids(template), "run pybabel update (see functions/web/i18n.py)"
    assert not catalog.obsolete
    for message in catalog:
        if not message.id:
            continue
        assert not message.fuzzy, message.id
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), message.id
    assert [problem for problem in catalog.check()] == []  # placeholders match the English


@pytest.mark.parametrize("tag", TRANSLATED)
def test_the_compiled_catalog_says_what_its_source_says(tag):
    source = _po(tag)
    with (i18n.LOCALE_DIR / tag / "LC_MESSAGES" / f"{i18n.DOMAIN}.mo").open("rb") as compiled_file:
        compiled = read_mo(compiled_file)

    assert _entries(compiled) == _entries(source), "run pybabel compile -d functions/web/locales"
    assert compiled.plural_forms == source.plural_forms


@pytest.mark.parametrize("tag", TRANSLATED)
def test_the_runtime_reads_the_compiled_catalog(tag):
    translations = i18n.language(tag).translations

    for message_id, translation in _entries(_po(tag)).items():
        if isinstance(message_id, tuple) and isinstance(translation, tuple):
            singular, plural = message_id
            assert translations.ngettext(singular, plural, 1) == translation[0]
            assert translations.ngettext(singular, plural, 5) == translation[1]
        else:
            assert isinstance(message_id, str)
            assert translations.gettext(message_id) == translation
