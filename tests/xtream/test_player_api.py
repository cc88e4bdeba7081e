"""``player_api.php`` driven as a player drives it: log in, read ``user_info``, list categories and streams, read
the short EPG and the full listing (players.md §3)."""

from __future__ import annotations

import base64
import datetime as dt
import uuid

from django.test import Client
from django.utils import timezone

from catena_site.ids import encode_id
from monitoring.models import PlaySession
from subscribers import services as subscribers

from .conftest import STREAMER_KEY, api, enable_xtream

USER_INFO_KEYS = {"username", "password", "auth", "status", "exp_date", "is_trial", "active_cons", "max_connections",
                  "created_at", "allowed_output_formats"}
SERVER_INFO_KEYS = {"url", "port", "https_port", "server_protocol", "timezone", "timestamp_now", "time_now"}
STREAM_KEYS = {"num", "name", "stream_type", "stream_id", "stream_icon", "epg_channel_id", "added", "category_id",
               "category_ids", "custom_sid", "tv_archive", "direct_source", "tv_archive_duration"}
LISTING_KEYS = {"id", "epg_id", "title", "lang", "start", "end", "description", "channel_id", "start_timestamp",
                "stop_timestamp", "has_archive", "now_playing"}


def test_logging_in_answers_the_documented_user_info_and_server_info(player, world):
    alice = world["alice"]
    response = api(player, alice)
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"user_info", "server_info"}
    assert set(body["user_info"]) == USER_INFO_KEYS and set(body["server_info"]) == SERVER_INFO_KEYS
    assert body["user_info"] == {
        "username": "12345678901", "password": alice.player_password, "auth": 1, "status": "Active",
        "exp_date": None, "is_trial": "0", "active_cons": "0", "max_connections": "0",
        "created_at": str(int(alice.created_at.timestamp())), "allowed_output_formats": ["m3u8", "ts"],
    }
    server = body["server_info"]
    assert (server["url"], server["port"], server["https_port"], server["server_protocol"], server["timezone"]) == (
        world["portal"].domain, "80", "443", "http", "UTC")
    assert abs(server["timestamp_now"] - timezone.now().timestamp()) < 5
    assert server["time_now"] == dt.datetime.fromtimestamp(server["timestamp_now"], dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def test_exp_date_is_the_latest_end_in_force_and_null_when_one_has_none(player, world, committed):
    alice, caller = world["alice"], world["caller"]
    ends = [timezone.now().replace(microsecond=0) + dt.timedelta(days=days) for days in (10, 30)]
    committed(subscribers.update_subscription_period, alice, world["basic"], {"expires_at": ends[0]}, caller=caller)
    committed(subscribers.subscribe, alice, world["extra"], caller=caller, expires_at=ends[1])
    assert api(player, alice).json()["user_info"]["exp_date"] == str(int(ends[1].timestamp()))
    committed(subscribers.update_subscription_period, alice, world["extra"], {"expires_at": None}, caller=caller)
    assert api(player, alice).json()["user_info"]["exp_date"] is None


def test_max_connections_is_the_portal_session_limit_and_active_cons_the_open_sessions(player, world, committed):
    alice = world["alice"]
    committed(enable_xtream, world["portal"], maxSessionsPerSubscriber=2)
    streamer = Client()
    for _ in range(2):  # the streaming server opens two sessions of Alice's token
        opened = streamer.get("/streaming/flussonic/auth", {
            "key": STREAMER_KEY, "name": "news", "token": alice.playback_token, "ip": "192.0.2.10", "proto": "hls",
            "session_id": str(uuid.uuid4()), "request_type": "new_session", "request_number": 0})
        assert opened.status_code == 200, opened.content
    assert PlaySession.objects.filter(subscriber_id=alice.id, active=True).count() == 2
    info = api(player, alice).json()["user_info"]
    assert (info["max_connections"], info["active_cons"]) == ("2", "2")


def test_wrong_or_missing_credentials_answer_auth_0_with_200(player, world):
    alice = world["alice"]
    for query in ({"username": alice.login, "password": "wrong-pass"}, {"username": "nobody", "password": "x"},
                  {"username": alice.login}, {"password": alice.player_password}, {},
                  {"username": alice.login, "password": "", "action": "get_live_streams"},
                  {"username": alice.login + "\x00", "password": alice.player_password}):
        response = player.get("/player_api.php", query)
        assert response.status_code == 200, query
        assert response.json() == {"user_info": {"auth": 0}}, query


def test_the_login_is_per_portal(world, other_portal, committed):
    enable_xtream(other_portal)
    stranger = Client(HTTP_HOST=other_portal.domain)
    assert api(stranger, world["alice"]).json() == {"user_info": {"auth": 0}}


def test_the_api_is_404_unless_the_portal_enables_it(player, world, committed):
    committed(enable_xtream, world["portal"], False)
    for path in ("/player_api.php", "/get.php", "/xmltv.php", f"/live/a/b/{world['channels']['news'].id}.ts"):
        response = player.get(path, {"username": world["alice"].login, "password": world["alice"].player_password})
        assert response.status_code == 404 and response.json()["message"].startswith("No Xtream Codes API here"), path
    assert Client(HTTP_HOST="unknown.example.com").get("/player_api.php").status_code == 404


def test_the_portal_may_be_named_by_portal_id_on_a_shared_host(world):
    shared = Client(HTTP_HOST="shared.example.com")
    alice = world["alice"]
    response = shared.get("/player_api.php", {"username": alice.login, "password": alice.player_password,
                                              "portalId": world["portal"].public_id})
    assert response.json()["user_info"]["auth"] == 1
    assert shared.get("/player_api.php", {"portalId": "not-an-id"}).status_code == 404


def test_live_categories_are_ours_holding_a_watchable_channel_in_display_order(player, world):
    cats = world["categories"]
    assert api(player, world["alice"], "get_live_categories").json() == [
        {"category_id": str(cats["news"].id), "category_name": "News", "parent_id": 0},
        {"category_id": str(cats["sport"].id), "category_name": "Sport", "parent_id": 0},
    ]  # Kids holds only a channel Alice does not subscribe to


def test_live_streams_are_the_watchable_channels_ordered_and_numbered(player, world):
    channels, cats = world["channels"], world["categories"]
    streams = api(player, world["alice"], "get_live_streams").json()
    assert all(set(stream) == STREAM_KEYS for stream in streams)
    assert [(s["num"], s["name"], s["stream_id"]) for s in streams] == [
        (1, "World News", channels["news"].id), (5, "Arena Sport", channels["sport"].id),
        (6, "Cinema", channels["cinema"].id), (7, "Documentaries", channels["docs"].id)]
    news = streams[0]
    assert news == {
        "num": 1, "name": "World News", "stream_type": "live", "stream_id": channels["news"].id,
        "stream_icon": f"http://{world['portal'].domain}/tv/api/v1/logos/{encode_id(channels['news'].id)}",
        "epg_channel_id": "news", "added": str(int(channels["news"].created_at.timestamp())),
        "category_id": str(cats["news"].id), "category_ids": [cats["news"].id], "custom_sid": "", "tv_archive": 1,
        "direct_source": "", "tv_archive_duration": 7,
    }
    sport, cinema = streams[1], streams[2]
    assert (sport["category_id"], sport["category_ids"]) == (str(cats["sport"].id), [cats["sport"].id, cats["news"].id])
    assert (sport["tv_archive"], sport["tv_archive_duration"], sport["stream_icon"]) == (0, 0, "")
    assert (cinema["category_id"], cinema["category_ids"]) == (None, [])
    logo = Client().get(news["stream_icon"])
    assert logo.status_code == 200 and logo["Content-Type"] == "image/png"


def test_live_streams_of_one_category_keep_their_numbers(player, world):
    cats = world["categories"]
    streams = api(player, world["alice"], "get_live_streams", category_id=cats["news"].id).json()
    assert [(s["num"], s["name"]) for s in streams] == [(1, "World News"), (5, "Arena Sport")]
    assert api(player, world["alice"], "get_live_streams", category_id=cats["kids"].id).json() == []
    refused = api(player, world["alice"], "get_live_streams", category_id="news")
    assert refused.status_code == 400 and refused.json()["errors"] == {
        "category_id": ["Must be a category_id of get_live_categories."]}


def test_live_streams_cost_a_constant_number_of_queries(player, world, django_assert_max_num_queries):
    api(player, world["alice"], "get_live_streams")  # the playback facts are cached now
    with django_assert_max_num_queries(5):  # portal, login, channels, their categories (+ a savepoint or so)
        assert len(api(player, world["alice"], "get_live_streams").json()) == 4


def test_short_epg_gives_on_air_and_next_with_base64_titles(player, world):
    news, programs = world["channels"]["news"], world["programs"]
    body = api(player, world["alice"], "get_short_epg", stream_id=news.id, limit=2).json()
    assert set(body) == {"epg_listings"}
    listings = body["epg_listings"]
    assert all(set(item) == LISTING_KEYS for item in listings)
    on_air = programs["on_air"]
    assert listings[0] == {
        "id": str(on_air.id), "epg_id": str(world["source"].id), "title": base64.b64encode(b"Noon News").decode(),
        "lang": "en", "start": on_air.start.strftime("%Y-%m-%d %H:%M:%S"),
        "end": on_air.end.strftime("%Y-%m-%d %H:%M:%S"), "description": base64.b64encode(b"About Noon News").decode(),
        "channel_id": "news", "start_timestamp": str(int(on_air.start.timestamp())),
        "stop_timestamp": str(int(on_air.end.timestamp())), "has_archive": 0, "now_playing": 1,
    }
    assert [base64.b64decode(item["title"]).decode() for item in listings] == ["Noon News", "Sports Desk"]
    assert listings[1]["now_playing"] == 0
    default = api(player, world["alice"], "get_short_epg", stream_id=news.id).json()["epg_listings"]
    assert len(default) == 4  # XC's default limit


def test_simple_data_table_marks_what_the_archive_holds(player, world):
    news, programs = world["channels"]["news"], world["programs"]
    listings = api(player, world["alice"], "get_simple_data_table", stream_id=news.id).json()["epg_listings"]
    by_id = {int(item["id"]): item for item in listings}
    assert programs["ancient"].id not in by_id  # older than the archive's 7 days
    assert base64.b64decode(by_id[programs["recent"].id]["title"]).decode() == "Weather Ü"
    assert [(by_id[programs[k].id]["has_archive"], by_id[programs[k].id]["now_playing"])
            for k in ("past", "recent", "on_air", "next")] == [(1, 0), (1, 0), (0, 1), (0, 0)]
    sport = world["channels"]["sport"]  # no archive: nothing to catch up on
    match = api(player, world["alice"], "get_simple_data_table", stream_id=sport.id).json()["epg_listings"]
    assert [(item["has_archive"], item["now_playing"]) for item in match] == [(0, 1)]


def test_epg_of_a_channel_not_watchable_not_a_number_or_of_another_portal_is_404(player, world, other_portal):
    from content import services as content
    from portals.auth import Caller

    foreign = content.create_channel(other_portal, caller=Caller(portal=other_portal),
                                     data={"name": "foreign", "title": "Foreign"})
    for stream_id in (world["channels"]["kids"].id, foreign.id, "abc", "", "-1", "9" * 30):
        for action in ("get_short_epg", "get_simple_data_table"):
            response = api(player, world["alice"], action, stream_id=stream_id)
            assert response.status_code == 404, (action, stream_id)
    bad = api(player, world["alice"], "get_short_epg", stream_id=world["channels"]["news"].id, limit="lots")
    assert bad.status_code == 400 and bad.json()["errors"] == {"limit": ["Must be a whole number from 1 to 1000."]}


def test_vod_and_series_are_empty_and_an_unknown_action_is_400(player, world):
    for action in ("get_vod_categories", "get_vod_streams", "get_series_categories", "get_series"):
        assert api(player, world["alice"], action).json() == [], action
    unknown = api(player, world["alice"], "get_everything")
    assert unknown.status_code == 400 and list(unknown.json()["errors"]) == ["action"]


def test_the_openapi_document_lists_the_xtream_api(db):
    document = Client().get("/tv-management/api/v1/schema/", {"format": "json"}).json()
    xtream = {path: item["get"]["operationId"] for path, item in document["paths"].items()
              if "xtream" in item.get("get", {}).get("tags", [])}
    assert xtream == {"/player_api.php": "xtreamPlayerApi", "/get.php": "xtreamPlaylist", "/xmltv.php": "xtreamGuide",
                      "/live/{username}/{password}/{stream_id}.{ext}": "xtreamLive",
                      "/timeshift/{username}/{password}/{minutes}/{start}/{stream_id}.{ext}": "xtreamTimeshift"}
    assert document["paths"]["/player_api.php"]["get"]["security"] == []
