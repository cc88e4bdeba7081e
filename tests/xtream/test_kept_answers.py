"""What the Xtream API keeps between requests, and that every change still shows on the very next one
(players.md §3): a successful login kept per process under the stamps of the subscriber's token and portal
(``credentials.log_in``), and ``get_live_streams``' answer kept with the portal's catalog per set of channels
(``catalog.live_streams_json``). Each test first makes the requests that fill what is kept, then changes a fact
through the services and looks at the next answer."""

from __future__ import annotations

from django.test import Client

from content import services as content
from subscribers import services as subscribers
from tests.content.helpers import data_uri, image_bytes

from .conftest import api, credentials, enable_xtream, live_path


def _names(player, subscriber, **params) -> list[str]:
    return [s["name"] for s in api(player, subscriber, "get_live_streams", **params).json()]


def test_a_login_change_refuses_the_old_login_at_once(player, world, committed):
    alice = world["alice"]
    old = credentials(alice)
    assert api(player, alice).json()["user_info"]["auth"] == 1
    committed(subscribers.update_subscriber, alice, caller=world["caller"], data={"login": "alice-tv"})
    alice.refresh_from_db()
    assert player.get("/player_api.php", old).json() == {"user_info": {"auth": 0}}
    assert api(player, alice).json()["user_info"]["username"] == "alice-tv"


def test_blocking_refuses_the_playlist_of_a_logged_in_player_at_once(player, world, committed):
    alice = world["alice"]
    assert player.get("/get.php", credentials(alice)).status_code == 200
    committed(subscribers.set_disabled, alice, True, caller=world["caller"])
    refused = player.get("/get.php", credentials(alice))
    assert refused.status_code == 403 and refused.json()["message"] == "This subscriber is blocked."
    committed(subscribers.set_disabled, alice, False, caller=world["caller"])
    assert player.get("/get.php", credentials(alice)).status_code == 200


def test_a_deleted_subscriber_is_refused_at_once(player, world, committed):
    alice, news = world["alice"], world["channels"]["news"]
    assert api(player, alice).json()["user_info"]["auth"] == 1
    assert player.get(live_path(alice, news)).status_code == 302
    committed(subscribers.delete_subscriber, alice, caller=world["caller"])
    assert api(player, alice).json() == {"user_info": {"auth": 0}}
    assert player.get(live_path(alice, news)).status_code == 403


def test_switching_the_api_off_refuses_logged_in_players_at_once(player, world, committed):
    alice = world["alice"]
    assert api(player, alice, "get_live_streams").status_code == 200
    committed(enable_xtream, world["portal"], False)
    assert api(player, alice, "get_live_streams").status_code == 404
    committed(enable_xtream, world["portal"], True)
    assert len(api(player, alice, "get_live_streams").json()) == 4


def test_a_new_stream_base_url_shows_in_the_next_redirect(player, world, committed):
    alice, sport = world["alice"], world["channels"]["sport"]
    assert player.get(live_path(alice, sport)).status_code == 302
    committed(enable_xtream, world["portal"], streamBaseUrl="https://cdn.example.com/tv")
    assert player.get(live_path(alice, sport))["Location"] == (
        f"https://cdn.example.com/tv/sport/index.m3u8?token={alice.playback_token}")


def test_subscribers_with_the_same_channels_share_a_list_that_follows_package_changes(player, world, committed):
    caller, channels = world["caller"], world["channels"]
    bob = subscribers.create_subscriber(world["portal"], caller=caller,
                                        data={"name": "Bob", "phoneCountryCode": "1", "phone": "2345678902"})
    committed(subscribers.subscribe, bob, world["basic"], caller=caller)
    carol = subscribers.create_subscriber(world["portal"], caller=caller,
                                          data={"name": "Carol", "phoneCountryCode": "1", "phone": "2345678903"})
    committed(subscribers.subscribe, carol, world["extra"], caller=caller)
    basic = ["World News", "Arena Sport", "Cinema", "Documentaries"]
    assert _names(player, world["alice"]) == _names(player, bob) == basic
    assert _names(player, carol) == ["Cartoons"]
    committed(content.add_channel_to_package, world["basic"], channels["kids"], caller=caller)
    with_kids = ["World News", "Cartoons", "Arena Sport", "Cinema", "Documentaries"]
    assert _names(player, world["alice"]) == _names(player, bob) == with_kids
    assert [s["num"] for s in api(player, bob, "get_live_streams").json()] == [1, 2, 5, 6, 7]
    committed(content.remove_channel_from_package, world["basic"], channels["news"], caller=caller)
    assert _names(player, bob) == ["Cartoons", "Arena Sport", "Cinema", "Documentaries"]
    assert _names(player, carol) == ["Cartoons"]


def test_a_kept_list_follows_logos_titles_and_the_host_asked(player, world):
    alice, caller, cinema = world["alice"], world["caller"], world["channels"]["cinema"]
    streams = {s["stream_id"]: s for s in api(player, alice, "get_live_streams").json()}
    assert streams[cinema.id]["stream_icon"] == ""
    content.update_channel(cinema, caller=caller, data={"title": "Movies", "logo": data_uri(image_bytes())})
    streams = {s["stream_id"]: s for s in api(player, alice, "get_live_streams").json()}
    assert streams[cinema.id]["name"] == "Movies"
    assert streams[cinema.id]["stream_icon"] == f"http://{world['portal'].domain}/tv/api/v1/logos/{cinema.public_id}"
    shared = Client(HTTP_HOST="shared.example.com")
    listed = shared.get("/player_api.php", credentials(alice, action="get_live_streams",
                                                         portalId=world["portal"].public_id)).json()
    icons = [s["stream_icon"] for s in listed if s["stream_icon"]]
    assert icons and all(icon.startswith("http://shared.example.com/tv/api/v1/logos/") for icon in icons)


def test_short_epg_of_a_channel_without_a_guide_is_empty_and_follows_a_new_guide(player, world):
    alice, caller, cinema = world["alice"], world["caller"], world["channels"]["cinema"]
    assert api(player, alice, "get_short_epg", stream_id=cinema.id).json() == {"epg_listings": []}
    content.update_channel(cinema, caller=caller, data={"epgSourceName": "guide", "epgChannelName": "news.id"})
    listings = api(player, alice, "get_short_epg", stream_id=cinema.id, limit=2).json()["epg_listings"]
    assert [(item["channel_id"], item["now_playing"]) for item in listings] == [("cinema", 1), ("cinema", 0)]


def test_warm_lists_and_guides_read_the_database_once(player, world, django_assert_max_num_queries):
    alice, news = world["alice"], world["channels"]["news"]
    api(player, alice, "get_live_streams")
    api(player, alice, "get_short_epg", stream_id=news.id)
    with django_assert_max_num_queries(1):  # the catalog's version: the login and the facts are kept
        assert len(api(player, alice, "get_live_streams").json()) == 4
    with django_assert_max_num_queries(1):  # the channel with its programmes
        assert len(api(player, alice, "get_short_epg", stream_id=news.id).json()["epg_listings"]) == 4


def test_the_api_of_another_portal_never_answers_with_a_kept_login(world, other_portal, committed):
    alice = world["alice"]
    assert api(Client(HTTP_HOST=world["portal"].domain), alice).json()["user_info"]["auth"] == 1
    enable_xtream(other_portal)
    assert api(Client(HTTP_HOST=other_portal.domain), alice).json() == {"user_info": {"auth": 0}}
