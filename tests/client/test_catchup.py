"""Catch-up in the client API and the player formats (players.md §1, issue 17 item 1): ``archiveUrl`` on the
programmes a channel's archive holds, ``catchup="flussonic" catchup-days`` in ``playlist.m3u`` and the guide's
depth per channel in ``epg.xml.gz``."""

from __future__ import annotations

import datetime as dt
import gzip

import pytest
from django.utils import timezone

from content import services as content
from content.models import EpgSource, Program
from portals import services as portal_services
from portals.auth import Caller
from tests.client.conftest import CLIENT
from tests.client.m3u import parse_m3u
from tests.client.test_watching import _serve, app_token
from tests.content.test_channels_api import make_channel, make_package
from tests.subscribers.test_subscribers_api import make_subscriber

PROGRAM_KEYS = {"programId", "portalId", "epgSourceId", "epgChannelName", "date", "start", "end", "title",
                "language", "description", "genre", "rating", "subtitle", "icon", "episode", "archiveUrl"}


@pytest.fixture
def guide(portal):
    """``news`` keeps 2 days of archive, ``sport`` none; both in the subscriber's ``basic``. Programmes (relative to
    now, on the hour): on ``news`` one that ended an hour ago, one on air, one to come, one that started just
    before the archive's depth and ended within it, one three days old; on ``sport`` ten and twenty days old."""
    caller = Caller(portal=portal)
    source = EpgSource.objects.create(portal=portal, name="guide", url="https://epg.example.com/g.xml")
    news = make_channel(portal, "news", "World News", epgSourceName="guide", epgChannelName="news.id", archiveDays=2)
    sport = make_channel(portal, "sport", "Arena Sport", epgSourceName="guide", epgChannelName="sport.id")
    basic = make_package(portal, "basic", [news, sport])
    subscriber = make_subscriber(portal)
    from subscribers import services

    services.subscribe(subscriber, basic, caller=caller)
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    hour = dt.timedelta(hours=1)
    spans = {"Ended": ("news.id", now - 2 * hour, now - hour), "On air": ("news.id", now - hour, now + hour),
             "Coming": ("news.id", now + hour, now + 2 * hour),
             "Straddling": ("news.id", now - dt.timedelta(days=2) - hour, now - dt.timedelta(days=2) + hour),
             "Old": ("news.id", now - dt.timedelta(days=3), now - dt.timedelta(days=3) + hour),
             "Ten days": ("sport.id", now - dt.timedelta(days=10), now - dt.timedelta(days=10) + hour),
             "Twenty days": ("sport.id", now - dt.timedelta(days=20), now - dt.timedelta(days=20) + hour)}
    programs = {title: Program.objects.create(portal=portal, epg_source=source, epg_channel_name=channel,
                                              start=start, end=end, title=title, content_hash=0)
                for title, (channel, start, end) in spans.items()}
    return {"caller": caller, "subscriber": subscriber, "news": news, "sport": sport, "basic": basic,
            "programs": programs, "source": source}


def listed(app, token, channel, programs) -> dict[str, dict]:
    """``{title: programme JSON}`` of ``GET /channels/{id}/programs`` over the UTC days of these programmes."""
    found = {}
    for day in sorted({p.start.astimezone(dt.UTC).date() for p in programs}):
        response = app.get(f"{CLIENT}/channels/{channel.public_id}/programs?date={day.isoformat()}",
                           HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 200, response.content
        found.update({p["title"]: p for p in response.json()["programs"]})
    return found


def test_programs_the_archive_holds_carry_their_archive_url(app, guide):
    token, playback = app_token(guide["subscriber"]), guide["subscriber"].playback_token
    found = listed(app, token, guide["news"], guide["programs"].values())
    assert all(set(p) == PROGRAM_KEYS for p in found.values())
    ended = guide["programs"]["Ended"]
    start = int(ended.start.timestamp())
    assert found["Ended"]["archiveUrl"] == f"http://127.0.0.1:8080/news/index-{start}-3600.m3u8?token={playback}"
    # on air, to come, started before the archive's depth, too old: nothing to play from the archive
    assert {title: p["archiveUrl"] for title, p in found.items() if title != "Ended"} == {
        "On air": None, "Coming": None, "Straddling": None, "Old": None}


def test_a_channel_without_archive_gives_no_archive_url(app, guide):
    token = app_token(guide["subscriber"])
    found = listed(app, token, guide["sport"], guide["programs"].values())
    assert set(found) == {"Ten days", "Twenty days"}
    assert [p["archiveUrl"] for p in found.values()] == [None, None]


def test_the_archive_url_follows_the_portals_stream_base_and_the_channels_depth(app, guide):
    portal_services.update_portal(guide["news"].portal, caller=guide["caller"],
                                  data={"settings": {"streamBaseUrl": "https://dvr.example.com/tv/"}})
    content.update_channel(guide["news"], caller=guide["caller"], data={"archiveDays": 4})
    found = listed(app, app_token(guide["subscriber"]), guide["news"], guide["programs"].values())
    old = guide["programs"]["Old"]
    assert found["Old"]["archiveUrl"] == (f"https://dvr.example.com/tv/news/index-{int(old.start.timestamp())}-3600"
                                          f".m3u8?token={guide['subscriber'].playback_token}")
    assert found["Straddling"]["archiveUrl"].startswith("https://dvr.example.com/tv/news/index-")
    content.update_channel(guide["news"], caller=guide["caller"], data={"archiveDays": 0})
    found = listed(app, app_token(guide["subscriber"]), guide["news"], guide["programs"].values())
    assert {p["archiveUrl"] for p in found.values()} == {None}


def test_the_channel_list_gives_each_channels_archive_days(app, guide):
    response = app.get(f"{CLIENT}/channels", HTTP_AUTHORIZATION=f"Bearer {app_token(guide['subscriber'])}")
    assert {c["name"]: c["archiveDays"] for c in response.json()["channels"]} == {"news": 2, "sport": 0}


def test_programs_of_a_channel_outside_the_packages_stay_404(app, guide, portal, other_portal):
    kids = make_channel(portal, "kids", "Cartoons", archiveDays=7)
    foreign = make_channel(other_portal, "news", "Foreign", archiveDays=7)
    token = {"HTTP_AUTHORIZATION": f"Bearer {app_token(guide['subscriber'])}"}
    for channel in (kids, foreign):
        assert app.get(f"{CLIENT}/channels/{channel.public_id}/programs", **token).status_code == 404


def test_the_playlist_offers_catch_up_for_channels_with_an_archive(app, guide):
    token = guide["subscriber"].playback_token
    response = app.get(f"{CLIENT}/playlist.m3u?token={token}")
    assert response.status_code == 200
    _, entries = parse_m3u(response.content.decode())
    by_id = {e["attributes"]["tvg-id"]: e for e in entries}
    assert (by_id["news"]["attributes"]["catchup"], by_id["news"]["attributes"]["catchup-days"]) == ("flussonic", "2")
    assert by_id["news"]["url"] == f"http://127.0.0.1:8080/news/index.m3u8?token={token}"  # the live URL
    assert set(by_id["sport"]["attributes"]) == {"tvg-id", "tvg-name", "tvg-logo", "group-title"}
    assert '#EXTINF:-1 tvg-id="news" tvg-name="World News" tvg-logo="" group-title="basic" catchup="flussonic" ' \
           'catchup-days="2",World News\n' in response.content.decode()


def test_anonymous_viewers_get_catch_up_too(app, guide, portal):
    content.add_free_package(guide["basic"], caller=guide["caller"])
    portal_services.update_portal(portal, caller=guide["caller"], data={"settings": {"allowAnonymous": True}})
    _, entries = parse_m3u(app.get(f"{CLIENT}/playlist.m3u").content.decode())
    news = next(e for e in entries if e["attributes"]["tvg-id"] == "news")
    assert news["attributes"]["catchup-days"] == "2" and news["url"] == "http://127.0.0.1:8080/news/index.m3u8"


def test_the_guide_goes_back_as_far_as_each_channels_archive(app, guide, portal, settings):
    settings.EPG_RETENTION_DAYS = 14
    response = app.get(f"{CLIENT}/epg.xml.gz?token={guide['subscriber'].playback_token}")
    assert response.status_code == 200
    raw = b"".join(response.streaming_content)
    from content.epg.importer import import_guide

    server = _serve(raw)
    try:
        source = EpgSource.objects.create(portal=portal, name="roundtrip",
                                          url=f"http://127.0.0.1:{server.server_port}/epg.xml.gz")
        report = import_guide(source, timeout=30, max_bytes=10**8, allow_private=True, retention_days=30)
    finally:
        server.shutdown()
    assert report.channels == 2
    imported = {(p.epg_channel_name, p.title) for p in Program.objects.filter(epg_source=source)}
    # news: its 2 days (the programme straddling the depth overlaps it); sport (no archive): 14 days as before
    assert imported == {("news", "Ended"), ("news", "On air"), ("news", "Coming"), ("news", "Straddling"),
                        ("sport", "Ten days")}
    assert "Old" not in gzip.decompress(raw).decode()
