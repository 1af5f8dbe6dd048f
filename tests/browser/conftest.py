"""Browser fixtures: the whole local stack and Debian's Chromium, driven by Playwright.

The stack is the one ``make dev`` runs (every function under functions-framework, the sandbox in
its own process, the emulators of the session); Chromium is Debian's (``apt-get install
chromium``), since Playwright cannot download its own here. Both live for one test module: the
Playwright event loop is never left behind for the suite's other tests. Each test gets a fresh
browser context (no cookies), an empty Firestore and a well-behaved sandbox; every screenshot goes
to ``test-artifacts/screenshots/``, and a failed test leaves one of the page it ended on.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    expect,
    sync_playwright,
)

from devstack.emulators import EmulatorHosts, reset_firestore
from devstack.stack import LocalStack, StackPorts
from tests.browser.support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SCREENSHOTS,
    SITE,
    TOPOLOGY,
    Screenshot,
    sandbox_behaves,
    screenshot_path,
)

expect.set_options(timeout=15_000)  # a function's first request builds its clients

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: drives Debian's Chromium with Playwright against the local stack"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember each phase's report on the test, so fixtures can tell that it failed."""
    report: pytest.TestReport = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


@pytest.fixture(scope="module")
def stack(
    emulators: EmulatorHosts, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalStack]:
    """Every function, the sandbox and the Pub/Sub wiring, over the session's emulators; the
    pages name the service and link its support and privacy pages (:data:`SITE`)."""
    local = LocalStack(
        ports=StackPorts.any_free(),
        state_dir=tmp_path_factory.mktemp("browser-stack"),
        emulators=emulators,
        topology=TOPOLOGY,
    )
    for env in local.function_envs.values():
        env.update(SITE)
    with local as running:
        yield running


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless; .ci/run installs it when it is missing."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def _fresh_world(stack: LocalStack, emulators: EmulatorHosts) -> None:
    """Nobody connected, nothing pending, and a sandbox that behaves."""
    reset_firestore(emulators.firestore_host, emulators.project)
    sandbox_behaves(stack, omit_refresh_token=False)


@pytest.fixture
def open_browser(
    chromium: Browser, request: pytest.FixtureRequest, screenshot: Screenshot
) -> Iterator[Callable[[str], Page]]:
    """``open_browser(locale)``: a new browser profile whose Accept-Language is ``locale``.

    After the test, every page must have been free of Content-Security-Policy violations; a failed
    test leaves a screenshot of where it stopped.
    """
    contexts: list[tuple[BrowserContext, Page, list[str]]] = []
    for stale in SCREENSHOTS.glob(f"FAILED-{screenshot_path(request.node.name).stem}-*.png"):
        stale.unlink()  # left by an earlier run of this test

    def open_(locale: str) -> Page:
        context = chromium.new_context(locale=locale, viewport={"width": 900, "height": 800})
        page = context.new_page()
        violations: list[str] = []

        def note_violation(message: ConsoleMessage) -> None:
            if "Content Security Policy" in message.text:
                violations.append(message.text)

        page.on("console", note_violation)
        contexts.append((context, page, violations))
        return page

    yield open_
    reports = request.node.stash.get(_REPORTS, {})
    failed = any(report.failed for report in reports.values())
    for index, (context, page, violations) in enumerate(contexts):
        if failed:
            screenshot(page, f"FAILED-{request.node.name}-{index}")
        context.close()
        assert violations == [], violations


@pytest.fixture
def page(open_browser: Callable[[str], Page]) -> Page:
    """A browser profile in American English."""
    return open_browser("en-US")


@pytest.fixture(scope="session")
def screenshot() -> Screenshot:
    """``screenshot(page, name)`` saves the whole page under ``test-artifacts/screenshots/``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page: Page, name: str) -> Path:
        path = screenshot_path(name)
        page.screenshot(path=path, full_page=True)
        return path

    return take
