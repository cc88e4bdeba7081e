"""The screens in a real browser: login with the portal chooser, branding, and the API key."""

from __future__ import annotations

import io
import re
import urllib.error
import urllib.request

import pytest
from PIL import Image

from portals.models import Portal
from tests.factories import make_portal

from .conftest import log_in, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def api_status(base_url: str, token: str) -> int:
    """The status of ``GET /portal`` of the Management API with this token."""
    request = urllib.request.Request(f"{base_url}/tv-management/api/v1/portal", headers={"X-Auth-Token": token})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_choosing_a_portal_and_renaming_it_shows_the_new_title_in_the_header(page):
    make_portal("first-portal", title="First TV", owner_email="shared@example.com")
    second = make_portal("second-portal", title="Second TV", owner_email="shared@example.com")

    log_in(page, "shared@example.com")
    page.wait_for_url(re.compile(r"/login/portal/$"))
    page.click("button:has-text('Second TV')")
    page.wait_for_url(re.compile(r"/$"))
    assert page.text_content("[data-testid=portal-title]") == "Second TV"
    assert page.text_content("[data-testid=manager-email]") == "shared@example.com"

    page.click("nav >> text=Portal settings")
    page.fill("input[name=title]", "Renamed TV")
    page.click("button:has-text('Save settings')")
    page.wait_for_selector("text=Portal settings saved.")
    assert page.text_content("[data-testid=portal-title]") == "Renamed TV"
    second.refresh_from_db()
    assert second.title == "Renamed TV"
    assert Portal.objects.get(name="first-portal").title == "First TV"


def test_a_chosen_logo_is_previewed_before_upload(owner_page, tmp_path):
    page = owner_page
    logo = tmp_path / "logo.png"
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 120, 200)).save(buffer, format="PNG")
    logo.write_bytes(buffer.getvalue())

    page.goto("/portal/settings/")
    page.set_input_files("input[name=logo]", str(logo))
    wait_until(page, "document.getElementById('logo-preview').src.startsWith('data:image/png')")
    page.click("button:has-text('Save settings')")
    page.wait_for_selector("text=Portal settings saved.")
    # The header image loads after the page: wait until the browser has decoded it, then check its size.
    wait_until(page, "(() => { const img = document.querySelector('header img.brand-logo');"
                     " return img !== null && img.complete && img.naturalWidth > 0; })()")
    assert page.locator("header img.brand-logo").evaluate("img => img.naturalWidth") == 16


def test_a_new_api_key_refuses_the_old_one_at_once(owner_page, live_server):
    page = owner_page
    old_key = Portal.objects.get(name="main-portal").api_key
    assert api_status(live_server.url, old_key) == 200

    page.goto("/portal/settings/")
    key = page.locator("[data-testid=api-key]")
    assert old_key not in key.text_content()
    page.click("button:has-text('Reveal')")
    assert key.text_content() == old_key

    page.click("text=Generate new API key")
    page.wait_for_selector("text=stops working at once")
    page.click("button:has-text('Generate new API key')")
    page.wait_for_selector("text=The previous key no longer works.")
    page.click("button:has-text('Reveal')")
    new_key = page.locator("[data-testid=api-key]").text_content()

    assert new_key != old_key
    assert api_status(live_server.url, old_key) == 401
    assert api_status(live_server.url, new_key) == 200
