"""A scripted user agent for the consent flow: our functions and the sandbox's consent page.

It keeps cookies per host, as a browser does, follows nothing by itself, and fills the sandbox's
consent form like a person would: types the e-mail, unticks what it is told to, and presses a
button. Our functions are reached either in process (functions-framework test clients) or over
HTTP; the sandbox always over HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from functions.sizes import COOKIE_BYTES


class _FormReader(HTMLParser):
    """Collects the consent form's action, hidden fields and checkbox values."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.hidden: dict[str, str] = {}
        self.checkboxes: list[tuple[str, str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form" and self.action is None:
            self.action = attributes.get("action", "")
        if tag == "input" and attributes.get("type") == "hidden":
            self.hidden[attributes.get("name", "")] = attributes.get("value", "")
        if tag == "input" and attributes.get("type") == "checkbox":
            self.checkboxes.append(
                (attributes.get("name", ""), attributes.get("value", ""), "checked" in attributes)
            )


@dataclass
class ConsentPage:
    """The sandbox consent page as the browser saw it."""

    url: str
    html: str
    hidden: dict[str, str]
    scopes: list[str]
    action: str


@dataclass
class ConsentBrowser:
    """One browser: a cookie jar per host and a requests session for the sandbox."""

    session: requests.Session = field(default_factory=requests.Session)
    cookies: dict[str, str] = field(default_factory=dict)

    def remember(self, set_cookie_headers: list[str]) -> None:
        """Keep cookies from ``Set-Cookie`` headers (all our functions share one host), as a
        browser does: one whose name and value pass 4,096 bytes is dropped (RFC 6265 §6.1)."""
        for header in set_cookie_headers:
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if len(name.encode()) + len(morsel.coded_value.encode()) > COOKIE_BYTES:
                    continue
                if morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    def cookie_header(self) -> dict[str, str]:
        """The ``Cookie`` header to send to our functions."""
        if not self.cookies:
            return {}
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}

    def open_consent(self, url: str) -> ConsentPage:
        """GET the provider's consent page."""
        response = self.session.get(url, allow_redirects=False, timeout=10)
        assert response.status_code == 200, (response.status_code, response.text[:500])
        reader = _FormReader()
        reader.feed(response.text)
        action = reader.action or url
        if not action.startswith("http"):
            parts = urlsplit(url)
            action = f"{parts.scheme}://{parts.netloc}{action or parts.path}"
        return ConsentPage(
            url=url,
            html=response.text,
            hidden=reader.hidden,
            scopes=[value for name, value, _ in reader.checkboxes if name == "scope"],
            action=action,
        )

    def answer(
        self,
        page: ConsentPage,
        *,
        email: str,
        action: str = "allow",
        untick: tuple[str, ...] = (),
    ) -> str:
        """Submit the consent form; return where the provider sends the browser."""
        form: dict[str, Any] = {
            **page.hidden,
            "email": email,
            "scope": [scope for scope in page.scopes if scope not in untick],
            "action": action,
        }
        response = self.session.post(page.action, data=form, allow_redirects=False, timeout=10)
        assert response.status_code in (302, 303), (response.status_code, response.text[:500])
        return str(response.headers["Location"])


def query_of(url: str) -> dict[str, str]:
    """The single-valued query parameters of ``url``."""
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
