"""``return_to`` passes only under an allowed prefix, compared after parsing."""

from __future__ import annotations

import pytest

from functions.consent.return_to import check_return_to
from functions.errors import ReturnToNotAllowed

ALLOWED = ("https://app.example.com/done", "http://localhost:3000/")


@pytest.mark.parametrize(
    "url",
    [
        "https://app.example.com/done",
        "https://app.example.com/done/",
        "https://app.example.com/done/step?x=1#y",
        "https://app.example.com:443/done",
        "http://localhost:3000/anything",
    ],
)
def test_urls_under_a_prefix_pass(url):
    assert check_return_to(url, ALLOWED) == url


@pytest.mark.parametrize(
    "url",
    [
        "//evil.example.com/done",
        "https://app.example.com@evil.example.com/done",
        "https://evil.example.com/https://app.example.com/done",
        "https://app.example.com.evil.example.com/done",
        "https://app.example.com/donette",
        "https://app.example.com/done/../admin",
        "https://app.example.com/done/%2e%2e/admin",
        "https://app.example.com/done%2f..%2fadmin",
        "https://app.example.com\\@evil.example.com/done",
        "https:\\\\evil.example.com/done",
        "http://app.example.com/done",
        "https://app.example.com:8443/done",
        "javascript:alert(1)//https://app.example.com/done",
        "https://app.example.com/done\n.evil",
        "https://app%2eexample.com/done",
        "http://localhost:3001/",
        "/done",
        "",
    ],
)
def test_everything_else_is_refused(url):
    with pytest.raises(ReturnToNotAllowed):
        check_return_to(url, ALLOWED)


def test_nothing_passes_when_no_prefix_is_configured():
    with pytest.raises(ReturnToNotAllowed):
        check_return_to("https://app.example.com/done", ())


@pytest.mark.parametrize(
    "url",
    [
        "https://app.example.com/done/caf\u00e9",
        "https://app.example.com/done?q=\u65e5\u672c",
        "https://app.example.com/done/" + "\U0001f600" * 500,
    ],
)
def test_urls_that_are_not_ascii_are_refused(url):
    # A URL is ASCII (RFC 3986 §2); in a sealed cookie each other character costs up to twelve
    # bytes, which made a cookie browsers drop.
    with pytest.raises(ReturnToNotAllowed):
        check_return_to(url, ALLOWED)
