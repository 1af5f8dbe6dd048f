"""The language of a page: ``Accept-Language`` negotiation and the gettext catalogs.

English is the source language: its sentences are the message IDs. The other languages are GNU
gettext catalogs under ``functions/web/locales/<language>/LC_MESSAGES/messages``: the ``.po`` is
what translators edit, the compiled ``.mo`` beside it is what :mod:`gettext` reads at run time. Both
are committed, so the deployed function needs no build step; ``tests/unit/test_i18n.py`` fails when
a ``.mo`` no longer matches its ``.po``, or a catalog misses a message of ``pages.py``.

The language is negotiated from ``Accept-Language`` (RFC 9110 §12.5.4) by Babel's lookup: the
user's ranges in order of preference, each matched whole or by its primary language (``pt-BR`` gets
``pt``); a range with ``q=0`` is refused. No request, or no match: English.

After changing a message in ``pages.py`` (``make test`` says when the catalogs lag behind)::

    .venv/bin/pybabel extract --no-location --add-comments=TRANSLATORS: \\
        --project=gmail-server-side-auth --version=0.1.0 --msgid-bugs-address= \\
        --header-comment="# The messages of functions/web/pages.py; see functions/web/i18n.py." \\
        -o functions/web/locales/messages.pot functions/web/pages.py
    .venv/bin/pybabel update -i functions/web/locales/messages.pot -d functions/web/locales
    # translate the new entries of each .po and clear its "fuzzy" marks, then:
    .venv/bin/pybabel compile -d functions/web/locales
"""

from __future__ import annotations

import functools
import gettext
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import flask
from babel import Locale, negotiate_locale
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

LOCALE_DIR = Path(__file__).with_name("locales")
DOMAIN = "messages"
DEFAULT_LANGUAGE = "en"
LANGUAGES = (DEFAULT_LANGUAGE, "pt", "fr", "he", "id", "de")
"""The languages of the pages: BCP 47 primary tags, as ``lang`` and ``Content-Language`` say."""


def N_(message: str) -> str:
    """Mark ``message`` for extraction only; it is translated where it is shown."""
    return message


@dataclass(frozen=True)
class Language:
    """One language of the pages: its tag, its writing direction and its translations."""

    tag: str
    direction: Literal["ltr", "rtl"]
    translations: gettext.NullTranslations


def negotiate(accept_language: str | None) -> str:
    """The best of :data:`LANGUAGES` for an ``Accept-Language`` value; English when none fits."""
    accepted = parse_accept_header(accept_language, LanguageAccept)
    preferred = [tag for tag, quality in accepted if quality > 0]
    match = negotiate_locale(preferred, LANGUAGES, sep="-", aliases={})
    return match.lower() if match else DEFAULT_LANGUAGE


def current_language() -> str:
    """The language of the request being served; English outside a request."""
    if not flask.has_request_context():
        return DEFAULT_LANGUAGE
    return negotiate(flask.request.headers.get("Accept-Language"))


@functools.cache
def language(tag: str) -> Language:
    """One of :data:`LANGUAGES`, loaded once per instance.

    Raises:
        ValueError: ``tag`` is not one of :data:`LANGUAGES`.
        FileNotFoundError: its compiled catalog is missing (a packaging mistake).
    """
    if tag not in LANGUAGES:
        raise ValueError(f"no pages in {tag!r}; expected one of {', '.join(LANGUAGES)}")
    translations = (
        gettext.NullTranslations()  # the message IDs are the English text
        if tag == DEFAULT_LANGUAGE
        else gettext.translation(DOMAIN, LOCALE_DIR, languages=[tag])
    )
    direction: Literal["ltr", "rtl"] = "rtl" if Locale.parse(tag).text_direction == "rtl" else "ltr"
    return Language(tag, direction, translations)
