"""Subscriber screens in a real browser: create with live phone checks, card packages, block, search."""

from __future__ import annotations

import re

import pytest

from portals.models import Portal
from subscribers.models import Subscriber, Subscription
from tests.content.test_channels_api import make_channel, make_package
from tests.subscribers.test_subscribers_api import make_subscriber

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_create_a_subscriber_add_a_package_block_them_and_find_them(owner_page):
    page = owner_page
    portal = Portal.objects.get(name="main-portal")
    make_package(portal, "basic", [make_channel(portal, "news", "News 24")])
    make_subscriber(portal, "Someone Else", "1", "2025550100")

    # Create, with the phone checked while typing.
    page.click("nav >> text=Subscribers")
    page.click("text=Add subscriber")
    page.fill("input[name=phone_country_code]", "+44")
    page.wait_for_selector("text=Must be 1–4 digits, without '+' or spaces.")
    page.fill("input[name=phone]", "7700 900")
    page.wait_for_selector("text=Must be 4–15 digits, without '+', spaces or dashes.")
    # Submitting with a missing name and a bad number: one answer names every field.
    page.click("button:has-text('Add subscriber')")
    page.wait_for_selector(".form-field:has(input[name=name]) >> text=This field is required.")
    assert page.url.endswith("/subscribers/new/")
    errors = page.locator(".field-errors li")
    assert errors.all_text_contents() == ["This field is required.", "Must be 1–4 digits, without '+' or spaces.",
                                          "Must be 4–15 digits, without '+', spaces or dashes."]
    assert not Subscriber.objects.filter(phone="7700 900").exists()
    page.fill("input[name=name]", "Alice Smith")
    page.fill("input[name=phone_country_code]", "44")
    page.fill("input[name=phone]", "7700900123")
    assert page.locator("text=Must be 4–15 digits").count() == 0
    assert page.locator("text=Must be 1–4 digits").count() == 0
    page.click("button:has-text('Add subscriber')")
    page.wait_for_selector("text=Subscriber Alice Smith saved.")
    assert page.text_content("[data-testid=phone]") == "+44 7700900123"

    # Add a package on the card.
    page.select_option("#add-package", label="basic")
    page.click("button:has-text('Add package')")
    page.wait_for_selector("text=Package basic added.")
    assert page.text_content("[data-testid=watchable]") == "1"
    alice = Subscriber.objects.get(name="Alice Smith")
    assert Subscription.objects.filter(subscriber=alice, package__name="basic").exists()

    # The token is masked until revealed.
    token = page.locator("[data-testid=playback-token]")
    assert alice.playback_token not in token.text_content()
    page.locator("#token").locator("button:has-text('Reveal')").click()
    assert token.text_content() == alice.playback_token

    # Block them.
    page.click("button:has-text('Block')")
    page.wait_for_selector("text=blocked: they can watch nothing")
    assert page.text_content("h1 [data-testid=status]") == "Blocked"
    assert page.text_content("[data-testid=watchable]") == "0"
    alice.refresh_from_db()
    assert alice.disabled

    # Find them by a partial phone number.
    page.click("nav >> text=Subscribers")
    page.fill("#search", "900 12")
    page.click("form[role=search] >> button:has-text('Search')")
    page.wait_for_url(re.compile(r"search=900"))
    rows = page.locator("tbody tr")
    assert rows.count() == 1
    assert "Alice Smith" in rows.first.text_content() and "Blocked" in rows.first.text_content()


def test_bulk_add_a_package_to_every_subscriber_matching_the_filter(owner_page):
    page = owner_page
    portal = Portal.objects.get(name="main-portal")
    make_package(portal, "weekend")
    for n in range(3):
        make_subscriber(portal, f"Promo {n}", "1", f"5550100{n}")
    make_subscriber(portal, "Other", "1", "5550200")
    page.goto("/subscribers/?search=promo")
    page.check("[data-bulk-all]")
    page.select_option("#bulk-package", label="weekend")
    page.click("button:has-text('Apply')")
    page.wait_for_selector("text=3 subscribers will get package")
    page.click("button:has-text('Add to 3 subscribers')")
    page.wait_for_selector("text=3 subscribers now have package weekend.")
    assert set(Subscription.objects.values_list("subscriber__name", flat=True)) == {"Promo 0", "Promo 1", "Promo 2"}
    # Checked rows only, from the page's select-all box.
    page.goto("/subscribers/?search=other")
    page.check("[data-bulk-page]")
    assert page.text_content("[data-bulk-count]") == "1 selected on this page"
    page.select_option("#bulk-package", label="weekend")
    page.click("button:has-text('Apply')")
    page.click("button:has-text('Add to 1 subscriber')")
    page.wait_for_selector("text=1 subscriber now has package weekend.")
    assert Subscription.objects.count() == 4
