"""Where the catalog shows to subscribers (catalog.md §3): the client API's channel order and fields,
``GET /categories``, the playlist's ``tvg-chno``/``group-title``/``radio``, and a guide left as it was."""

import gzip
import re

import pytest

from content import services as content
from portals.auth import Caller
from subscribers import services
from tests.client.conftest import CLIENT
from tests.client.m3u import parse_m3u
from tests.client.test_watching import app_token
from tests.content.test_channels_api import make_channel, make_package
from tests.subscribers.test_subscribers_api import make_subscriber


def category(portal, name, title, **extra):
    return content.create_category(portal, caller=Caller(portal=portal), data={"name": name, "title": title, **extra})


@pytest.fixture
def catalog(portal):
    """Five channels, four of them watchable; categories in display order news, sport, music, docs, empty."""
    caller = Caller(portal=portal)
    cats = {name: category(portal, name, title) for name, title in
            [("news", "News"), ("sport", 'Sport "Live"'), ("music", "Music"), ("docs", "Documentaries"),
             ("empty", "Nothing here")]}
    ids = {name: c.public_id for name, c in cats.items()}
    news = make_channel(portal, "news", "World News", number=5, categories=[ids["news"]])
    sport = make_channel(portal, "sport", "Arena Sport", number=2, categories=[ids["sport"], ids["news"]])
    radio = make_channel(portal, "radio1", "Radio One, Classics", audioOnly=True, quality="SD", archiveDays=3,
                         categories=[ids["music"]])
    kids = make_channel(portal, "kids", "Cartoons")
    docs = make_channel(portal, "docs", "Docs", number=1, categories=[ids["docs"]])
    basic = make_package(portal, "basic", [news, sport, radio])
    make_package(portal, "kids-pack", [kids])
    make_package(portal, "premium", [docs])
    subscriber = make_subscriber(portal)
    services.subscribe(subscriber, basic, caller=caller)
    content.add_free_package(content.Package.objects.get(portal=portal, name="kids-pack"), caller=caller)
    return {"caller": caller, "categories": cats, "subscriber": subscriber, "basic": basic,
            "channels": {"news": news, "sport": sport, "radio1": radio, "kids": kids, "docs": docs}}


def get(app, path, subscriber):
    response = app.get(f"{CLIENT}/{path}", HTTP_AUTHORIZATION=f"Bearer {app_token(subscriber)}")
    assert response.status_code == 200, response.content
    return response.json()


def test_channels_are_ordered_by_number_then_title_with_their_catalog_fields(app, catalog):
    listed = get(app, "channels", catalog["subscriber"])["channels"]
    # sport (2), news (5), then the channels without a number by title: Cartoons, Radio One.
    assert [c["name"] for c in listed] == ["sport", "news", "kids", "radio1"]
    cats = {name: c.public_id for name, c in catalog["categories"].items()}
    assert [{key: c[key] for key in ("number", "categories", "audioOnly", "quality", "archiveDays")}
            for c in listed] == [
        {"number": 2, "categories": [{"categoryId": cats["sport"], "name": "sport", "title": 'Sport "Live"'},
                                     {"categoryId": cats["news"], "name": "news", "title": "News"}],
         "audioOnly": False, "quality": "HD", "archiveDays": 0},
        {"number": 5, "categories": [{"categoryId": cats["news"], "name": "news", "title": "News"}],
         "audioOnly": False, "quality": "HD", "archiveDays": 0},
        {"number": None, "categories": [], "audioOnly": False, "quality": "HD", "archiveDays": 0},
        {"number": None, "categories": [{"categoryId": cats["music"], "name": "music", "title": "Music"}],
         "audioOnly": True, "quality": "SD", "archiveDays": 3},
    ]


def test_a_channels_categories_keep_the_channels_order_not_the_display_order(app, catalog):
    cats = catalog["categories"]
    content.update_channel(catalog["channels"]["sport"], caller=catalog["caller"],
                           data={"categories": [cats["news"].public_id, cats["sport"].public_id]})
    sport = get(app, "channels", catalog["subscriber"])["channels"][0]
    assert [c["name"] for c in sport["categories"]] == ["news", "sport"]


def test_numbers_reorder_the_list_at_once(app, catalog):
    content.update_channel(catalog["channels"]["radio1"], caller=catalog["caller"], data={"number": 3})
    content.update_channel(catalog["channels"]["sport"], caller=catalog["caller"], data={"number": None})
    listed = get(app, "channels", catalog["subscriber"])["channels"]
    assert [c["name"] for c in listed] == ["radio1", "news", "sport", "kids"]  # Arena Sport before Cartoons


def test_categories_are_those_holding_a_watchable_channel_in_display_order(app, catalog):
    body = get(app, "categories", catalog["subscriber"])
    cats = catalog["categories"]
    # docs holds only a channel of a package the subscriber lacks; empty holds none.
    assert body == {"categories": [
        {"categoryId": cats[name].public_id, "name": name, "title": cats[name].title, "position": cats[name].position}
        for name in ("news", "sport", "music")]}
    assert [c["position"] for c in body["categories"]] == [0, 1, 2]


def test_categories_follow_moves_and_access_changes(app, catalog):
    cats, caller, subscriber = catalog["categories"], catalog["caller"], catalog["subscriber"]
    content.move_category(cats["music"], caller=caller, up=True)
    assert [c["name"] for c in get(app, "categories", subscriber)["categories"]] == ["news", "music", "sport"]
    services.subscribe(subscriber, content.Package.objects.get(name="premium"), caller=caller)
    assert [c["name"] for c in get(app, "categories", subscriber)["categories"]] == [
        "news", "music", "sport", "docs"]
    services.unsubscribe(subscriber, catalog["basic"], caller=caller)
    assert [c["name"] for c in get(app, "categories", subscriber)["categories"]] == ["docs"]
    content.delete_category(cats["docs"], caller=caller)
    assert get(app, "categories", subscriber) == {"categories": []}


def test_categories_need_an_app_session_and_stay_in_the_portal(app, portal, other_portal, catalog):
    assert app.get(f"{CLIENT}/categories").status_code == 401
    assert app.get(f"{CLIENT}/categories", HTTP_AUTHORIZATION="Bearer nope").status_code == 401
    foreign = category(other_portal, "news", "Foreign news", position=-1)
    channel = make_channel(other_portal, "news", "Foreign", categories=[foreign.public_id])
    content.add_free_package(make_package(other_portal, "basic", [channel]), caller=Caller(portal=other_portal))
    names = [c["title"] for c in get(app, "categories", catalog["subscriber"])["categories"]]
    assert names == ["News", 'Sport "Live"', "Music"]


def test_catalog_query_count_is_constant(app, portal, catalog, django_assert_max_num_queries):
    subscriber = catalog["subscriber"]
    token = {"HTTP_AUTHORIZATION": f"Bearer {app_token(subscriber)}"}
    with django_assert_max_num_queries(3) as channels_few:
        assert len(app.get(f"{CLIENT}/channels", **token).json()["channels"]) == 4
    with django_assert_max_num_queries(2) as categories_few:
        assert len(app.get(f"{CLIENT}/categories", **token).json()["categories"]) == 3
    with django_assert_max_num_queries(4) as playlist_few:
        assert app.get(f"{CLIENT}/playlist.m3u?token={subscriber.playback_token}").status_code == 200
    extra = [category(portal, f"x{i}", f"Extra {i}") for i in range(20)]
    for i in range(100):
        channel = make_channel(portal, f"c{i}", f"Channel {i}", number=100 + i,
                               categories=[extra[i % 20].public_id, extra[(i + 1) % 20].public_id])
        content.add_channel_to_package(catalog["basic"], channel, caller=catalog["caller"])
        content.add_channel_to_package(catalog["basic"], make_channel(portal, f"u{i}", f"Plain {i}"),
                                       caller=catalog["caller"])
    with django_assert_max_num_queries(len(channels_few.captured_queries)):
        assert len(app.get(f"{CLIENT}/channels", **token).json()["channels"]) == 204
    with django_assert_max_num_queries(len(categories_few.captured_queries)):
        assert len(app.get(f"{CLIENT}/categories", **token).json()["categories"]) == 23
    with django_assert_max_num_queries(len(playlist_few.captured_queries)):
        assert len(parse_m3u(app.get(f"{CLIENT}/playlist.m3u?token={subscriber.playback_token}")
                             .content.decode())[1]) == 204


def test_playlist_carries_number_first_category_and_radio_in_list_order(app, catalog):
    token = catalog["subscriber"].playback_token
    response = app.get(f"{CLIENT}/playlist.m3u?token={token}")
    assert response.status_code == 200
    guide, entries = parse_m3u(response.content.decode())
    assert guide.endswith(f"/tv/api/v1/epg.xml.gz?token={token}")
    assert [(e["attributes"], e["title"]) for e in entries] == [
        ({"tvg-id": "sport", "tvg-name": "Arena Sport", "tvg-chno": "2", "tvg-logo": "",
          "group-title": "Sport 'Live'"}, "Arena Sport"),  # the first category's title, its quotes made single
        ({"tvg-id": "news", "tvg-name": "World News", "tvg-chno": "5", "tvg-logo": "", "group-title": "News"},
         "World News"),
        ({"tvg-id": "kids", "tvg-name": "Cartoons", "tvg-logo": "", "group-title": "kids-pack"},  # no category
         "Cartoons"),
        ({"tvg-id": "radio1", "tvg-name": "Radio One, Classics", "tvg-logo": "", "group-title": "Music",
          "radio": "true"}, "Radio One, Classics"),
    ]
    assert [e["url"].split("/")[-2] for e in entries] == ["sport", "news", "kids", "radio1"]


def test_playlist_attribute_values_never_break_out_of_their_quotes(app, portal, catalog):
    cats = catalog["categories"]
    content.update_category(cats["news"], caller=catalog["caller"], data={"title": 'A "quoted" title'})
    content.update_channel(catalog["channels"]["news"], caller=catalog["caller"], data={"title": 'The "Big" One'})
    _, entries = parse_m3u(app.get(f"{CLIENT}/playlist.m3u?token={catalog['subscriber'].playback_token}")
                           .content.decode())
    news = next(e for e in entries if e["attributes"]["tvg-id"] == "news")
    assert news["attributes"]["group-title"] == "A 'quoted' title"
    assert news["attributes"]["tvg-name"] == "The 'Big' One"
    assert news["title"] == 'The "Big" One'  # after the comma, the title is as it is


def test_the_guide_is_unaffected_by_numbers_and_categories(app, portal, catalog):
    """The guide lists the same channels as before, in the same order (by title), and no catalog fields."""
    def guide():
        raw = b"".join(app.get(f"{CLIENT}/epg.xml.gz?token={catalog['subscriber'].playback_token}")
                       .streaming_content)
        return gzip.decompress(raw).decode()

    before = guide()
    assert re.findall(r'<channel id="([^"]+)"', before) == ["sport", "kids", "radio1", "news"]
    cats = catalog["categories"]
    content.update_channel(catalog["channels"]["kids"], caller=catalog["caller"],
                           data={"number": 3, "categories": [cats["docs"].public_id], "audioOnly": True})
    content.move_category(cats["sport"], caller=catalog["caller"], up=True)
    assert guide() == before
    assert "chno" not in before and "News</category>" not in before


def test_the_parser_refuses_what_players_would_misread():
    good = ('#EXTM3U url-tvg="http://x/epg"\n'
            '#EXTINF:-1 tvg-id="a" tvg-name="A" tvg-logo="" group-title="G",A\nhttp://x/a\n')
    assert parse_m3u(good)[1] == [{"attributes": {"tvg-id": "a", "tvg-name": "A", "tvg-logo": "",
                                                  "group-title": "G"}, "title": "A", "url": "http://x/a"}]
    for bad in [good.replace('group-title="G"', 'group-title="G"" x'),  # an unescaped quote
                good.replace('tvg-logo=""', 'tvg-logo="" tvg-shift="x"'),  # an unknown attribute
                good.replace('tvg-logo=""', 'tvg-logo="" tvg-logo=""'),  # twice
                good.replace(' group-title="G"', ""),  # a required one missing
                good.replace("http://x/a\n", ""),  # no URL line
                good.replace(",A\n", ",\n")]:  # no title
        with pytest.raises(AssertionError):
            parse_m3u(bad)
