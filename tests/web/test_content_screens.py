"""Content screens for every persona: who sees what, who may change what, and the portal boundary."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from content.models import Channel, EpgSource, FreePackage, Package, PackageChannel
from tests.content.helpers import image_bytes
from tests.content.test_channels_api import make_channel, make_package
from tests.subscribers.test_subscribers_api import make_subscriber

from .conftest import PERSONAS, page

CONTENT_WRITERS = ("owner", "content")
CONTENT_READERS = ("admin", "subscribers", "viewer")


@pytest.fixture
def catalog(portal):
    """Two channels (one with a logo, one with an EPG source), two packages, one of them free."""
    source = EpgSource.objects.create(portal=portal, name="xmltv.main", url="https://epg.example.com/guide.xml")
    news = make_channel(portal, "news", "News 24", logo=image_bytes(), epgSourceName="xmltv.main",
                        epgChannelName="news.example")
    sport = make_channel(portal, "sport", "Sport One")
    basic = make_package(portal, "basic", [news, sport])
    kids = make_package(portal, "kids", [news])
    FreePackage.objects.create(portal=portal, package=kids)
    return {"news": news, "sport": sport, "basic": basic, "kids": kids, "source": source}


def read_screens(catalog) -> list[str]:
    news, basic = catalog["news"], catalog["basic"]
    return ["/channels/", f"/channels/{news.public_id}/", "/packages/", f"/packages/{basic.public_id}/"]


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_manager_reads_every_content_screen(persona, web, catalog):
    for url in read_screens(catalog):
        response = web[persona].get(url)
        assert response.status_code == 200, url
        html = page(response)
        assert "News 24" in html or "basic" in html, url
        for section in ("Channels", "Packages", "Subscribers"):
            assert section in html


@pytest.mark.parametrize("persona", CONTENT_READERS)
def test_readers_see_no_content_write_buttons(persona, web, catalog):
    client = web[persona]
    channels = page(client.get("/channels/"))
    assert "Add channel" not in channels and "Import from CSV" not in channels
    assert "/delete/" not in channels
    channel = page(client.get(f"/channels/{catalog['news'].public_id}/"))
    assert "Save channel" not in channel and "Delete channel" not in channel and "disabled" in channel
    packages = page(client.get("/packages/"))
    assert "Add package" not in packages and "/delete/" not in packages
    package = page(client.get(f"/packages/{catalog['basic'].public_id}/"))
    assert "Save package" not in package and "Add channels" not in package and ">Remove<" not in package
    assert "Sport One" in package  # the members are listed for everyone


@pytest.mark.parametrize("persona", CONTENT_WRITERS)
def test_content_admins_see_the_write_buttons(persona, web, catalog):
    client = web[persona]
    assert "Add channel" in page(client.get("/channels/"))
    package = page(client.get(f"/packages/{catalog['kids'].public_id}/"))
    assert "Save package" in package and "Add channels" in package and ">Remove<" in package


def test_objects_of_another_portal_are_not_found(web, catalog, other_portal):
    theirs = make_channel(other_portal, "theirs", "Their channel", logo=image_bytes())
    their_package = make_package(other_portal, "theirs", [theirs])
    client = web["owner"]
    assert client.get(f"/channels/{theirs.public_id}/logo").status_code == 404
    assert client.get(f"/channels/{theirs.public_id}/logo?size=full").status_code == 404
    for url in [f"/channels/{theirs.public_id}/", f"/channels/{theirs.public_id}/delete/",
                f"/packages/{their_package.public_id}/", f"/packages/{their_package.public_id}/delete/"]:
        assert client.get(url).status_code == 404, url
        assert client.post(url, {"title": "x", "name": "x", "force": "1"}).status_code == 404, url
    basic = catalog["basic"]
    # Another portal's channel cannot be added to our package, nor ours to theirs.
    assert client.post(f"/packages/{basic.public_id}/channels/add/", {"channel": theirs.public_id}).status_code == 404
    assert client.post(f"/packages/{their_package.public_id}/channels/add/",
                       {"channel": catalog["sport"].public_id}).status_code == 404
    assert client.post("/portal/free-packages/add/", {"package": their_package.public_id}).status_code == 404
    assert Channel.objects.filter(pk=theirs.pk).exists() and Package.objects.filter(pk=their_package.pk).exists()
    assert not PackageChannel.objects.filter(package=basic, channel=theirs).exists()
    assert not FreePackage.objects.filter(package=their_package).exists()


@pytest.mark.parametrize("bad_id", ["not-an-id", "AAAAAAAAAAAA"])
def test_malformed_ids_are_not_found(bad_id, web):
    assert web["owner"].get(f"/channels/{bad_id}/").status_code == 404
    assert web["owner"].get(f"/packages/{bad_id}/").status_code == 404


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize("url", ["/channels/", "/packages/", "/"])
def test_content_lists_cost_the_same_queries_for_few_or_many_rows(url, web, portal, catalog,
                                                                  django_assert_max_num_queries):
    client = web["viewer"]
    _queries(client, url)  # warm up: the session's first touch is a write
    few = _queries(client, url)
    packages = [make_package(portal, f"p{n}") for n in range(5)]
    for n in range(30):
        channel = make_channel(portal, f"ch{n}", f"Channel {n}", logo=image_bytes(color=(n, 0, 0)))
        for package in packages[: n % 5]:
            PackageChannel.objects.create(package=package, channel=channel)
        make_subscriber(portal, f"Sub {n}", phone=f"55501{n:03d}")
    with django_assert_max_num_queries(few):
        assert client.get(url).status_code == 200
