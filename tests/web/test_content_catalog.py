"""Catalog screens: channel number and categories in the channel list and form; categories (ordered with up and
down) and locations (countries and networks)."""

from __future__ import annotations

import re

from content.models import Category, Channel, ChannelLocation, Location
from monitoring.operations import Operation
from tests.content.test_catalog_api import make_category, make_location
from tests.content.test_channels_api import make_channel

from .conftest import page, table


def row_titles(html: str) -> list[str]:
    return re.findall(r'href="/channels/[^/]+/">([^<]+)</a>', html)


def category_order(client) -> list[str]:
    return re.findall(r'<td><code>([^<]+)</code></td>', table(client.get("/categories/")))


# --- Channels ---------------------------------------------------------------------------------------------


def test_the_channel_list_shows_numbers_and_categories_sorted_by_number_then_title(web, portal):
    news = make_category(portal, "news", "News")
    make_channel(portal, "zz", "Zulu")
    make_channel(portal, "aa", "Alpha")
    make_channel(portal, "nine", "Nine", number=9, categories=[news.public_id])
    make_channel(portal, "one", "One", number=1)
    html = table(web["viewer"].get("/channels/"))
    assert row_titles(html) == ["One", "Nine", "Alpha", "Zulu"]
    assert 'data-testid="channel-number">9</td>' in html
    assert f'?categoryId={news.public_id}">News</a>' in html
    assert row_titles(table(web["viewer"].get("/channels/?sort=-number_order"))) == ["Zulu", "Alpha", "Nine", "One"]
    csv = web["viewer"].get("/channels/?format=csv")
    lines = b"".join(csv.streaming_content).decode().splitlines()
    assert lines[0].startswith("Number,Title,Technical name,Categories")
    assert lines[2].startswith("9,Nine,nine,News")


def test_the_channel_list_filters_by_category_id_or_name(web, portal):
    news = make_category(portal, "news", "World news")
    make_channel(portal, "bbc", "BBC", categories=[news.public_id])
    make_channel(portal, "kids", "Kids")
    assert row_titles(table(web["viewer"].get(f"/channels/?categoryId={news.public_id}"))) == ["BBC"]
    assert row_titles(table(web["viewer"].get("/channels/?categoryId=world+news"))) == ["BBC"]
    html = page(web["viewer"].get("/channels/?categoryId=nothing"))
    assert "Category: nothing matches" in html
    assert f'<option value="{news.public_id}">World news</option>' in page(web["viewer"].get("/channels/"))


def test_the_channel_list_shows_locations_and_filters_by_them(web, portal):
    finland = make_location(portal)
    make_channel(portal, "yle", "Yle", locationRestrictions=[finland.public_id])
    make_channel(portal, "free", "Free")
    html = table(web["viewer"].get("/channels/"))
    assert f'href="?locationId={finland.public_id}" title="Plays only here">Finland</a>' in html
    assert '<span class="muted" title="Plays anywhere">anywhere</span>' in html
    assert row_titles(table(web["viewer"].get(f"/channels/?locationId={finland.public_id}"))) == ["Yle"]
    assert row_titles(table(web["viewer"].get("/channels/?locationId=finland"))) == ["Yle"]
    assert "Location: nothing matches" in page(web["viewer"].get("/channels/?locationId=nowhere"))
    assert f'<option value="{finland.public_id}">Finland</option>' in page(web["viewer"].get("/channels/"))
    csv = web["viewer"].get("/channels/?format=csv")
    lines = b"".join(csv.streaming_content).decode().splitlines()
    assert lines[0].startswith("Number,Title,Technical name,Categories,Locations,Packages")
    assert "Yle,yle,,Finland," in lines[2]


def test_the_channel_form_stores_the_catalog_fields(web, portal):
    news, sport = make_category(portal, "news", "News"), make_category(portal, "sport", "Sport")
    finland = make_location(portal)
    response = web["content"].post("/channels/new/", {
        "name": "yle1", "title": "Yle TV1", "epg_source": "", "epg_channel_name": "", "number": "1",
        "categories": [news.public_id, sport.public_id], "description": "Public", "language": "fi_FI",
        "aspect_ratio": "16:9", "quality": "SD", "audio_only": "on", "is_exclusive": "on", "archive_days": "3",
        "location_restrictions": [finland.public_id]})
    assert response.status_code == 302, page(response)
    channel = Channel.objects.get(name="yle1")
    assert (channel.number, channel.description, channel.language, channel.aspect_ratio, channel.quality) == (
        1, "Public", "fi_FI", "16:9", "SD")
    assert (channel.audio_only, channel.is_public, channel.is_exclusive, channel.archive_days) == (
        True, False, True, 3)
    assert set(channel.categories.values_list("name", flat=True)) == {"news", "sport"}
    assert list(ChannelLocation.objects.filter(channel=channel).values_list("location_id", flat=True)) == [finland.id]
    html = page(web["content"].get(f"/channels/{channel.public_id}/"))
    assert re.search(rf'value="{news.public_id}"[^>]*checked', html)
    assert re.search(rf'value="{finland.public_id}"[^>]*checked', html)


def test_a_taken_number_is_shown_on_the_form_and_nothing_is_saved(web, portal):
    make_channel(portal, "news", "News", number=1)
    before = Operation.objects.count()
    response = web["content"].post("/channels/new/", {"name": "sport", "title": "Sport", "number": "1",
                                                      "is_public": "on", "quality": "HD", "archive_days": "0"})
    assert response.status_code == 409
    assert "number is taken by news" in page(response)
    assert not Channel.objects.filter(name="sport").exists() and Operation.objects.count() == before


def test_every_bad_catalog_field_is_shown_at_once(web, portal):
    response = web["content"].post("/channels/new/", {"name": "sport", "title": "Sport", "number": "100000",
                                                      "language": "english", "archive_days": "400"})
    assert response.status_code == 400
    html = page(response)
    assert "from 1 to 99999" in html and "ll_CC" in html and "from 0 to 365" in html


# --- Categories -------------------------------------------------------------------------------------------


def test_up_and_down_reorder_categories_as_the_api_lists_them(web, portal, api):
    from tests.conftest import API

    for name in ("news", "sport", "kids"):
        make_category(portal, name, name.title())
    kids = Category.objects.get(name="kids")
    assert category_order(web["content"]) == ["news", "sport", "kids"]
    response = web["content"].post(f"/categories/{kids.public_id}/move/", {"direction": "up"})
    assert response.status_code == 302
    assert category_order(web["content"]) == ["news", "kids", "sport"]
    web["content"].post(f"/categories/{kids.public_id}/move/", {"direction": "up"})
    web["content"].post(f"/categories/{kids.public_id}/move/", {"direction": "up"})  # already first: no change
    assert [c["name"] for c in api.get(f"{API}/categories").json()["categories"]] == ["kids", "news", "sport"]
    news = Category.objects.get(name="news")
    web["content"].post(f"/categories/{news.public_id}/move/", {"direction": "down"})
    assert category_order(web["content"]) == ["kids", "sport", "news"]
    assert Operation.objects.filter(type="updateCategory").exists()


def test_categories_are_created_edited_and_deleted_on_the_screens(web, portal):
    response = web["content"].post("/categories/new/", {"name": "news", "title": "News"})
    assert response.status_code == 302
    category = Category.objects.get(portal=portal, name="news")
    channel = make_channel(portal, categories=[category.public_id])
    response = web["content"].post(f"/categories/{category.public_id}/", {"title": "World news", "position": "3"})
    assert response.status_code == 302
    category.refresh_from_db()
    assert (category.title, category.position, category.name) == ("World news", 3, "news")
    assert "1 channel leaves it" in page(web["content"].get(f"/categories/{category.public_id}/delete/"))
    assert web["content"].post(f"/categories/{category.public_id}/delete/").status_code == 302
    assert not Category.objects.exists() and not channel.categories.exists()


def test_a_bad_category_is_shown_on_the_form(web, portal):
    make_category(portal)
    response = web["content"].post("/categories/new/", {"name": "news", "title": ""})
    assert response.status_code == 400 and "This field is required." in page(response)
    response = web["content"].post("/categories/new/", {"name": "news", "title": "Other"})
    assert response.status_code == 409 and "already exists" in page(response)
    assert Category.objects.count() == 1


def test_a_reader_sees_categories_and_locations_but_cannot_change_them(web, portal):
    category, location = make_category(portal), make_location(portal)
    viewer = web["viewer"]
    assert "News" in table(viewer.get("/categories/")) and "Finland" in table(viewer.get("/locations/"))
    assert "Add category" not in page(viewer.get("/categories/"))
    assert viewer.get(f"/categories/{category.public_id}/").status_code == 200
    assert viewer.post(f"/categories/{category.public_id}/", {"title": "Mine"}).status_code == 403
    assert viewer.post(f"/categories/{category.public_id}/move/", {"direction": "down"}).status_code == 403
    assert viewer.get("/categories/new/").status_code == 403
    assert viewer.post(f"/locations/{location.public_id}/delete/").status_code == 403
    assert Category.objects.get().title == "News" and Location.objects.exists()


def test_another_portals_category_and_location_screens_are_404(web, portal, other_portal):
    category, location = make_category(other_portal), make_location(other_portal)
    client = web["owner"]
    for path in (f"/categories/{category.public_id}/", f"/categories/{category.public_id}/delete/",
                 f"/locations/{location.public_id}/", f"/locations/{location.public_id}/delete/"):
        assert client.get(path).status_code == 404
    assert client.post(f"/categories/{category.public_id}/move/", {"direction": "up"}).status_code == 404
    assert "News" not in table(client.get("/categories/"))


# --- Locations --------------------------------------------------------------------------------------------


def test_a_location_is_created_from_typed_countries_and_networks(web, portal):
    response = web["content"].post("/locations/new/", {"name": "nordics", "title": "Nordics", "countries": "fi, se",
                                                       "networks": "192.0.2.0/24\n2001:db8::/32\n"})
    assert response.status_code == 302, page(response)
    location = Location.objects.get(name="nordics")
    assert (location.countries, location.networks) == (["FI", "SE"], ["192.0.2.0/24", "2001:db8::/32"])
    html = table(web["viewer"].get("/locations/"))
    assert "FI SE" in html and "2 networks" in html


def test_bad_countries_and_networks_are_shown_on_the_form(web, portal):
    response = web["content"].post("/locations/new/", {"name": "fi", "title": "Finland", "countries": "XX",
                                                       "networks": "10.0.0.0/33"})
    assert response.status_code == 400
    html = page(response)
    assert "&#x27;XX&#x27; is not an ISO 3166-1 alpha-2 country code" in html and "10.0.0.0/33" in html
    assert not Location.objects.exists()


def test_deleting_a_location_in_use_asks_and_then_forces(web, portal):
    location = make_location(portal)
    make_channel(portal, "news", "News", locationRestrictions=[location.public_id])
    html = page(web["content"].get(f"/locations/{location.public_id}/delete/"))
    assert "1 channel is restricted to it: News" in html and "Delete anyway" in html
    response = web["content"].post(f"/locations/{location.public_id}/delete/")
    assert response.status_code == 409 and Location.objects.exists()
    response = web["content"].post(f"/locations/{location.public_id}/delete/", {"force": "1"})
    assert response.status_code == 302 and not Location.objects.exists()
