"""Content screens in a real browser: a channel with a logo, the package picker, a free package."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from content.models import Channel, FreePackage, Package, PackageChannel
from portals.auth import Caller
from portals.models import Portal
from subscribers import services as subscriber_services
from tests.content.test_channels_api import make_package
from tests.subscribers.test_subscribers_api import make_subscriber

from .conftest import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_channel_with_a_logo_goes_into_a_free_package(owner_page, tmp_path):
    page = owner_page
    logo = tmp_path / "logo.png"
    buffer = io.BytesIO()
    Image.new("RGB", (120, 60), (200, 40, 40)).save(buffer, format="PNG")
    logo.write_bytes(buffer.getvalue())

    # Create a channel with a logo: the preview shows before upload, the thumbnail in the list after.
    page.click("nav >> text=Channels")
    page.click("text=Add channel")
    page.fill("input[name=name]", "news-24")
    page.fill("input[name=title]", "News 24")
    page.set_input_files("input[name=logo]", str(logo))
    wait_until(page, "document.getElementById('logo-preview').src.startsWith('data:image/png')")
    page.click("button:has-text('Add channel')")
    page.wait_for_selector("text=Channel news-24 saved.")
    thumb = page.locator("[data-testid=channel-thumb]")
    wait_until(page, "document.querySelector('[data-testid=channel-thumb]').complete")
    assert thumb.evaluate("img => img.naturalWidth") == 64  # the small (64-pixel) rendition of a 120×60 logo
    assert Channel.objects.get(name="news-24").has_logo

    # A second channel, so that the picker has something to filter out.
    page.click("text=Add channel")
    page.fill("input[name=name]", "sport")
    page.fill("input[name=title]", "Sport One")
    page.click("button:has-text('Add channel')")
    page.wait_for_selector("text=Channel sport saved.")

    # Create a package and add the channel with the picker, narrowing it as we type.
    page.click("nav >> text=Packages")
    page.click("text=Add package")
    page.fill("input[name=name]", "basic")
    page.click("button:has-text('Add package')")
    page.wait_for_selector("text=Package basic created.")
    picker = page.locator("[data-testid=picker]")
    page.fill("#picker-q", "news")
    assert picker.locator("li", has_text="Sport One").is_hidden()
    assert picker.locator("li", has_text="News 24").is_visible()
    picker.locator("li", has_text="News 24").locator("button:has-text('Add')").click()
    page.wait_for_selector("text=News 24 added to basic.")
    assert page.locator("[data-testid=members]").locator("text=News 24").is_visible()
    package = Package.objects.get(name="basic")
    assert list(PackageChannel.objects.filter(package=package).values_list("channel__name", flat=True)) == [
        "news-24"]

    # Make it free in the portal settings.
    page.click("nav >> text=Portal settings")
    page.select_option("#free-package", label="basic")
    page.click("button:has-text('Make free')")
    page.wait_for_selector("text=Package basic is now free for every subscriber.")
    assert page.locator("[data-testid=free-packages]").locator("text=basic").is_visible()
    assert FreePackage.objects.filter(package=package).exists()
    page.click("nav >> text=Packages")
    assert page.locator("tr", has_text="basic").locator(".badge-free").is_visible()


def test_deleting_a_package_with_subscribers_says_how_many_subscriptions_end(owner_page):
    page = owner_page
    portal = Portal.objects.get(name="main-portal")
    package = make_package(portal, "weekend")
    for n in range(2):
        subscriber_services.subscribe(make_subscriber(portal, f"S{n}", phone=f"5550100{n}"), package,
                                      caller=Caller(portal=portal))
    page.goto("/packages/")
    page.locator("tr", has_text="weekend").locator("text=Delete").click()
    page.wait_for_selector("text=2 subscriptions end")
    page.click("button:has-text('Delete anyway and end 2 subscriptions')")
    page.wait_for_selector("text=Package weekend deleted. 2 subscriptions ended.")
    assert not Package.objects.filter(name="weekend").exists()
