"""A person in a real browser, through the real functions, the sandbox and the emulators.

GIVEN the stack as ``make dev`` runs it and Debian's Chromium, each test opens the authorize URL,
acts on the sandbox's consent page as a person would (types the e-mail, unticks, presses Allow or
Cancel) and reads the page our functions answer with. Every page is kept as a screenshot.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from google.cloud import firestore
from playwright.sync_api import Page, expect

from devstack.emulators import EmulatorHosts
from devstack.stack import LocalStack
from functions.web import i18n
from tests.browser.support import SITE, Screenshot, sandbox_behaves

pytestmark = pytest.mark.browser

EMAIL = "margaret@example.com"
GMAIL_LABEL = "Read your email messages and settings"  # the sandbox's words, as Google's
SERVICE = SITE["SERVICE_NAME"]
LOCALES = {"en": "en-US", "pt": "pt-BR", "fr": "fr-FR", "he": "he-IL", "id": "id-ID", "de": "de-DE"}
"""A browser locale for each language of the pages."""


def words(tag: str, message: str) -> str:
    """``message`` as the pages say it in ``tag``."""
    return i18n.language(tag).translations.gettext(message)


def expect_the_service_named(page: Page) -> None:
    """The service's name above the heading and in the title; support and privacy linked."""
    expect(page.locator("main > p.service")).to_have_text(SERVICE)
    expect(page).to_have_title(re.compile(f" \N{EN DASH} {SERVICE}$"))
    footer = page.locator("footer a")
    expect(footer).to_have_count(2)
    assert footer.nth(0).get_attribute("href") == SITE["SUPPORT_URL"]
    assert footer.nth(1).get_attribute("href") == SITE["PRIVACY_POLICY_URL"]


@pytest.fixture(scope="module")
def firestore_client(emulators: EmulatorHosts) -> Iterator[firestore.Client]:
    """Firestore as the functions see it (the emulator), for what the tests check or break."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in emulators.env.items():
            env.setenv(name, value)
        yield firestore.Client(project=emulators.project)


def connected_users(client: firestore.Client) -> list[str]:
    return [document.id for document in client.collection("gmail_credentials").stream()]


def open_consent(page: Page, stack: LocalStack) -> None:
    """Open the link a person is given; the sandbox's consent page comes up."""
    page.goto(stack.authorize_url)
    expect(page.get_by_role("button", name="Allow")).to_be_visible()


def consent(page: Page, email: str, *, untick: tuple[str, ...] = ()) -> None:
    """Type the account's e-mail, untick what the person does not want to share, press Allow."""
    page.get_by_label("Account e-mail").fill(email)
    for label in untick:
        page.get_by_label(label).uncheck()
    page.get_by_role("button", name="Allow").click()


def test_allow_connects_the_account_and_says_which_and_what(
    page: Page, stack: LocalStack, screenshot: Screenshot, firestore_client: firestore.Client
):
    # GIVEN the consent page, with one checkbox per requested permission, all ticked
    open_consent(page, stack)
    for label in ("Associate you with your personal info on Google", GMAIL_LABEL):
        expect(page.get_by_label(label)).to_be_checked()
    page.get_by_label("Account e-mail").fill(EMAIL)
    screenshot(page, "sandbox-consent")

    # WHEN the person presses Allow
    page.get_by_role("button", name="Allow").click()

    # THEN the success page names the account, what it granted, its ID and how to disconnect
    expect(page.get_by_role("heading", name="Your account is connected")).to_be_visible()
    assert page.url == stack.redirect_uri  # the code is gone from the address bar
    expect(page.locator("main")).to_contain_text(f"{EMAIL} is now connected")
    expect(page.get_by_role("listitem").filter(has_text=GMAIL_LABEL)).to_be_visible()
    [user_id] = connected_users(firestore_client)
    expect(page.locator("code")).to_have_text(user_id)
    expect(page.locator("main")).to_contain_text(f"User ID: {user_id}")
    expect(page.locator("main")).to_contain_text(f"{SERVICE} may:")
    expect_the_service_named(page)
    disconnect = page.get_by_role("link", name="remove this app's access in your Google Account")
    assert disconnect.get_attribute("href") == f"{stack.sandbox_url}/connections"
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("html").get_attribute("dir") == "ltr"
    # the inline stylesheet passed the CSP: the page is laid out by it
    assert page.locator("main").evaluate("e => getComputedStyle(e.parentElement).maxWidth") == (
        "576px"
    )
    screenshot(page, "connected-en")

    # AND the disconnect advice can be followed: against the sandbox, to its stand-in page
    disconnect.click()
    expect(page.get_by_role("heading", name="Third-party apps & services")).to_be_visible()
    page.get_by_label("Account e-mail").fill(EMAIL)
    page.get_by_role("button", name="Remove every app's access").click()
    expect(page.get_by_role("status")).to_contain_text(f"Removed 1 grant(s) of {EMAIL}")
    screenshot(page, "sandbox-connections")


def test_an_unticked_gmail_permission_is_explained_and_a_retry_connects(
    page: Page, stack: LocalStack, screenshot: Screenshot, firestore_client: firestore.Client
):
    # GIVEN a newcomer (nothing granted before, so nothing is merged back in) who unticks Gmail
    newcomer = "newcomer@example.com"
    open_consent(page, stack)
    consent(page, newcomer, untick=(GMAIL_LABEL,))

    # THEN the page names the missing permission, stores nothing, and offers a retry
    expect(page.get_by_role("heading", name="A permission is missing")).to_be_visible()
    expect(page.get_by_role("listitem")).to_have_text([GMAIL_LABEL])
    assert connected_users(firestore_client) == []
    retry = page.get_by_role("link", name="Try again")
    expect(retry).to_have_css("background-color", "rgb(11, 87, 208)")  # styled, CSP or not
    assert page.url == stack.redirect_uri  # the spent code is gone from the address bar
    expect(page.locator("main")).to_contain_text(f"{SERVICE} needs this permission")
    screenshot(page, "missing-permission-en")

    # WHEN they press "Try again" THEN the address they typed is filled in for them
    retry.click()
    expect(page.get_by_label("Account e-mail")).to_have_value(newcomer)
    expect(page.get_by_label(GMAIL_LABEL)).to_be_checked()
    consent(page, newcomer)
    expect(page.get_by_role("heading", name="Your account is connected")).to_be_visible()
    expect(page.get_by_role("listitem").filter(has_text=GMAIL_LABEL)).to_be_visible()
    assert len(connected_users(firestore_client)) == 1


def test_cancel_connects_nothing(
    page: Page, stack: LocalStack, screenshot: Screenshot, firestore_client: firestore.Client
):
    open_consent(page, stack)

    page.get_by_role("button", name="Cancel").click()  # no e-mail needed to say no

    expect(page.get_by_role("heading", name="Nothing was connected")).to_be_visible()
    expect(page.locator("main")).to_contain_text("You declined access")
    assert page.url == stack.redirect_uri  # no spent state in the address bar
    assert connected_users(firestore_client) == []
    screenshot(page, "declined-en")

    # WHEN they change their mind THEN "Try again" brings the consent page back
    page.get_by_role("link", name="Try again").click()
    expect(page.get_by_role("button", name="Allow")).to_be_visible()


def test_an_expired_link_asks_to_start_again(
    page: Page, stack: LocalStack, screenshot: Screenshot, firestore_client: firestore.Client
):
    # GIVEN a consent page left open until the pending sign-in expired: the browser drops the
    # flow cookie when its ten minutes are up
    open_consent(page, stack)
    flows = [c for c in page.context.cookies() if c["name"].startswith("gmail-auth-flow-")]
    assert flows  # the pending sign-in this page belongs to
    assert all(c["httpOnly"] and c["sameSite"] == "Lax" for c in flows)
    page.context.clear_cookies(name=re.compile("^gmail-auth-flow-"))

    # WHEN the person finally presses Allow
    consent(page, EMAIL)

    # THEN the link is refused, plainly, and nothing is stored
    expect(page.get_by_role("heading", name="This sign-in link has expired")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Please start again from the link")
    expect(page.get_by_role("link", name="Try again")).to_be_visible()
    assert page.url == stack.redirect_uri
    assert connected_users(firestore_client) == []
    screenshot(page, "link-expired-en")


def test_a_failure_shows_a_reference_that_is_in_the_logs(
    page: Page, stack: LocalStack, screenshot: Screenshot, firestore_client: firestore.Client
):
    # GIVEN a provider that never grants offline access, even when asked again
    sandbox_behaves(stack, omit_refresh_token=True)
    open_consent(page, stack)
    consent(page, EMAIL)
    expect(page.get_by_label("Account e-mail")).to_have_value(EMAIL)  # asked again, hinted
    page.get_by_role("button", name="Allow").click()

    # THEN a page says so with a reference, and the same reference is in the function's log
    expect(page.get_by_role("heading", name="Something went wrong")).to_be_visible()
    reference = page.locator("main code").inner_text()
    assert len(reference) == 12
    assert wait_for_text(stack.log_dir / "oauth2callback.log", reference)
    expect(page.get_by_role("link", name="Try again")).to_be_visible()
    assert page.url == stack.redirect_uri
    assert connected_users(firestore_client) == []
    screenshot(page, "failure-en")


def test_malformed_links_and_provider_errors_get_their_own_pages(
    page: Page, stack: LocalStack, screenshot: Screenshot
):
    page.goto(f"{stack.redirect_uri}?code=only-a-code")
    expect(page.get_by_role("heading", name="This request could not be understood")).to_be_visible()
    screenshot(page, "bad-request-en")

    page.goto(f"{stack.redirect_uri}?error=temporarily_unavailable&state=some-state")
    expect(
        page.get_by_role("heading", name="Google could not complete the sign-in")
    ).to_be_visible()
    screenshot(page, "provider-error-en")


def test_the_hebrew_page_reads_right_to_left(
    open_browser: Callable[[str], Page], stack: LocalStack, screenshot: Screenshot
):
    # GIVEN a browser set to Hebrew (it sends Accept-Language: he-IL)
    page = open_browser("he-IL")

    # WHEN the person connects their account
    open_consent(page, stack)
    consent(page, EMAIL)

    # THEN the success page is in Hebrew, laid out right to left
    expect(page.get_by_role("heading", name="החשבון שלך מחובר")).to_be_visible()
    assert page.locator("html").get_attribute("lang") == "he"
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.locator("main").evaluate("e => getComputedStyle(e).direction") == "rtl"
    # the heading's text hugs the right edge of the page's column, not the left
    text_box = page.get_by_role("heading").evaluate(
        """h => { const r = document.createRange(); r.selectNodeContents(h);
                 const t = r.getBoundingClientRect(), b = h.getBoundingClientRect();
                 return {left: t.left - b.left, right: b.right - t.right}; }"""
    )
    assert text_box["right"] < 2 < text_box["left"]
    expect(page.locator("main")).to_contain_text(EMAIL)  # kept whole, left to right, inside
    screenshot(page, "connected-he")


def test_permissions_come_in_the_same_order_on_every_connection(page: Page, stack: LocalStack):
    lists = []
    for _ in range(2):  # connect, then reconnect: Google merges the earlier grant back in
        open_consent(page, stack)
        consent(page, EMAIL)
        expect(page.get_by_role("heading", name="Your account is connected")).to_be_visible()
        lists.append(page.get_by_role("listitem").all_inner_texts())

    assert (
        lists[0]
        == lists[1]
        == [
            "Know who you are on Google",
            "See your primary email address",
            GMAIL_LABEL,
        ]
    )


@pytest.mark.parametrize("tag", list(LOCALES))
def test_every_language_names_the_service_offers_to_try_again_and_explains_the_callback(
    open_browser: Callable[[str], Page], stack: LocalStack, screenshot: Screenshot, tag: str
):
    page = open_browser(LOCALES[tag])

    # connected: the service named, the user ID, the footer
    open_consent(page, stack)
    consent(page, EMAIL)
    expect(
        page.get_by_role("heading", name=words(tag, "Your account is connected"))
    ).to_be_visible()
    expect_the_service_named(page)
    assert page.locator("html").get_attribute("lang") == tag
    expect(page.locator("main")).to_contain_text(SERVICE)
    screenshot(page, f"service-connected-{tag}")

    # declined: "Try again", the address bar clean
    open_consent(page, stack)
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("heading", name=words(tag, "Nothing was connected"))).to_be_visible()
    expect(page.get_by_role("link", name=words(tag, "Try again"))).to_be_visible()
    expect_the_service_named(page)
    assert page.url == stack.redirect_uri
    screenshot(page, f"try-again-declined-{tag}")

    # the callback URL opened on its own says what it is for, not that a link expired
    page.context.clear_cookies()
    page.goto(stack.redirect_uri)
    heading = words(tag, "This is where Google sends you back")
    expect(page.get_by_role("heading", name=heading)).to_be_visible()
    expect(page.locator("main")).not_to_contain_text(words(tag, "This sign-in link has expired"))
    expect_the_service_named(page)
    screenshot(page, f"bare-callback-{tag}")


def wait_for_text(path: Path, text: str, timeout: float = 10.0) -> bool:
    """Whether ``text`` shows up in the log file within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return True
        time.sleep(0.1)
    return False
