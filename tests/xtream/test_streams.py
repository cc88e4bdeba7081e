"""``get.php``, ``xmltv.php`` and the ``live/`` and ``timeshift/`` redirects, as players use them (players.md §3)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from content.epg.xmltv import XmltvParser

from .conftest import credentials, live_path, timeshift_path

STREAMS = "http://127.0.0.1:8080"  # STREAM_BASE_URL of the tests


def test_get_php_is_the_strict_m3u_with_xtream_live_urls_and_xc_catchup(player, world):
    from tests.client.m3u import parse_m3u

    alice, channels = world["alice"], world["channels"]
    response = player.get("/get.php", credentials(alice, type="m3u_plus", output="ts"))
    assert response.status_code == 200 and response["Content-Type"].startswith("audio/x-mpegurl")
    guide, entries = parse_m3u(response.content.decode())
    host = f"http://{world['portal'].domain}"
    assert urlsplit(guide)[:3] == ("http", world["portal"].domain, "/xmltv.php")
    assert parse_qs(urlsplit(guide).query) == {"username": [alice.login], "password": [alice.player_password]}
    assert [(e["title"], e["attributes"].get("tvg-chno"), e["attributes"]["group-title"]) for e in entries] == [
        ("World News", "1", "News"), ("Arena Sport", "5", "Sport"), ("Cinema", None, "basic"),
        ("Documentaries", None, "basic")]  # ordered as the lists; no category: the package
    news, sport, docs = entries[0], entries[1], entries[3]
    assert news["url"] == f"{host}/live/{alice.login}/{alice.player_password}/{channels['news'].id}.ts"
    assert news["attributes"]["tvg-id"] == "news" and news["attributes"]["tvg-logo"].startswith(host)
    assert (news["attributes"]["catchup"], news["attributes"]["catchup-days"]) == ("xc", "7")
    assert (docs["attributes"]["catchup"], docs["attributes"]["catchup-days"]) == ("xc", "3")
    assert "catchup" not in sport["attributes"]
    hls = parse_m3u(player.get("/get.php", credentials(alice, type="m3u_plus", output="m3u8")).content.decode())[1]
    assert hls[0]["url"].endswith(f"/{channels['news'].id}.m3u8")


@pytest.mark.parametrize(("query", "field"), [({"output": "exe"}, "output"), ({"output": "rtmp"}, "output"),
                                              ({"type": "m3u", "output": "ts"}, "type")])
def test_get_php_refuses_other_outputs_and_types(player, world, query, field):
    response = player.get("/get.php", credentials(world["alice"], **query))
    assert response.status_code == 400 and list(response.json()["errors"]) == [field]


def test_xmltv_php_is_the_subscribers_guide_and_our_importer_reads_it(player, world):
    response = player.get("/xmltv.php", credentials(world["alice"]))
    assert response.status_code == 200 and response["Content-Type"].startswith("application/xml")
    raw = b"".join(response.streaming_content)
    assert raw.count(b"<channel ") == 4 and b'id="kids"' not in raw
    parser = XmltvParser()
    parser.feed(raw)
    parser.close()
    assert set(parser.ranges) == {"news", "sport"}  # the channels with a guide
    assert parser.found == 8 and len(parser.rows) == 8
    assert any("Weather Ü" in row for row in parser.rows)


def test_get_php_and_xmltv_php_refuse_wrong_credentials_and_blocked_subscribers(player, world, committed):
    from subscribers import services as subscribers

    for path in ("/get.php", "/xmltv.php"):
        assert player.get(path, {"username": world["alice"].login, "password": "nope"}).status_code == 401
    committed(subscribers.set_disabled, world["alice"], True, caller=world["caller"])
    for path in ("/get.php", "/xmltv.php"):
        assert player.get(path, credentials(world["alice"])).status_code == 403


def test_live_redirects_to_the_stream_with_the_playback_token(player, world):
    alice, news = world["alice"], world["channels"]["news"]
    hls = player.get(live_path(alice, news, "m3u8"))
    assert hls.status_code == 302
    assert hls["Location"] == f"{STREAMS}/news/index.m3u8?token={alice.playback_token}"
    ts = player.get(live_path(alice, news, "ts"))
    assert ts.status_code == 302 and ts["Location"] == f"{STREAMS}/news/mpegts?token={alice.playback_token}"


def test_live_uses_the_portals_stream_base_url(player, world, committed):
    from .conftest import enable_xtream

    committed(enable_xtream, world["portal"], streamBaseUrl="https://cdn.example.com/tv")
    response = player.get(live_path(world["alice"], world["channels"]["sport"]))
    assert response["Location"] == f"https://cdn.example.com/tv/sport/index.m3u8?token={world['alice'].playback_token}"


def test_live_refuses_with_403_never_a_redirect(player, world):
    alice, channels = world["alice"], world["channels"]
    outside = player.get(live_path(alice, channels["kids"]))  # a channel of the portal outside Alice's packages
    assert outside.status_code == 403 and "Location" not in outside
    assert outside.json()["message"] == "This channel is not in the subscriber's packages."
    wrong = player.get(f"/live/{alice.login}/wrong-password/{channels['news'].id}.m3u8")
    assert wrong.status_code == 403 and "Location" not in wrong
    bad_extension = player.get(f"/live/{alice.login}/{alice.player_password}/{channels['news'].id}.mp4")
    assert bad_extension.status_code == 400 and list(bad_extension.json()["errors"]) == ["extension"]


def test_a_stream_id_not_a_number_or_of_another_portal_is_404(player, world, other_portal):
    from content import services as content
    from portals.auth import Caller

    alice = world["alice"]
    foreign = content.create_channel(other_portal, caller=Caller(portal=other_portal),
                                     data={"name": "foreign", "title": "Foreign"})
    for stream in ("abc", "news", str(foreign.id), "99999999999", "9" * 25):
        for path in (f"/live/{alice.login}/{alice.player_password}/{stream}.ts",
                     f"/timeshift/{alice.login}/{alice.player_password}/60/2026-12-06:10-00/{stream}.ts"):
            response = player.get(path)
            assert response.status_code == 404 and "Location" not in response, path


def test_timeshift_redirects_to_the_archive_from_the_start_for_the_minutes(player, world):
    alice, news = world["alice"], world["channels"]["news"]
    start = world["programs"]["past"].start  # 3 hours ago, minute-aligned
    hls = player.get(timeshift_path(alice, news, start, 60, "m3u8"))
    assert hls.status_code == 302
    assert hls["Location"] == f"{STREAMS}/news/index-{int(start.timestamp())}-3600.m3u8?token={alice.playback_token}"
    ts = player.get(timeshift_path(alice, news, start, 90, "ts"))
    assert ts["Location"] == f"{STREAMS}/news/archive-{int(start.timestamp())}-5400.ts?token={alice.playback_token}"


def test_timeshift_refusals(player, world):
    alice, channels = world["alice"], world["channels"]
    now = timezone.now()
    no_archive = player.get(timeshift_path(alice, channels["sport"], now - dt.timedelta(hours=1)))
    assert no_archive.status_code == 403 and no_archive.json()["message"] == "This channel keeps no archive."
    outside = player.get(timeshift_path(alice, channels["kids"], now - dt.timedelta(hours=1)))
    assert outside.status_code == 403
    too_old = player.get(timeshift_path(alice, channels["docs"], now - dt.timedelta(days=3, minutes=5)))
    assert too_old.status_code == 400 and list(too_old.json()["errors"]) == ["start"]
    future = player.get(timeshift_path(alice, channels["news"], now + dt.timedelta(minutes=5)))
    assert future.status_code == 400 and list(future.json()["errors"]) == ["start"]
    base = f"/timeshift/{alice.login}/{alice.player_password}"
    for path, field in ((f"{base}/60/2026-13-45:10-00/{channels['news'].id}.ts", "start"),
                        (f"{base}/60/yesterday/{channels['news'].id}.ts", "start"),
                        (f"{base}/0/2026-12-06:10-00/{channels['news'].id}.ts", "duration"),
                        (f"{base}/ninety/2026-12-06:10-00/{channels['news'].id}.ts", "duration"),
                        (f"{base}/99999/2026-12-06:10-00/{channels['news'].id}.ts", "duration")):
        response = player.get(path)
        assert response.status_code == 400 and list(response.json()["errors"]) == [field], path
    wrong = player.get(f"/timeshift/{alice.login}/nope/60/2026-12-06:10-00/{channels['news'].id}.ts")
    assert wrong.status_code == 403 and "Location" not in wrong
