"""Browser tests: a real Chromium driven by Playwright against pytest-django's live server.

Skipped when Chromium is not installed, except on CI (``CI=true``), where a missing browser fails.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.factories import PASSWORD, make_portal

# Playwright's sync API runs an event loop in this thread; Django must still allow its ORM calls here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path(os.environ.get("CATENA_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


def _require_chromium() -> None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        message = "the playwright package is not installed"
    else:
        if CHROMIUM.exists():
            return
        message = f"Chromium is not installed at {CHROMIUM}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (required on CI)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser():
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    """A fresh browser tab (own cookies) with the live server as base URL."""
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    refused = []  # the pages run under their real Content-Security-Policy: nothing of ours may be refused
    tab.on("console", lambda message: refused.append(message.text)
           if "Content Security Policy" in message.text else None)
    yield tab
    context.close()
    assert refused == [], refused


def wait_until(page, expression: str, timeout: float = 10.0) -> None:
    """Poll a JavaScript expression until it is true. (Playwright's ``wait_for_function`` re-evaluates its
    predicate with ``eval``, which the pages' Content-Security-Policy rightly refuses.)"""
    import time

    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout} s: {expression}"
        page.wait_for_timeout(100)


def log_in(page, email: str) -> None:
    """Open the panel, get sent to the login form, and submit it with the test password."""
    page.goto("/")
    page.wait_for_url(re.compile(r"/login/\?next=/$"))
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")


@pytest.fixture
def owner_page(page):
    """A tab logged in as the owner of ``main-portal`` ("Main TV", owner@example.com), on the dashboard."""
    make_portal("main-portal", title="Main TV", owner_email="owner@example.com")
    log_in(page, "owner@example.com")
    page.wait_for_url(re.compile(r"/$"))
    return page
