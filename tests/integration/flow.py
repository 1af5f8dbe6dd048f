"""Driving the consent flow through the real entry points, as a browser would."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from devstack.consent_browser import ConsentBrowser, query_of

REDIRECT_URI = "http://localhost:8082/"


@dataclass
class Consent:
    """One pass through authorize → consent page → callback (→ the clean success URL)."""

    authorize: Any
    consent_url: str
    callback_url: str
    callback: Any
    final: Any
    """What the browser shows: the page behind the callback's own 303, else the callback."""


def start(apps: Any, browser: ConsentBrowser, **params: str) -> Any:
    """GET authorize like the browser; keep its cookies; return the response."""
    path = "/" + (f"?{urlencode(params)}" if params else "")
    response = apps.authorize.get(path, headers=browser.cookie_header())
    browser.remember(response.headers.getlist("Set-Cookie"))
    return response


def callback(apps: Any, browser: ConsentBrowser, location: str, trace: str = "") -> Any:
    """GET the callback URL the provider redirected to, with the browser's cookies."""
    headers = browser.cookie_header()
    if trace:
        headers["X-Cloud-Trace-Context"] = trace
    response = apps.oauth2callback.get("/", query_string=query_of(location), headers=headers)
    browser.remember(response.headers.getlist("Set-Cookie"))
    return response


def follow(apps: Any, browser: ConsentBrowser, response: Any) -> Any:
    """The page the browser lands on: behind the callback's own 303 to its bare URL (every
    outcome of a sign-in is shown there), else ``response`` itself."""
    browser.remember(response.headers.getlist("Set-Cookie"))
    if response.status_code == 303 and response.headers["Location"].startswith(REDIRECT_URI):
        return apps.oauth2callback.get("/", headers=browser.cookie_header())
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
    answered = callback(apps, browser, location)
    return Consent(
        first, first.headers["Location"], location, answered, follow(apps, browser, answered)
    )
