import datetime as dt
import gzip
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.utils import timezone

from content import services as content
from content.models import EpgSource, Program
from portals.auth import Caller
from subscribers import services
from subscribers.sms_login import end_all_app_sessions
from tests.client.conftest import CLIENT
from tests.client.m3u import parse_m3u
from tests.content.helpers import data_uri, image_bytes
from tests.content.test_channels_api import make_channel, make_package
from tests.subscribers.test_subscribers_api import make_subscriber


def app_token(subscriber) -> str:
    """An app session created the way verify creates it (SMS flow itself is tested elsewhere)."""
    import secrets

    from subscribers.models import AppSession
    from subscribers.sms_login import _token_hash

    token = secrets.token_urlsafe(32)
    now = timezone.now()
    AppSession.objects.create(token_hash=_token_hash(token), subscriber=subscriber, full_phone=subscriber.full_phone,
                              last_seen_at=now, expires_at=now + dt.timedelta(days=90))
    return token


@pytest.fixture
def world(portal):
    caller = Caller(portal=portal)
    source = EpgSource.objects.create(portal=portal, name="guide", url="https://epg.example.com/g.xml")
    news = make_channel(portal, "news", "World News", epgSourceName="guide", epgChannelName="news.id",
                        logo=data_uri(image_bytes()))
    sport = make_channel(portal, "sport", "Arena Sport", epgSourceName="guide", epgChannelName="sport.id")
    kids = make_channel(portal, "kids", "Cartoons")
    basic = make_package(portal, "basic", [news, sport])
    trial = make_package(portal, "trial", [kids, news])
    subscriber = make_subscriber(portal)
    services.subscribe(subscriber, basic, caller=caller)
    now = timezone.now().replace(microsecond=0)
    for channel_id, offset, title in [("news.id", -30, "Morning News"), ("news.id", 30, "Weather"),
                                      ("news.id", 90, "Late News"), ("sport.id", 10, "Match")]:
        start = now + dt.timedelta(minutes=offset)
        Program.objects.create(portal=portal, epg_source=source, epg_channel_name=channel_id, start=start,
                               end=start + dt.timedelta(minutes=60 if offset < 0 else 60), title=title,
                               description=f"About {title}", genre="News", content_hash=0)
    return {"caller": caller, "subscriber": subscriber, "basic": basic, "trial": trial,
            "channels": {"news": news, "sport": sport, "kids": kids}, "source": source}


def channels(app, token) -> list[dict]:
    response = app.get(f"{CLIENT}/channels", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    return response.json()["channels"]


def test_channel_list_with_now_next_stream_and_logo(app, portal, world):
    token = app_token(world["subscriber"])
    listed = channels(app, token)
    assert [c["name"] for c in listed] == ["sport", "news"]  # ordered by title: Arena Sport, World News
    news = listed[1]
    assert set(news) == {"channelId", "name", "title", "number", "categories", "audioOnly", "quality", "archiveDays",
                         "logo", "streamUrl", "now", "next"}
    assert (news["number"], news["categories"], news["audioOnly"], news["quality"], news["archiveDays"]) == (
        None, [], False, "HD", 0)
    assert news["now"]["title"] == "Morning News" and news["next"]["title"] == "Weather"
    assert news["streamUrl"] == f"http://127.0.0.1:8080/news/index.m3u8?token={world['subscriber'].playback_token}"
    assert news["logo"].startswith("http://") and news["logo"].endswith(f"/tv/api/v1/logos/{news['channelId']}")
    logo = app.get(news["logo"])
    assert logo.status_code == 200 and logo["Content-Type"] == "image/png" and logo["ETag"]
    sport = listed[0]
    assert sport["now"] is None and sport["next"]["title"] == "Match"
    assert sport["logo"] is None


def test_stream_base_url_is_a_portal_setting(app, portal, world):
    from portals import services as portal_services

    portal_services.update_portal(portal, caller=world["caller"],
                                  data={"settings": {"streamBaseUrl": "https://streams.example.com/live/"}})
    stream = channels(app, app_token(world["subscriber"]))[0]["streamUrl"]
    assert stream.startswith("https://streams.example.com/live/sport/index.m3u8?token=")


def test_channel_list_follows_subscriptions_and_free_packages_at_once(app, portal, world):
    token = app_token(world["subscriber"])
    caller = world["caller"]
    assert {c["name"] for c in channels(app, token)} == {"news", "sport"}
    content.add_free_package(world["trial"], caller=caller)
    assert {c["name"] for c in channels(app, token)} == {"news", "sport", "kids"}
    services.unsubscribe(world["subscriber"], world["basic"], caller=caller)
    assert [c["name"] for c in channels(app, token)] == ["kids", "news"]  # news still free via trial, listed once
    content.remove_channel_from_package(world["trial"], world["channels"]["news"], caller=caller)
    assert [c["name"] for c in channels(app, token)] == ["kids"]


def test_another_portals_channels_are_never_listed(app, portal, other_portal, world):
    foreign = make_package(other_portal, "basic", [make_channel(other_portal, "news", "Foreign news")])
    content.add_free_package(foreign, caller=Caller(portal=other_portal))
    listed = channels(app, app_token(world["subscriber"]))
    assert "Foreign news" not in [c["title"] for c in listed]


def test_channel_list_query_count_is_constant(app, portal, world, django_assert_max_num_queries):
    token = app_token(world["subscriber"])
    with django_assert_max_num_queries(8) as few:
        assert len(channels(app, token)) == 2
    many = [make_channel(portal, f"c{i}", f"Channel {i}", epgSourceName="guide", epgChannelName=f"c{i}.id")
            for i in range(200)]
    for channel in many:
        content.add_channel_to_package(world["basic"], channel, caller=world["caller"])
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(channels(app, token)) == 202


def test_programs_of_a_watchable_channel_by_date(app, portal, world):
    token = {"HTTP_AUTHORIZATION": f"Bearer {app_token(world['subscriber'])}"}
    news = world["channels"]["news"]
    today = timezone.now().astimezone(dt.UTC).date().isoformat()
    response = app.get(f"{CLIENT}/channels/{news.public_id}/programs?date={today}", **token)
    assert response.status_code == 200
    titles = [p["title"] for p in response.json()["programs"]]
    assert "Morning News" in titles or "Weather" in titles
    assert app.get(f"{CLIENT}/channels/{news.public_id}/programs?date=tomorrow", **token).status_code == 400
    kids = world["channels"]["kids"]  # not watchable: only in the (not free) trial package
    assert app.get(f"{CLIENT}/channels/{kids.public_id}/programs", **token).status_code == 404


def test_expired_or_missing_bearer_is_401(app, world):
    assert app.get(f"{CLIENT}/channels").status_code == 401
    assert app.get(f"{CLIENT}/me", HTTP_AUTHORIZATION="Bearer nope").status_code == 401
    token = app_token(world["subscriber"])
    end_all_app_sessions(world["subscriber"])
    assert app.get(f"{CLIENT}/me", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401


def test_playlist_is_strict_extended_m3u(app, world):
    token = world["subscriber"].playback_token
    response = app.get(f"{CLIENT}/playlist.m3u?token={token}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("audio/x-mpegurl")
    guide, entries = parse_m3u(response.content.decode())
    assert guide.endswith(f"/tv/api/v1/epg.xml.gz?token={token}")
    assert [(e["attributes"]["tvg-id"], e["title"], e["attributes"]["group-title"]) for e in entries] == [
        ("sport", "Arena Sport", "basic"), ("news", "World News", "basic")]  # no categories: the package
    assert entries[1]["attributes"]["tvg-logo"].endswith(f"/tv/api/v1/logos/{world['channels']['news'].public_id}")
    assert entries[0]["attributes"]["tvg-logo"] == ""  # sport has no logo
    assert set(entries[0]["attributes"]) == {"tvg-id", "tvg-name", "tvg-logo", "group-title"}  # no number, not radio
    assert entries[0]["url"].endswith(f"/sport/index.m3u8?token={token}")


def test_playlist_and_guide_refuse_revoked_tokens(app, world):
    old = world["subscriber"].playback_token
    services.reset_playback_token(world["subscriber"], caller=world["caller"])
    assert app.get(f"{CLIENT}/playlist.m3u?token={old}").status_code == 401
    assert app.get(f"{CLIENT}/epg.xml.gz?token={old}").status_code == 401
    assert app.get(f"{CLIENT}/playlist.m3u").status_code == 401


def _serve(payload: bytes):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_guide_is_gzip_xmltv_of_exactly_those_channels_and_round_trips_through_our_importer(app, portal, world,
                                                                                            settings):
    response = app.get(f"{CLIENT}/epg.xml.gz?token={world['subscriber'].playback_token}")
    assert response.status_code == 200 and response["Content-Type"] == "application/gzip"
    raw = b"".join(response.streaming_content)
    xml = gzip.decompress(raw).decode()
    assert xml.count("<channel ") == 2 and 'id="news"' in xml and 'id="kids"' not in xml
    assert xml.count("<programme ") == 4
    # Import it back as a guide of another source: same programmes, keyed by our channel names.
    from content.epg.importer import import_guide

    server = _serve(raw)
    try:
        source = EpgSource.objects.create(portal=portal, name="roundtrip",
                                          url=f"http://127.0.0.1:{server.server_port}/epg.xml.gz")
        report = import_guide(source, timeout=30, max_bytes=10**8, allow_private=True, retention_days=14)
    finally:
        server.shutdown()
    assert (report.channels, report.found, report.imported) == (2, 4, 4)
    imported = {(p.epg_channel_name, p.title, p.start, p.end, p.description)
                for p in Program.objects.filter(epg_source=source)}
    original = {("news" if p.epg_channel_name == "news.id" else "sport", p.title, p.start, p.end, p.description)
                for p in Program.objects.filter(epg_source=world["source"])}
    assert imported == original


@pytest.mark.parametrize("token", ["%00", "abc%00", "%00" * 40, "%01%1b", "x" * 65])
@pytest.mark.parametrize("path", ["playlist.m3u", "epg.xml.gz"])
def test_a_token_with_a_nul_or_too_long_is_401_like_an_unknown_one_never_500(app, world, path, token):
    """PostgreSQL refuses a NUL in a query: this answered 500 there."""
    unknown = app.get(f"{CLIENT}/{path}?token=nosuchtoken")
    response = app.get(f"{CLIENT}/{path}?token={token}")
    assert response.status_code == unknown.status_code == 401
    assert response.json() == unknown.json()
    assert app.get(f"{CLIENT}/{path}?token={world['subscriber'].playback_token}%00").status_code == 401
