"""The Russian screens in a real browser: the header's switcher, the dashboard's navigation without English, a
screenshot of it."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from portals.models import Manager
from tests.factories import make_portal

from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ENGLISH_NAV = ("Dashboard", "Channels", "Packages", "Categories", "Locations", "Subscribers", "Play sessions",
               "Managers", "Operations log", "Webhooks", "Portal settings", "My account", "Log out")


def test_switching_to_russian_shows_the_dashboard_without_english_navigation(page, tmp_path):
    portal = make_portal("ru-portal", title="Русское ТВ", owner_email="owner@ru.example.com")
    log_in(page, "owner@ru.example.com")
    page.wait_for_url(re.compile(r"/$"))
    assert page.text_content("nav.nav a[href='/']") == "Dashboard"

    page.click("[data-testid=language-switcher] button[value=ru]")
    page.wait_for_url(re.compile(r"/$"))
    assert page.get_attribute("html", "lang") == "ru"
    labels = [label.strip() for label in page.locator("nav.nav a").all_text_contents()]
    assert "Обзор" in labels and "Журнал операций" in labels and "Абоненты" in labels
    header = page.text_content("header.topbar")
    assert [word for word in ENGLISH_NAV if word in header] == []
    assert page.text_content("[data-testid=time-zone]").strip() == "UTC"
    # CATENA_SCREENSHOT_DIR keeps the picture for a person to look at (CI artefacts); else a temporary folder.
    screenshot = Path(os.environ.get("CATENA_SCREENSHOT_DIR") or tmp_path) / "dashboard-ru.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 10_000
    assert Manager.objects.get(pk=portal.owner_id).language == "ru"

    # the choice is the manager's: another browser (another context) after logging in is Russian too
    page.click("header.topbar button:has-text('Выйти')")
    page.wait_for_url(re.compile(r"/login/$"))
    assert page.text_content("h1") == "Войти"
    page.click("[data-testid=language-switcher] button[value=en]")
    page.wait_for_url(re.compile(r"/login/$"))
    assert page.text_content("h1") == "Log in"
