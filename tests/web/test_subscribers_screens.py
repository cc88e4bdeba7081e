"""Subscriber screens for every persona, the list's search and filters, and the portal boundary."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from content.models import FreePackage
from portals.auth import Caller
from subscribers import services
from subscribers.models import Subscription
from tests.content.test_channels_api import make_channel, make_package
from tests.subscribers.test_subscribers_api import make_subscriber

from .conftest import PERSONAS, page, table

SUBSCRIBER_WRITERS = ("owner", "subscribers")
SUBSCRIBER_READERS = ("admin", "content", "viewer")


@pytest.fixture
def people(portal):
    basic = make_package(portal, "basic", [make_channel(portal)])
    sport = make_package(portal, "sport")
    alice = make_subscriber(portal, "Alice Smith", "1", "2025550143")
    bob = make_subscriber(portal, "Bob Jones", "44", "7700900123")
    owner = Caller(portal=portal)
    services.subscribe(alice, basic, caller=owner)
    services.subscribe(alice, sport, caller=owner)
    services.set_disabled(bob, True, caller=owner)
    return {"alice": alice, "bob": bob, "basic": basic, "sport": sport}


def read_screens(people) -> list[str]:
    return ["/subscribers/", f"/subscribers/{people['alice'].public_id}/"]


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_manager_reads_the_subscriber_screens(persona, web, people):
    for url in read_screens(people):
        response = web[persona].get(url)
        assert response.status_code == 200, url
        html = page(response)
        assert "Alice Smith" in html and "+1 2025550143" in html


@pytest.mark.parametrize("persona", SUBSCRIBER_READERS)
def test_readers_see_no_write_buttons_and_no_token(persona, web, people):
    client = web[persona]
    listing = page(client.get("/subscribers/"))
    assert "Add subscriber" not in listing and "Import from CSV" not in listing
    assert 'name="ids"' not in listing and "/subscribers/bulk/" not in listing and "/edit/" not in listing
    card = page(client.get(f"/subscribers/{people['alice'].public_id}/"))
    assert people["alice"].playback_token not in card and "Playback token" not in card
    for text in ("Block", "Regenerate", "Add package", ">Remove<", "/edit/", "/delete/"):
        assert text not in card, text
    assert "basic" in card and "sport" in card  # the packages are listed for everyone


@pytest.mark.parametrize("persona", SUBSCRIBER_WRITERS)
def test_subscriber_admins_see_the_write_buttons_and_the_token(persona, web, people):
    client = web[persona]
    listing = page(client.get("/subscribers/"))
    assert "Add subscriber" in listing and 'name="ids"' in listing
    card = page(client.get(f"/subscribers/{people['alice'].public_id}/"))
    assert people["alice"].playback_token in card
    for text in ("Block", "Regenerate token", "Remove", "Every package of the portal is already given."):
        assert text in card, text
    card = page(client.get(f"/subscribers/{people['bob'].public_id}/"))
    assert "Unblock" in card and "Add package" in card


def test_subscribers_of_another_portal_are_not_found(web, people, other_portal):
    theirs = make_subscriber(other_portal, "Stranger", "1", "2025550143")
    their_package = make_package(other_portal, "theirs")
    client = web["owner"]
    alice = people["alice"]
    for url in [f"/subscribers/{theirs.public_id}/", f"/subscribers/{theirs.public_id}/edit/",
                f"/subscribers/{theirs.public_id}/delete/", f"/subscribers/{theirs.public_id}/token/reset/",
                f"/subscribers/{alice.public_id}/packages/{their_package.public_id}/remove/"]:
        assert client.get(url).status_code == 404, url
    for url, data in [
        (f"/subscribers/{theirs.public_id}/block/", {"disabled": "1"}),
        (f"/subscribers/{theirs.public_id}/delete/", {}),
        (f"/subscribers/{theirs.public_id}/packages/add/", {"package": their_package.public_id}),
        (f"/subscribers/{alice.public_id}/packages/add/", {"package": their_package.public_id}),
        ("/subscribers/bulk/", {"action": "subscribe", "package": their_package.public_id,
                                "ids": alice.public_id, "confirm": "1"}),
    ]:
        assert client.post(url, data).status_code == 404, url
    theirs.refresh_from_db()
    assert not theirs.disabled and not Subscription.objects.filter(package=their_package).exists()
    assert "Stranger" not in page(client.get("/subscribers/"))


def test_the_list_shows_phone_packages_count_activity_and_status(web, people):
    html = table(web["viewer"].get("/subscribers/"))
    alice = next(row for row in re.findall(r"<tr>.*?</tr>", html, re.S) if "Alice Smith" in row)
    bob = next(row for row in re.findall(r"<tr>.*?</tr>", html, re.S) if "Bob Jones" in row)
    assert "+1 2025550143" in alice and "<td>2</td>" in alice and "Never" in alice and "Active" in alice
    assert "+44 7700900123" in bob and "<td>0</td>" in bob and "Blocked" in bob


def test_search_by_name_or_partial_phone_and_filters(web, people):
    client = web["viewer"]
    rows = table(client.get("/subscribers/", {"search": "alice"}))
    assert "Alice Smith" in rows and "Bob Jones" not in rows
    rows = table(client.get("/subscribers/", {"search": "0900"}))
    assert "Bob Jones" in rows and "Alice Smith" not in rows
    rows = table(client.get("/subscribers/", {"search": "+1 202-555"}))
    assert "Alice Smith" in rows and "Bob Jones" not in rows
    rows = table(client.get("/subscribers/", {"packageId": people["sport"].public_id}))
    assert "Alice Smith" in rows and "Bob Jones" not in rows
    rows = table(client.get("/subscribers/", {"disabled": "true"}))
    assert "Bob Jones" in rows and "Alice Smith" not in rows
    rows = table(client.get("/subscribers/", {"disabled": "false"}))
    assert "Alice Smith" in rows and "Bob Jones" not in rows
    assert "No subscribers found" in page(client.get("/subscribers/", {"search": "zzz"}))
    assert "Package:" in page(client.get("/subscribers/", {"packageId": "nonsense"}))


def test_the_list_pages_newest_first(web, portal):
    for n in range(55):
        make_subscriber(portal, f"Person {n:02d}", "1", f"55501{n:03d}")
    client = web["viewer"]
    first = table(client.get("/subscribers/"))
    assert "Person 54" in first and "Person 05" in first and "Person 04" not in first
    next_url = re.search(r'href="(\?cursor=[^"]+)" rel="next"', page(client.get("/subscribers/"))).group(1)
    second = table(client.get("/subscribers/" + next_url.replace("&amp;", "&")))
    assert "Person 04" in second and "Person 00" in second and "Person 05" not in second


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize("persona", ["viewer", "subscribers"])
def test_the_list_and_card_cost_the_same_queries_for_few_or_many_rows(persona, web, portal, people,
                                                                      django_assert_max_num_queries):
    client = web[persona]
    card = f"/subscribers/{people['alice'].public_id}/"
    for url in ("/subscribers/", card):
        _queries(client, url)
    few = {url: _queries(client, url) for url in ("/subscribers/", card)}
    packages = [make_package(portal, f"p{n}", [make_channel(portal, f"c{n}", f"C {n}")]) for n in range(5)]
    FreePackage.objects.create(portal=portal, package=packages[0])
    owner = Caller(portal=portal)
    for n in range(40):
        subscriber = make_subscriber(portal, f"Person {n}", "1", f"55501{n:03d}")
        for package in packages[: n % 5]:
            services.subscribe(subscriber, package, caller=owner)
    for package in packages[1:]:
        services.subscribe(people["alice"], package, caller=owner)
    for url, count in few.items():
        with django_assert_max_num_queries(count):
            assert client.get(url).status_code == 200
