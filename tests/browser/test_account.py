"""Two-factor authentication in a real browser: enrol from My account, log out, log in with a code."""

from __future__ import annotations

import re

import pyotp
import pytest

from portals.models import ManagerTotp
from tests.factories import totp_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_enrolling_2fa_then_logging_in_with_a_code(owner_page):
    page = owner_page
    page.click("header >> text=My account")
    page.wait_for_url(re.compile(r"/account/$"))
    assert page.text_content("[data-testid=totp-status]") == "Off"
    page.click("text=Set up two-factor authentication")
    page.click("button:has-text('Set up two-factor authentication')")
    assert page.locator("[data-testid=totp-qr] svg").is_visible()  # drawn by the server, allowed by the CSP
    secret = page.text_content("[data-testid=totp-secret]").strip()
    totp = pyotp.TOTP(secret)
    page.fill("input[name=code]", totp_code(secret, -1))  # the previous step: the current one stays unused
    page.click("button:has-text('Turn on two-factor authentication')")
    assert page.locator("[data-testid=recovery-codes] li").count() == 10
    assert ManagerTotp.objects.get(manager__email="owner@example.com").enabled

    page.click("button:has-text('Log out')")
    page.wait_for_url(re.compile(r"/login/$"))
    page.fill("input[name=email]", "owner@example.com")
    page.fill("input[name=password]", "Correct-Horse-9")
    page.click("button:has-text('Log in')")
    page.wait_for_url(re.compile(r"/login/code/$"))
    assert page.locator("input[name=password]").count() == 0
    page.fill("input[name=code]", "000000" if totp.now() != "000000" else "111111")
    page.click("button:has-text('Verify')")
    page.wait_for_selector("text=Invalid or already used code.")
    page.fill("input[name=code]", totp.now())
    page.click("button:has-text('Verify')")
    page.wait_for_url(re.compile(r"/$"))
    assert page.text_content("[data-testid=manager-email]") == "owner@example.com"
    page.click("header >> text=My account")
    assert page.text_content("[data-testid=totp-status]") == "On"
