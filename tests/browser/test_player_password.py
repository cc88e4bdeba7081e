"""The player login and password in a real browser: the form's login, Reveal, and the confirmed reset."""

from __future__ import annotations

import pytest

from portals.models import Portal
from subscribers.models import Subscriber
from tests.subscribers.test_subscribers_api import make_subscriber

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_set_a_login_reveal_the_password_and_reset_it(owner_page):
    page = owner_page
    portal = Portal.objects.get(name="main-portal")
    alice = make_subscriber(portal, "Alice Smith", "44", "7700900123")
    page.goto(f"/subscribers/{alice.public_id}/")
    assert page.text_content("[data-testid=player-login]") == "447700900123"

    # A login with a space is refused on its field; a good one is saved.
    page.click("a:has-text('Edit')")
    page.fill("input[name=login]", "alice smith")
    page.click("button:has-text('Save')")
    page.wait_for_selector(".form-field:has(input[name=login]) >> text=without spaces")
    page.fill("input[name=login]", "alice.smith")
    page.click("button:has-text('Save')")
    page.wait_for_selector("text=Subscriber Alice Smith saved.")
    assert page.text_content("[data-testid=player-login]") == "alice.smith"

    # The password is masked until revealed.
    password = page.locator("[data-testid=player-password]")
    assert alice.player_password not in password.text_content()
    page.locator("#player-password").locator("button:has-text('Reveal')").click()
    assert password.text_content() == alice.player_password

    # Reset, after a confirmation.
    page.click("a:has-text('Reset password')")
    page.wait_for_selector("text=Reset the player password of Alice Smith?")
    page.click("button:has-text('Reset password')")
    page.wait_for_selector("text=A new player password was set.")
    new = Subscriber.objects.get().player_password
    assert new != alice.player_password
    page.locator("#player-password").locator("button:has-text('Reveal')").click()
    assert page.text_content("[data-testid=player-password]") == new
