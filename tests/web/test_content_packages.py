"""The package screens: list with counts, package page with the channel picker, delete (409, then force),
and the free packages on the portal settings screen."""

from __future__ import annotations

import re

import pytest

from content.models import FreePackage, Package, PackageChannel
from monitoring.operations import Operation, OperationType
from portals.auth import Caller
from subscribers import services as subscriber_services
from subscribers.models import Subscription
from tests.content.test_channels_api import make_channel, make_package
from tests.subscribers.test_subscribers_api import make_subscriber

from .conftest import page, table


def row_of(html: str, text: str) -> str:
    return next(row for row in re.findall(r"<tr>.*?</tr>", html, re.S) if text in row)


def subscribe(portal, subscriber, package):
    subscriber_services.subscribe(subscriber, package, caller=Caller(portal=portal))


def test_the_list_shows_counts_and_the_free_badge(web, portal):
    channels = [make_channel(portal, f"ch{n}", f"Channel {n}") for n in range(3)]
    basic = make_package(portal, "basic", channels)
    kids = make_package(portal, "kids", channels[:1])
    FreePackage.objects.create(portal=portal, package=kids)
    for n in range(2):
        subscribe(portal, make_subscriber(portal, f"S{n}", phone=f"5550100{n}"), basic)
    html = page(web["viewer"].get("/packages/"))
    basic_row = row_of(html, ">basic<")
    assert 'data-testid="channel-count">3<' in basic_row
    assert re.search(r'data-testid="subscriber-count"><a[^>]*>2<', basic_row)
    assert "Free" not in basic_row
    kids_row = row_of(html, ">kids<")
    assert "Free" in kids_row and 'data-testid="channel-count">1<' in kids_row


def test_creating_a_package_opens_its_page(web, portal):
    response = web["content"].post("/packages/new/", {"name": "sport", "description": "All sports"})
    package = Package.objects.get(portal=portal, name="sport")
    assert response.status_code == 302 and response["Location"] == f"/packages/{package.public_id}/"
    assert package.description == "All sports"


def test_a_duplicate_package_name_is_409(web, portal):
    make_package(portal, "sport")
    response = web["content"].post("/packages/new/", {"name": "sport"})
    assert response.status_code == 409 and "Name must be unique: a package named sport already exists." in page(response)
    basic = make_package(portal, "basic")
    response = web["content"].post(f"/packages/{basic.public_id}/", {"name": "sport", "description": ""})
    assert response.status_code == 409 and "a package named sport already exists." in page(response)
    basic.refresh_from_db()
    assert basic.name == "basic"


def test_editing_a_package_renames_it(web, portal):
    basic = make_package(portal, "basic")
    response = web["content"].post(f"/packages/{basic.public_id}/", {"name": "basic-2", "description": "New"})
    assert response.status_code == 302
    basic.refresh_from_db()
    assert (basic.name, basic.description) == ("basic-2", "New")


def test_the_picker_offers_channels_not_in_the_package_and_adds_and_removes(web, portal):
    news = make_channel(portal, "news", "World News")
    sport = make_channel(portal, "sport", "Sport One")
    make_channel(portal, "kids", "Kids Fun")
    basic = make_package(portal, "basic", [news])
    client = web["content"]
    html = page(client.get(f"/packages/{basic.public_id}/"))
    picker = html[html.index('data-testid="picker"'):]
    members = html[html.index('data-testid="members"'):html.index('id="picker"')]
    assert "Sport One" in picker and "Kids Fun" in picker and "World News" not in picker
    assert "World News" in members
    # The search narrows the picker.
    html = page(client.get(f"/packages/{basic.public_id}/", {"q": "spo"}))
    picker = html[html.index('data-testid="picker"'):]
    assert "Sport One" in picker and "Kids Fun" not in picker
    # Add, keeping the search.
    response = client.post(f"/packages/{basic.public_id}/channels/add/", {"channel": sport.public_id, "q": "spo"})
    assert response.status_code == 302 and response["Location"] == f"/packages/{basic.public_id}/?q=spo#picker"
    assert PackageChannel.objects.filter(package=basic, channel=sport).exists()
    assert "Sport One added to basic." in page(client.get(f"/packages/{basic.public_id}/"))
    # Adding it again is the service's 409, shown as a message.
    client.post(f"/packages/{basic.public_id}/channels/add/", {"channel": sport.public_id})
    assert "already in package" in page(client.get(f"/packages/{basic.public_id}/"))
    # Remove.
    response = client.post(f"/packages/{basic.public_id}/channels/{news.public_id}/remove/")
    assert response.status_code == 302
    assert list(PackageChannel.objects.filter(package=basic).values_list("channel__name", flat=True)) == ["sport"]
    types = list(Operation.objects.filter(package_id=basic.id).values_list("type", flat=True))
    assert types.count(OperationType.ADD_CHANNEL_TO_PACKAGE) == 2  # the factory's and the screen's
    assert OperationType.REMOVE_CHANNEL_FROM_PACKAGE in types


def test_the_picker_needs_post_and_the_content_permission(web, portal):
    news = make_channel(portal, "news", "World News")
    basic = make_package(portal, "basic")
    assert web["content"].get(f"/packages/{basic.public_id}/channels/add/").status_code == 405
    assert web["viewer"].post(f"/packages/{basic.public_id}/channels/add/",
                              {"channel": news.public_id}).status_code == 403
    assert not PackageChannel.objects.exists()


def test_deleting_an_unused_package(web, portal):
    basic = make_package(portal, "basic", [make_channel(portal)])
    client = web["content"]
    html = page(client.get(f"/packages/{basic.public_id}/delete/"))
    assert "Delete package" in html and "Delete anyway" not in html
    response = client.post(f"/packages/{basic.public_id}/delete/")
    assert response.status_code == 302 and not Package.objects.filter(pk=basic.pk).exists()
    assert "Package basic deleted." in page(client.get("/packages/"))


def test_a_package_in_use_is_refused_with_409_then_deleted_anyway(web, portal):
    basic = make_package(portal, "basic")
    FreePackage.objects.create(portal=portal, package=basic)
    for n in range(3):
        subscribe(portal, make_subscriber(portal, f"S{n}", phone=f"5550100{n}"), basic)
    client = web["content"]
    confirmation = page(client.get(f"/packages/{basic.public_id}/delete/"))
    assert "<strong>3</strong> subscribers" in confirmation and "free package" in confirmation
    assert "Delete anyway and end 3 subscriptions" in confirmation
    refused = client.post(f"/packages/{basic.public_id}/delete/")
    assert refused.status_code == 409
    html = page(refused)
    assert "cannot be deleted: it has 3 subscribers and it is a free package" in html
    assert "Delete anyway" in html
    assert Package.objects.filter(pk=basic.pk).exists() and Subscription.objects.count() == 3
    response = client.post(f"/packages/{basic.public_id}/delete/", {"force": "1"})
    assert response.status_code == 302
    assert not Package.objects.filter(pk=basic.pk).exists() and not Subscription.objects.exists()
    assert "Package basic deleted. 3 subscriptions ended. It is no longer a free package." in page(
        client.get("/packages/"))
    assert Operation.objects.filter(type=OperationType.DELETE_PACKAGE_SUBSCRIBER).count() == 3


def test_search_packages(web, portal):
    make_package(portal, "sport")
    make_package(portal, "kids")
    rows = table(web["viewer"].get("/packages/", {"search": "spo"}))
    assert "sport" in rows and "kids" not in rows


# --- Free packages on the portal settings screen --------------------------------------------------------------


def test_admins_add_and_remove_free_packages(web, portal):
    basic = make_package(portal, "basic", [make_channel(portal)])
    make_package(portal, "sport")
    client = web["admin"]
    html = page(client.get("/portal/settings/"))
    assert "No free packages" in html
    assert re.search(r'<select id="free-package".*?>basic<.*?>sport<', html, re.S)
    response = client.post("/portal/free-packages/add/", {"package": basic.public_id})
    assert response.status_code == 302 and response["Location"] == "/portal/settings/#free-packages"
    assert FreePackage.objects.filter(package=basic).exists()
    html = page(client.get("/portal/settings/"))
    assert "Package basic is now free for every subscriber." in html
    free_list = html[html.index('data-testid="free-packages"'):html.index("</ul>", html.index('data-testid="free-packages"'))]
    assert "basic" in free_list and "sport" not in free_list
    assert f'<option value="{basic.public_id}">' not in html  # no longer offered
    # Twice is the service's 409, shown as a message.
    client.post("/portal/free-packages/add/", {"package": basic.public_id})
    assert "already free" in page(client.get("/portal/settings/"))
    # Remove, after a confirmation.
    confirm = page(client.get(f"/portal/free-packages/{basic.public_id}/remove/"))
    assert "1 channel" in confirm
    assert client.post(f"/portal/free-packages/{basic.public_id}/remove/").status_code == 302
    assert not FreePackage.objects.exists()
    assert [op.type for op in Operation.objects.filter(package_id=basic.id).order_by("id")][-2:] == [
        OperationType.ADD_FREE_PACKAGE, OperationType.REMOVE_FREE_PACKAGE]
    # A package that is not free has nothing to remove.
    assert client.get(f"/portal/free-packages/{basic.public_id}/remove/").status_code == 404


@pytest.mark.parametrize("persona", ["content", "subscribers", "viewer"])
def test_non_admins_read_the_free_packages_but_cannot_change_them(persona, web, portal):
    basic = make_package(portal, "basic")
    sport = make_package(portal, "sport")
    FreePackage.objects.create(portal=portal, package=basic)
    client = web[persona]
    html = page(client.get("/portal/settings/"))
    assert "basic" in html[html.index('id="free-packages"'):]
    assert "Make free" not in html and "/free-packages/" not in html
    assert client.post("/portal/free-packages/add/", {"package": sport.public_id}).status_code == 403
    assert client.get(f"/portal/free-packages/{basic.public_id}/remove/").status_code == 403
    assert client.post(f"/portal/free-packages/{basic.public_id}/remove/").status_code == 403
    assert list(FreePackage.objects.values_list("package__name", flat=True)) == ["basic"]
