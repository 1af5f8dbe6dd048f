"""Driving the consent flow through the real entry points, as a browser would."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from tests.integration.consent_browser import ConsentBrowser, query_of


@dataclass
class Consent:
    """One pass through authorize → consent page → callback."""

    authorize: Any
    consent_url: str
    callback_url: str
    callback: Any


def start(apps: Any, browser: ConsentBrowser, **params: str) -> Any:
    """GET authorize like the browser; keep its cookies; return the response."""
    path = "/" + (f"?{urlencode(params)}" if params else "")
    response = apps.authorize.get(path, headers=browser.cookie_header())
    browser.remember(response.headers.getlist("Set-Cookie"))
    return response


def callback(apps: Any, browser: ConsentBrowser, location: str) -> Any:
    """GET the callback URL the provider redirected to, with the browser's cookies."""
    response = apps.oauth2callback.get(
        "/", query_string=query_of(location), headers=browser.cookie_header()
    )
    browser.remember(response.headers.getlist("Set-Cookie"))
    return response


def connect(
    apps: Any,
    browser: ConsentBrowser,
    email: str,
    *,
    action: str = "allow",
    untick: tuple[str, ...] = (),
    **params: str,
) -> Consent:
    """The whole consent as a person clicks it."""
    first = start(apps, browser, **params)
    assert first.status_code == 302, first.get_data(as_text=True)
    page = browser.open_consent(first.headers["Location"])
    location = browser.answer(page, email=email, action=action, untick=untick)
    return Consent(first, first.headers["Location"], location, callback(apps, browser, location))
