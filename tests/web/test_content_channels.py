"""The channel screens: list with thumbnails, search and package filter; create, edit, logo, delete."""

from __future__ import annotations

import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from content.models import Channel, EpgSource
from monitoring.operations import Operation, OperationType
from tests.content.helpers import image_bytes
from tests.content.test_channels_api import make_channel, make_package

from .conftest import page, table


def upload(raw: bytes, name: str = "logo.png", content_type: str = "image/png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, raw, content_type=content_type)


@pytest.fixture
def epg_source(portal):
    return EpgSource.objects.create(portal=portal, name="xmltv.main", url="https://epg.example.com/guide.xml")


def channel_form(**changes) -> dict:
    data = {"name": "bbc-1", "title": "BBC One", "epg_source": "", "epg_channel_name": ""}
    data.update(changes)
    return data


def test_creating_a_channel_with_a_logo_and_epg_stores_it(web, portal, epg_source):
    response = web["content"].post("/channels/new/", channel_form(
        epg_source="xmltv.main", epg_channel_name="bbc1.uk", logo=upload(image_bytes((200, 100)))))
    assert response.status_code == 302 and response["Location"] == "/channels/"
    channel = Channel.objects.get(portal=portal, name="bbc-1")
    assert (channel.title, channel.epg_source, channel.epg_channel_name) == ("BBC One", epg_source, "bbc1.uk")
    assert channel.has_logo and channel.logo_content_type == "image/png"
    operation = Operation.objects.get(type=OperationType.CREATE_CHANNEL)
    assert operation.actor_email == "content@example.com"
    html = page(web["content"].get("/channels/"))
    assert "Channel bbc-1 saved." in html
    assert f'/channels/{channel.public_id}/logo?size=small&amp;v={channel.logo_etag[:12]}' in table(
        web["content"].get("/channels/"))


def test_the_form_offers_the_portals_epg_sources(web, portal, epg_source, other_portal):
    EpgSource.objects.create(portal=other_portal, name="their.guide", url="https://epg.example.com/x.xml")
    html = page(web["content"].get("/channels/new/"))
    assert '<option value="xmltv.main">xmltv.main</option>' in html
    assert "their.guide" not in html


def test_the_list_logo_is_the_small_rendition_served_with_etag_and_cache_headers(web, portal):
    channel = make_channel(portal, logo=image_bytes((300, 150)))
    client = web["viewer"]
    response = client.get(f"/channels/{channel.public_id}/logo?size=small")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).size == (64, 32)
    assert client.get(f"/channels/{channel.public_id}/logo").content == response.content  # small by default
    assert response["Cache-Control"] == "public, max-age=300, must-revalidate"  # as the API serves logos
    etag = response["ETag"]
    again = client.get(f"/channels/{channel.public_id}/logo?size=small", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again["ETag"] == etag
    medium = client.get(f"/channels/{channel.public_id}/logo?size=medium")
    assert Image.open(io.BytesIO(medium.content)).size == (160, 80)
    assert client.get(f"/channels/{channel.public_id}/logo?size=large").content == image_bytes((300, 150))
    full = client.get(f"/channels/{channel.public_id}/logo?size=full")
    assert full.status_code == 200 and full.content == image_bytes((300, 150))
    assert client.get(f"/channels/{channel.public_id}/logo?size=huge").status_code == 404
    no_logo = make_channel(portal, "plain", "Plain")
    assert client.get(f"/channels/{no_logo.public_id}/logo").status_code == 404


def test_a_duplicate_name_is_refused_with_409_on_the_field(web, portal):
    make_channel(portal, "bbc-1", "Existing")
    response = web["owner"].post("/channels/new/", channel_form())
    assert response.status_code == 409
    assert "Name must be unique: a channel named bbc-1 already exists." in page(response)
    assert Channel.objects.filter(portal=portal).count() == 1


def test_a_bad_name_and_missing_title_are_400_on_their_fields(web, portal):
    response = web["owner"].post("/channels/new/", channel_form(name="x", title=""))
    assert response.status_code == 400
    html = page(response)
    assert "Must be 2–20 characters" in html and "This field is required." in html
    assert not Channel.objects.exists()


def test_a_file_that_is_not_an_image_is_refused_as_400(web, portal):
    response = web["owner"].post("/channels/new/", channel_form(
        logo=upload(b"GIF89a not really", name="logo.png")))
    assert response.status_code == 400
    assert re.search(r'class="form-field has-error".*?logo', page(response), re.S)
    assert not Channel.objects.exists()


def test_editing_changes_title_epg_and_logo_but_never_the_name(web, portal, epg_source):
    channel = make_channel(portal, "news", "News", logo=image_bytes())
    old_etag = channel.logo_etag
    client = web["content"]
    response = client.post(f"/channels/{channel.public_id}/", {
        "name": "renamed", "title": "News 24", "epg_source": "xmltv.main", "epg_channel_name": "news.24",
        "logo": upload(image_bytes(color=(1, 2, 3)))})
    assert response.status_code == 302
    channel.refresh_from_db()
    assert (channel.name, channel.title, channel.epg_source_id) == ("news", "News 24", epg_source.id)
    assert channel.logo_etag and channel.logo_etag != old_etag
    # Remove the logo and the EPG source.
    client.post(f"/channels/{channel.public_id}/", {"title": "News 24", "epg_source": "", "epg_channel_name": "",
                                                    "remove_logo": "on"})
    channel.refresh_from_db()
    assert not channel.has_logo and channel.epg_source is None
    assert Operation.objects.filter(type=OperationType.UPDATE_CHANNEL).count() == 2


def test_the_channel_page_shows_its_packages_and_a_disabled_name(web, portal):
    channel = make_channel(portal, "news", "News")
    make_package(portal, "basic", [channel])
    html = page(web["content"].get(f"/channels/{channel.public_id}/"))
    assert "basic" in html and "Save channel" in html
    assert re.search(r'<input[^>]*name="name"[^>]*disabled', html)


def test_delete_confirmation_names_the_packages_it_leaves(web, portal):
    channel = make_channel(portal, "news", "News")
    make_package(portal, "basic", [channel])
    make_package(portal, "extra", [channel])
    client = web["content"]
    html = page(client.get(f"/channels/{channel.public_id}/delete/"))
    assert re.search(r'data-testid="left-packages">basic, extra<', html)
    response = client.post(f"/channels/{channel.public_id}/delete/")
    assert response.status_code == 302
    assert not Channel.objects.filter(pk=channel.pk).exists()
    assert "Channel news deleted; it left 2 packages: basic, extra." in page(client.get("/channels/"))


def test_search_and_package_filter(web, portal):
    news = make_channel(portal, "news", "World News")
    make_channel(portal, "sport", "Sport One")
    kids = make_channel(portal, "kids", "Kids Fun")
    basic = make_package(portal, "basic", [news, kids])
    client = web["viewer"]
    rows = table(client.get("/channels/", {"search": "spor"}))
    assert "Sport One" in rows and "World News" not in rows
    rows = table(client.get("/channels/", {"search": "news"}))  # technical name or title
    assert "World News" in rows and "Kids Fun" not in rows
    rows = table(client.get("/channels/", {"packageId": basic.public_id}))
    assert "World News" in rows and "Kids Fun" in rows and "Sport One" not in rows
    assert "No channels found" in page(client.get("/channels/", {"search": "zzz"}))
    bad = client.get("/channels/", {"packageId": "nonsense"})
    assert bad.status_code == 200 and "Package:" in page(bad)


def test_the_list_is_by_title_and_pages(web, portal):
    for n in range(55):
        make_channel(portal, f"ch{n:02d}", f"Channel {n:02d}")
    client = web["viewer"]
    first = table(client.get("/channels/"))
    assert "Channel 00" in first and "Channel 49" in first and "Channel 50" not in first
    next_url = re.search(r'href="(\?cursor=[^"]+)" rel="next"', page(client.get("/channels/"))).group(1)
    second = table(client.get("/channels/" + next_url.replace("&amp;", "&")))
    assert "Channel 50" in second and "Channel 54" in second and "Channel 49" not in second


def test_a_name_another_portal_uses_on_the_same_streaming_server_is_409_on_the_field(web, portal):
    from tests.factories import make_portal

    neighbour = make_portal("neighbour", title="Neighbour TV")  # the same (default) streaming server
    make_channel(neighbour, "bbc-1", "Theirs")
    response = web["owner"].post("/channels/new/", channel_form())
    assert response.status_code == 409
    html = page(response)
    assert "A channel named bbc-1 already exists on this streaming server." in html
    assert "neighbour" not in html.lower()
    assert not Channel.objects.filter(portal=portal).exists()
    assert not Operation.objects.filter(portal=portal, type=OperationType.CREATE_CHANNEL).exists()
