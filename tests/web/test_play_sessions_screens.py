"""The play session screens: the live view and its live block (the same page asked by htmx), the history with filters and pages, the
subscriber card's recent sessions and the channel page's link — for every persona, within the portal.

Sessions are started through the streaming server's real auth endpoint (``new_session``), or written directly
when a test needs set times.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from content import services as content
from content.epg import services as epg_services
from content.models import Channel, Program
from monitoring import sessions
from monitoring.models import PlaySession
from monitoring.views import human_bytes, human_duration
from portals import services as portal_services
from portals import streaming_servers
from portals.auth import Caller
from portals.models import DEFAULT_SERVER_NAME
from subscribers import services as subscribers

from .conftest import PERSONAS, page

KEY = "screens-streamer-key"
AUTH = "/streaming/flussonic/auth"
LIVE, HISTORY = "/play-sessions/", "/play-sessions/history/"
HTMX = {"HX-Request": "true"}  # what htmx sends with every request of a live block
_phones = iter(range(3000000000, 3999999999))


# --- Data ---------------------------------------------------------------------------------------------------


def make_channel(portal, name: str, title: str | None = None) -> Channel:
    return content.create_channel(portal, caller=Caller(portal=portal),
                                  data={"name": name, "title": title or name.title()})


def make_package(portal, name: str, channels=()):
    package = content.create_package(portal, caller=Caller(portal=portal), data={"name": name})
    for channel in channels:
        content.add_channel_to_package(package, channel, caller=Caller(portal=portal))
    return package


def make_subscriber(portal, name: str, packages=()):
    subscriber = subscribers.create_subscriber(
        portal, caller=Caller(portal=portal),
        data={"name": name, "phoneCountryCode": "1", "phone": str(next(_phones))})
    for package in packages:
        subscribers.subscribe(subscriber, package, caller=Caller(portal=portal))
    return subscriber


def auth_query(token: str, name: str, *, session_id: str | None = None, ip: str = "192.0.2.10", **extra) -> dict:
    """The query of an auth ``new_session`` request, as Flussonic sends it."""
    return {"key": KEY, "name": name, "token": token, "ip": ip, "proto": "hls",
            "session_id": session_id or str(uuid.uuid4()), "request_type": "new_session", "request_number": 0,
            "stream_clients": 1, "total_clients": 1, **extra}


def start(subscriber, channel_name: str, **kwargs) -> PlaySession:
    """A viewer starts playing: an allowed auth ``new_session``; returns the play session it wrote."""
    query = auth_query(subscriber.playback_token, channel_name, **kwargs)
    server = streaming_servers.by_id(subscriber.portal.streaming_server_id)
    if server.name != DEFAULT_SERVER_NAME:  # another portal's own streaming server asks with its own key
        query["key"] = server.key
    response = Client().get(AUTH, query)
    assert response.status_code == 200, response.content
    sessions.write_opened_sessions()  # the starts buffered in Redis, when the cache is Redis
    return PlaySession.objects.get(streamer_session_id=query["session_id"])


def record(portal, subscriber, channel, *, opened_at: dt.datetime, closed_at: dt.datetime | None = None,
           **fields) -> PlaySession:
    """A play session written directly, at set times."""
    values = {"portal": portal, "subscriber_id": subscriber.id, "channel_id": channel.id,
              "channel_name": channel.name, "streamer_session_id": str(uuid.uuid4()),
              "token": subscriber.playback_token, "opened_at": opened_at, "updated_at": closed_at or opened_at,
              "closed_at": closed_at, "active": closed_at is None, "close_reason": "streamer" if closed_at else "",
              "bytes": 2048, "ip": "198.51.100.7", "user_agent": "VLC/3.0.20 LibVLC/3.0.20", "proto": "hls"}
    values.update(fields)
    return PlaySession.objects.create(**values)


@pytest.fixture(autouse=True)
def _streamer(settings):
    settings.STREAMER_KEY = KEY
    settings.STREAMER_ALLOWED_IPS = []
    settings.STREAMER_API_URL = ""


@pytest.fixture
def world(portal, other_portal):
    """``news`` and ``sport`` (in ``basic``), ``kids`` (in ``junior``); Alice and Bob take ``basic``, Carol both.
    Another portal has its own ``news`` and Eve."""
    news, sport, kids = make_channel(portal, "news"), make_channel(portal, "sport"), make_channel(portal, "kids")
    basic, junior = make_package(portal, "basic", [news, sport]), make_package(portal, "junior", [kids])
    other_news = make_channel(other_portal, "news", "Other News")
    eve = make_subscriber(other_portal, "Eve Stranger", [make_package(other_portal, "basic", [other_news])])
    return {"portal": portal, "news": news, "sport": sport, "kids": kids,
            "alice": make_subscriber(portal, "Alice Smith", [basic]),
            "bob": make_subscriber(portal, "Bob Jones", [basic]),
            "carol": make_subscriber(portal, "Carol White", [basic, junior]),
            "other_news": other_news, "eve": eve}


def rows(html: str) -> list[str]:
    """The rows of the page's play session tables (one per session)."""
    return re.findall(r'<tr data-session-id="[^"]+">.*?</tr>', html, re.S)


def session_ids(html: str) -> list[str]:
    return re.findall(r'<tr data-session-id="([^"]+)">', html)


def live_block(client) -> str:
    """The live block as htmx asks for it: the live page with ``HX-Request``, answered with the block alone."""
    response = client.get(LIVE, headers=HTMX)
    assert response.status_code == 200 and response["Content-Type"] == "text/html; charset=utf-8"
    assert "no-store" in response["Cache-Control"] and "HX-Request" in response["Vary"]
    html = response.content.decode()
    assert html.lstrip().startswith('<div class="live-head">')  # the block: no page, no nav, no wrapper
    assert "<html" not in html and "<nav" not in html and 'id="live-sessions"' not in html
    return html


def active_count(html: str) -> int:
    return int(re.search(r'data-testid="active-count">(\d+)<', html).group(1))


# --- Every persona reads ------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_persona_sees_the_live_view_and_the_history(web, world, persona):
    start(world["alice"], "news")
    client = web[persona]
    live = page(client.get(LIVE))
    assert 'aria-current="page">Play sessions</a>' in live  # the nav entry
    assert "Alice Smith" in live and len(rows(live)) == 1
    history = page(client.get(HISTORY))
    assert "Alice Smith" in history and len(rows(history)) == 1
    block = live_block(client)
    assert active_count(block) == 1 and "Alice Smith" in block and len(rows(block)) == 1


def test_anonymous_visitors_are_sent_to_the_login_page(db):
    for url in (LIVE, HISTORY):
        response = Client().get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


def test_a_live_block_whose_login_ended_sends_the_whole_page_to_the_login(db):
    """htmx would follow a 302 and swap the login form into the block: it gets ``HX-Redirect`` instead."""
    response = Client().get(LIVE, headers={**HTMX, "HX-Current-URL": "http://testserver/play-sessions/"})
    assert response.status_code == 200 and response.content == b""
    assert response["HX-Redirect"] == "/login/?next=/play-sessions/"


def test_the_nav_links_the_play_sessions(web, world):
    assert 'href="/play-sessions/">Play sessions</a>' in page(web["viewer"].get("/"))


# --- Live view ----------------------------------------------------------------------------------------------


def test_the_live_view_shows_who_watches_what_since_when_and_how_much(web, world):
    session = start(world["alice"], "news", ip="203.0.113.5", user_agent="Kodi/20.2 (Linux)",
                    qs="device_id=tv-livingroom")  # the player's own query string
    PlaySession.objects.filter(pk=session.pk).update(bytes=5 * 1024 * 1024,
                                                     opened_at=timezone.now() - dt.timedelta(minutes=12, seconds=3))
    record(world["portal"], world["bob"], world["sport"], opened_at=timezone.now() - dt.timedelta(hours=3),
           closed_at=timezone.now() - dt.timedelta(hours=2))  # ended: not live
    html = page(web["viewer"].get(LIVE))
    (row,) = rows(html)
    assert f'href="/subscribers/{world["alice"].public_id}/">Alice Smith</a>' in row
    assert f'href="/channels/{world["news"].public_id}/">News</a>' in row
    assert "5.0 MB" in row and "12 min 0" in row
    assert "203.0.113.5" in row and "Kodi/20.2 (Linux)" in row and "tv-livingroom" in row
    assert re.search(r'data-testid="active-count">1<', html)
    assert re.search(r'data-testid="live-updated" datetime="[^"]+">\d\d:\d\d:\d\d<', html)
    # The block asks the same page again every 5 s (htmx), paused while the tab is hidden (catena.js).
    assert re.search(r'<section class="live-sessions" id="live-sessions" data-testid="live-sessions" data-live-block\s+'
                     r'hx-get="/play-sessions/" hx-trigger="every 5s, catena:visible"\s+hx-swap="innerHTML">', html)
    assert "HX-Request" in web["viewer"].get(LIVE)["Vary"]
    assert "Bob Jones" not in html


def test_a_live_session_from_yesterday_in_the_portals_zone_shows_its_date(web, world):
    """"Today" is the portal's day: at 01:30 in Moscow (22:30 UTC), a session opened at 23:50 Moscow time the day
    before is dated, although both moments fall on the same UTC day."""
    portal = world["portal"]
    with time_machine.travel(dt.datetime(2026, 3, 10, 22, 30, tzinfo=dt.UTC), tick=False):
        record(portal, world["alice"], world["news"], opened_at=dt.datetime(2026, 3, 10, 20, 50, tzinfo=dt.UTC),
               updated_at=timezone.now())
        (row,) = rows(page(web["viewer"].get(LIVE)))
        assert ">20:50:00</time>" in row  # UTC: the same day, the time alone
        portal_services.update_portal(portal, caller=Caller(portal=portal),
                                      data={"settings": {"timeZone": "Europe/Moscow"}})
        (row,) = rows(page(web["viewer"].get(LIVE)))
        assert ">2026-03-10 23:50:00</time>" in row


def test_the_live_block_returns_a_session_right_after_its_auth_new_session(web, world):
    client = web["viewer"]
    before = live_block(client)
    assert active_count(before) == 0 and session_ids(before) == []
    assert "Nobody is watching right now" in before
    session = start(world["carol"], "kids")
    after = live_block(client)
    assert active_count(after) == 1 and session_ids(after) == [session.public_id]
    assert "Carol White" in after and "Kids" in after
    assert "Nobody is watching" not in after
    updated = dt.datetime.fromisoformat(re.search(r'data-testid="live-updated" datetime="([^"]+)"', after).group(1))
    assert abs((timezone.now() - updated).total_seconds()) < 60


def test_the_live_view_shows_fresh_heartbeats_from_the_cache(web, world):
    session = start(world["alice"], "news")
    response = Client().get(AUTH, {**auth_query(world["alice"].playback_token, "news",
                                                session_id=session.streamer_session_id),
                                   "request_type": "update_session", "request_number": 1,
                                   "bytes": 3 * 1024 ** 3})
    assert response.status_code == 200
    assert PlaySession.objects.get(pk=session.pk).bytes == 0  # not flushed to the database yet
    assert "3.0 GB" in live_block(web["viewer"])


def test_the_live_view_shows_the_program_on_air_now(web, world, portal):
    source = epg_services.create_epg_source(portal, caller=Caller(portal=portal),
                                            data={"name": "xmltv.main", "url": "https://epg.example.com/g.xml"})
    Channel.objects.filter(pk=world["news"].pk).update(epg_source=source, epg_channel_name="news.example")
    now = timezone.now()
    for title, start_at, end_at in (("Earlier News", now - dt.timedelta(hours=2), now - dt.timedelta(hours=1)),
                                    ("Evening News", now - dt.timedelta(hours=1), now + dt.timedelta(hours=1))):
        Program.objects.create(portal=portal, epg_source=source, epg_channel_name="news.example", start=start_at,
                               end=end_at, title=title, content_hash=hash(title))
    start(world["alice"], "news")
    start(world["bob"], "sport")  # no guide
    html = live_block(web["viewer"])
    news_row, sport_row = sorted(rows(html), key=lambda row: "Sport" in row)
    assert "Evening News" in news_row and "Earlier News" not in html
    assert "Evening News" not in sport_row


def _news_guide(portal, world, now) -> dict[str, Program]:
    """A guide for ``news``: "Morning Show" two to one hours ago, "Evening News" from an hour ago on."""
    source = epg_services.create_epg_source(portal, caller=Caller(portal=portal),
                                            data={"name": "xmltv.main", "url": "https://epg.example.com/g.xml"})
    Channel.objects.filter(pk=world["news"].pk).update(epg_source=source, epg_channel_name="news.example")
    return {title: Program.objects.create(portal=portal, epg_source=source, epg_channel_name="news.example",
                                          start=start_at, end=end_at, title=title, content_hash=hash(title))
            for title, start_at, end_at in (
                ("Morning Show", now - dt.timedelta(hours=2), now - dt.timedelta(hours=1)),
                ("Evening News", now - dt.timedelta(hours=1), now + dt.timedelta(hours=1)))}


def test_an_archive_session_shows_its_archive_program_live_and_in_the_history(web, world, portal):
    now = timezone.now()
    guide = _news_guide(portal, world, now)
    content.update_channel(world["news"], caller=Caller(portal=portal), data={"archiveDays": 7})
    from_ = int((now - dt.timedelta(minutes=90)).timestamp())
    archive = start(world["alice"], "news", dvr="true", qs=f"from={from_}")
    live = start(world["bob"], "news")
    assert archive.program_id is not None and live.program_id is None
    aired = guide["Morning Show"].start.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")
    live_rows = {row.split('"')[1]: row for row in rows(live_block(web["viewer"]))}
    assert "Morning Show" in live_rows[archive.public_id] and 'data-testid="session-archive"' in live_rows[
        archive.public_id]
    assert f"aired <time datetime=\"{guide['Morning Show'].start.astimezone(dt.UTC).isoformat()}\">{aired}</time> UTC" \
        in live_rows[archive.public_id]
    assert "Evening News" in live_rows[live.public_id] and "session-archive" not in live_rows[live.public_id]
    assert "session-program-start" not in live_rows[live.public_id]
    history_rows = {row.split('"')[1]: row for row in rows(page(web["viewer"].get(HISTORY)))}
    assert "Morning Show" in history_rows[archive.public_id] and "Archive" in history_rows[archive.public_id]
    assert f"{aired}</time> UTC" in history_rows[archive.public_id]
    assert "Evening News" in history_rows[live.public_id]  # on air when it started: computed, not its programId
    assert "session-program-start" not in history_rows[live.public_id]
    card_rows = {row.split('"')[1]: row for row in rows(page(web["viewer"].get(
        f"/subscribers/{world['alice'].public_id}/")))}
    assert 'data-testid="session-archive"' in card_rows[archive.public_id]
    assert "Morning Show" in card_rows[archive.public_id] and f"{aired}</time> UTC" in card_rows[archive.public_id]


def test_an_archive_session_without_a_known_program_shows_only_its_badge(web, world, portal):
    content.update_channel(world["news"], caller=Caller(portal=portal), data={"archiveDays": 7})
    archive = start(world["alice"], "news", dvr="true")  # no position, no guide
    for html in (live_block(web["viewer"]), page(web["viewer"].get(HISTORY)),
                 page(web["viewer"].get(f"/subscribers/{world['alice'].public_id}/"))):
        row = {row.split('"')[1]: row for row in rows(html)}[archive.public_id]
        assert 'data-testid="session-archive"' in row and "session-program-start" not in row


def test_the_history_and_the_card_show_what_was_on_air_when_a_live_session_started(web, world, portal):
    now = timezone.now()
    _news_guide(portal, world, now)
    earlier = record(portal, world["alice"], world["news"], opened_at=now - dt.timedelta(minutes=90),
                     closed_at=now - dt.timedelta(minutes=80))
    later = record(portal, world["alice"], world["news"], opened_at=now - dt.timedelta(minutes=30))
    without_guide = record(portal, world["alice"], world["sport"], opened_at=now - dt.timedelta(minutes=20))
    assert not PlaySession.objects.exclude(program_id=None).exists()  # live sessions have no programId
    for html in (page(web["viewer"].get(HISTORY)),
                 page(web["viewer"].get(f"/subscribers/{world['alice'].public_id}/"))):
        by_id = {row.split('"')[1]: row for row in rows(html)}
        assert "Morning Show" in by_id[earlier.public_id] and "Evening News" not in by_id[earlier.public_id]
        assert "Evening News" in by_id[later.public_id]
        assert "Morning Show" not in by_id[without_guide.public_id]
        assert "Evening News" not in by_id[without_guide.public_id]


def test_the_live_view_explains_how_sessions_appear_when_nobody_watches(web, world, settings):
    html = page(web["viewer"].get(LIVE))
    assert "Nobody is watching right now" in html
    assert "http://testserver/streaming/flussonic/auth?key=…" in html
    assert "http://testserver/streaming/flussonic/events?key=…" in html
    assert "Connecting Flussonic" in html and "README.md" in html
    assert KEY not in html and 'data-testid="streamer-key-missing"' not in html
    settings.STREAMER_KEY = ""
    assert 'data-testid="streamer-key-missing"' in page(web["viewer"].get(LIVE))


def test_the_live_view_never_shows_another_portals_sessions(web, stranger_web, world):
    start(world["alice"], "news")
    start(world["eve"], "news")
    ours = live_block(web["viewer"])
    assert active_count(ours) == 1 and "Eve Stranger" not in ours and "Alice Smith" in ours
    theirs = live_block(stranger_web)
    assert active_count(theirs) == 1 and "Eve Stranger" in theirs and "Alice" not in theirs


def test_the_live_block_costs_the_same_queries_for_2_or_12_sessions(web, world):
    client = web["viewer"]
    people = [world["alice"], world["bob"], world["carol"]]
    for n in range(2):
        start(people[n], "news")
    client.get(LIVE, headers=HTMX)  # warm the login session
    with CaptureQueriesContext(connection) as few:
        live_block(client)
    for n in range(10):
        start(people[n % 3], ["news", "sport"][n % 2])
    with CaptureQueriesContext(connection) as many:
        assert active_count(live_block(client)) == 12
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]
    with CaptureQueriesContext(connection) as screen:
        client.get(LIVE)
    assert len(screen) <= len(few) + 2


# --- History ------------------------------------------------------------------------------------------------


@pytest.fixture
def history(world):
    """Six sessions of the portal on known days (UTC), one still active; one of another portal."""
    portal, now = world["portal"], timezone.now()
    day = lambda days_ago, hour=12: (now - dt.timedelta(days=days_ago)).replace(  # noqa: E731
        hour=hour, minute=0, second=0, microsecond=0)
    made = {
        "alice_news_old": record(portal, world["alice"], world["news"], opened_at=day(10), closed_at=day(10, 13)),
        "alice_sport": record(portal, world["alice"], world["sport"], opened_at=day(5), closed_at=day(5, 14)),
        "bob_news": record(portal, world["bob"], world["news"], opened_at=day(5, 8), closed_at=day(5, 9)),
        "bob_sport": record(portal, world["bob"], world["sport"], opened_at=day(2), closed_at=day(2, 15)),
        "carol_kids": record(portal, world["carol"], world["kids"], opened_at=day(1), closed_at=day(1, 16)),
        "carol_news_live": record(portal, world["carol"], world["news"], opened_at=now - dt.timedelta(minutes=5)),
        "eve": record(world["other_news"].portal, world["eve"], world["other_news"], opened_at=day(1)),
    }
    return {**world, "sessions": made, "day": day}


def listed(client, **params) -> list[str]:
    """Names of the history rows for these filters, as (subscriber first name, channel name) strings."""
    response = client.get(HISTORY, params)
    assert response.status_code == 200
    found = []
    for row in rows(page(response)):
        who = re.search(r'href="/subscribers/[^/]+/">(\w+)', row).group(1)
        channel = re.search(r'<code class="muted small">([^<]+)</code>', row).group(1)
        found.append(f"{who}/{channel}")
    return found


def test_the_history_lists_every_session_newest_first_with_times_and_status(web, history):
    html = page(web["viewer"].get(HISTORY))
    assert listed(web["viewer"]) == ["Carol/news", "Carol/kids", "Bob/sport", "Alice/sport", "Bob/news",
                                     "Alice/news"]
    live_row, kids_row = rows(html)[:2]
    assert 'data-testid="session-active">Watching<' in live_row
    opened, closed = history["day"](1), history["day"](1, 16)
    assert opened.strftime("%Y-%m-%d %H:%M:%S") in kids_row and closed.strftime("%Y-%m-%d %H:%M:%S") in kids_row
    assert "Closed by the streaming server" in kids_row and "4 h 00 min" in kids_row and "2.0 KB" in kids_row
    assert "Eve" not in html


def test_the_history_filters_by_subscriber_channel_status_and_days(web, history):
    client, w = web["viewer"], history
    assert listed(client, subscriberId=w["alice"].public_id) == ["Alice/sport", "Alice/news"]
    assert listed(client, channelId=w["news"].public_id) == ["Carol/news", "Bob/news", "Alice/news"]
    assert listed(client, channelId=w["news"].public_id, active="true") == ["Carol/news"]
    assert listed(client, active="false") == ["Carol/kids", "Bob/sport", "Alice/sport", "Bob/news", "Alice/news"]
    five_days_ago = w["day"](5).date().isoformat()
    assert listed(client, **{"from": five_days_ago, "to": five_days_ago}) == ["Alice/sport", "Bob/news"]
    assert listed(client, **{"from": w["day"](2).date().isoformat()}) == ["Carol/news", "Carol/kids", "Bob/sport"]
    assert listed(client, to=w["day"](5).date().isoformat()) == ["Alice/sport", "Bob/news", "Alice/news"]
    assert listed(client, subscriberId=w["bob"].public_id, **{"from": five_days_ago}, channelId=w["sport"].public_id,
                  active="false") == ["Bob/sport"]


def test_the_history_filter_form_keeps_the_choices_and_names_the_subscriber(web, history):
    html = page(web["viewer"].get(HISTORY, {"subscriberId": history["bob"].public_id,
                                            "channelId": history["sport"].public_id, "active": "false"}))
    assert f'value="{history["bob"].public_id}"' in html
    assert f'<option value="{history["sport"].public_id}" selected>Sport (sport)</option>' in html
    assert '<option value="false" selected>Ended</option>' in html
    assert "Other News" not in html  # the channel choices are the portal's
    assert re.search(r'data-testid="filtered-subscriber">Sessions of <a href="/subscribers/[^"]+/">Bob Jones</a>',
                     html)
    assert 'href="/play-sessions/history/">Clear</a>' in html


@pytest.mark.parametrize("typed", ["bob jones", "Bob Jones"])
def test_a_subscriber_typed_by_name_is_named_above_the_history(web, history, typed):
    html = page(web["viewer"].get(HISTORY, {"subscriberId": typed}))
    assert re.search(r'data-testid="filtered-subscriber">Sessions of <a href="/subscribers/[^"]+/">Bob Jones</a>',
                     html)


def test_a_name_no_subscriber_has_names_nobody(web, history):
    html = page(web["viewer"].get(HISTORY, {"subscriberId": "no such person"}))
    assert 'data-testid="filtered-subscriber"' not in html


def test_unreadable_filters_are_reported(web, history):
    html = page(web["viewer"].get(HISTORY, {"subscriberId": "nope", "from": "2026-13-45"}))
    assert "From: Enter a valid date (YYYY-MM-DD)." in html and "Subscriber:" in html
    assert rows(html) == []


def test_filters_matching_nothing_say_so(web, history):
    html = page(web["viewer"].get(HISTORY, {"channelId": history["kids"].public_id, "active": "true"}))
    assert "No play sessions match these filters" in html and rows(html) == []


def test_the_empty_history_explains_how_sessions_appear(web, world):
    html = page(web["viewer"].get(HISTORY))
    assert 'data-testid="history-empty"' in html and "Connecting Flussonic" in html


def test_the_history_never_shows_another_portals_sessions(web, stranger_web, history):
    eve = history["eve"]
    assert listed(web["viewer"], subscriberId=eve.public_id) == []
    assert listed(web["viewer"], channelId=history["other_news"].public_id) == []
    html = page(stranger_web.get(HISTORY))
    assert session_ids(html) == [history["sessions"]["eve"].public_id]
    assert "Alice" not in html and "Carol" not in html


def test_the_history_pages_with_a_cursor_and_keeps_the_filters(web, world):
    portal, now = world["portal"], timezone.now()
    made = [record(portal, world["alice"], world["news"], opened_at=now - dt.timedelta(minutes=n),
                   closed_at=now - dt.timedelta(minutes=n) + dt.timedelta(seconds=30)) for n in range(1, 56)]
    record(portal, world["bob"], world["news"], opened_at=now - dt.timedelta(minutes=30))  # filtered out
    client = web["viewer"]
    first = page(client.get(HISTORY, {"subscriberId": world["alice"].public_id}))
    assert session_ids(first) == [s.public_id for s in made[:50]]
    next_url = re.search(r'href="(\?[^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    assert f"subscriberId={world['alice'].public_id}" in next_url
    second = page(client.get(HISTORY + next_url))
    assert session_ids(second) == [s.public_id for s in made[50:]]
    assert 'rel="next"' not in second and "« First page" in second
    assert client.get(HISTORY, {"cursor": "garbage"}).status_code == 404


def test_the_history_costs_the_same_queries_for_a_few_or_many_sessions(web, world):
    portal, now, client = world["portal"], timezone.now(), web["viewer"]
    for n in range(3):
        record(portal, world["alice"], world["news"], opened_at=now - dt.timedelta(minutes=n + 1))
    client.get(HISTORY)
    with CaptureQueriesContext(connection) as few:
        client.get(HISTORY)
    people, channels = [world["alice"], world["bob"], world["carol"]], [world["news"], world["sport"], world["kids"]]
    for n in range(30):
        record(portal, people[n % 3], channels[n % 3], opened_at=now - dt.timedelta(hours=n + 1),
               closed_at=now - dt.timedelta(hours=n))
    with CaptureQueriesContext(connection) as many:
        assert len(rows(page(client.get(HISTORY)))) == 33
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


def test_deleted_subscribers_and_channels_keep_their_history(web, history, portal):
    subscribers.delete_subscriber(history["bob"], caller=Caller(portal=portal))
    html = page(web["viewer"].get(HISTORY, {"active": "false"}))
    bob_rows = [row for row in rows(html) if history["bob"].public_id in row]
    assert len(bob_rows) == 2 and all("Deleted subscriber" in row for row in bob_rows)


# --- Subscriber card and channel page -----------------------------------------------------------------------


def test_the_subscriber_card_shows_the_ten_most_recent_sessions_and_links_the_history(web, world):
    portal, now = world["portal"], timezone.now()
    made = [record(portal, world["alice"], world["sport"], opened_at=now - dt.timedelta(hours=n + 1),
                   closed_at=now - dt.timedelta(hours=n)) for n in range(12)]
    live = start(world["alice"], "news", ip="203.0.113.9")
    record(portal, world["bob"], world["news"], opened_at=now)
    html = page(web["viewer"].get(f"/subscribers/{world['alice'].public_id}/"))
    section = html[html.index('data-testid="play-sessions"'):html.index("Recent operations")]
    assert session_ids(section) == [live.public_id] + [s.public_id for s in made[:9]]
    assert "203.0.113.9" in section and "Watching" in section and "Bob" not in section
    assert f'href="/play-sessions/history/?subscriberId={world["alice"].public_id}"' in section


def test_the_subscriber_card_without_sessions_says_how_they_appear(web, world):
    html = page(web["viewer"].get(f"/subscribers/{world['bob'].public_id}/"))
    section = html[html.index('data-testid="play-sessions"'):html.index("Recent operations")]
    assert "No play sessions" in section and "streaming server" in section
    assert f"?subscriberId={world['bob'].public_id}" in section


def test_the_channel_page_links_its_sessions(web, world):
    start(world["alice"], "news")
    html = page(web["viewer"].get(f"/channels/{world['news'].public_id}/"))
    link = f'href="/play-sessions/history/?channelId={world["news"].public_id}"'
    assert link in html
    assert len(rows(page(web["viewer"].get(HISTORY, {"channelId": world["news"].public_id})))) == 1


# --- Units --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "text"), [(0, "0 bytes"), (1, "1 byte"), (1023, "1023 bytes"), (1536, "1.5 KB"),
                                             (5 * 1024 ** 2, "5.0 MB"), (int(2.25 * 1024 ** 3), "2.2 GB"),
                                             (3 * 1024 ** 4, "3.0 TB"), (None, "0 bytes")])
def test_bytes_are_shown_in_human_units(value, text):
    assert human_bytes(value) == text


@pytest.mark.parametrize(("seconds", "text"), [(0, "0 s"), (45, "45 s"), (725, "12 min 05 s"),
                                               (7380, "2 h 03 min"), (3 * 86400 + 4 * 3600, "3 d 04 h")])
def test_durations_are_shown_in_human_units(seconds, text):
    assert human_duration(seconds) == text

