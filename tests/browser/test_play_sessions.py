"""Play sessions in a real browser: the live view shows a viewer who starts playing without a reload; the
history filters; the subscriber card and the dashboard link there."""

from __future__ import annotations

import re
import urllib.parse
import urllib.request

import pytest

from portals.models import Portal
from tests.web.test_play_sessions_screens import (
    AUTH,
    KEY,
    auth_query,
    make_channel,
    make_package,
    make_subscriber,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _streamer(settings):
    settings.STREAMER_KEY = KEY
    settings.STREAMER_ALLOWED_IPS = []
    settings.STREAMER_API_URL = ""


@pytest.fixture
def world():
    portal = Portal.objects.get(name="main-portal")
    news, sport = make_channel(portal, "news", "News 24"), make_channel(portal, "sport", "Sport One")
    basic = make_package(portal, "basic", [news, sport])
    return {"portal": portal, "news": news, "sport": sport,
            "alice": make_subscriber(portal, "Alice Smith", [basic]),
            "bob": make_subscriber(portal, "Bob Jones", [basic])}


def start_viewer(base_url: str, subscriber, channel_name: str, **kwargs) -> None:
    """What the streaming server does when a viewer presses play: an auth ``new_session`` over HTTP."""
    query = urllib.parse.urlencode(auth_query(subscriber.playback_token, channel_name, **kwargs))
    with urllib.request.urlopen(f"{base_url}{AUTH}?{query}", timeout=10) as response:
        assert response.status == 200


def test_a_viewer_who_starts_playing_appears_in_the_live_view_without_a_reload(owner_page, world, live_server):
    page = owner_page
    page.click("nav >> text=Play sessions")
    page.wait_for_selector("[data-testid=live-empty] >> text=Nobody is watching right now")
    assert page.text_content("[data-testid=active-count]") == "0"
    first_update = page.get_attribute("[data-testid=live-updated]", "datetime")
    page.evaluate("window.sameDocument = true")

    start_viewer(live_server.url, world["alice"], "news", ip="203.0.113.7", user_agent="VLC/3.0.20")

    row = page.wait_for_selector("[data-testid=live-table] tr:has-text('Alice Smith')", timeout=20_000)
    assert "News 24" in row.text_content() and "203.0.113.7" in row.text_content()
    assert page.text_content("[data-testid=active-count]") == "1"
    assert page.get_attribute("[data-testid=live-updated]", "datetime") != first_update
    assert page.evaluate("window.sameDocument") is True  # swapped in place, not reloaded

    start_viewer(live_server.url, world["bob"], "sport")
    page.wait_for_selector("[data-testid=live-table] tr:has-text('Bob Jones')", timeout=20_000)
    assert page.text_content("[data-testid=active-count]") == "2"
    assert page.evaluate("window.sameDocument") is True

    # The subscriber's name leads to their card, which lists the session and links the filtered history.
    page.click("[data-testid=live-table] >> text=Alice Smith")
    page.wait_for_selector("[data-testid=play-sessions] >> text=News 24")
    page.click("[data-testid=subscriber-play-sessions]")
    page.wait_for_url(re.compile(rf"/play-sessions/history/\?subscriberId={re.escape(world['alice'].public_id)}"))
    assert page.locator("table tbody tr").count() == 1
    assert page.text_content("[data-testid=filtered-subscriber]") == "Sessions of Alice Smith."


def test_the_history_filters_by_channel_and_the_dashboard_counts_viewers(owner_page, world, live_server):
    page = owner_page
    start_viewer(live_server.url, world["alice"], "news")
    start_viewer(live_server.url, world["bob"], "news")
    start_viewer(live_server.url, world["alice"], "sport")

    page.goto("/")
    assert page.text_content("[data-testid=active-viewers]") == "3"
    top = page.locator("[data-testid=top-channels] tbody tr")
    assert top.count() == 2 and "News 24" in top.nth(0).text_content() and "2" in top.nth(0).text_content()

    page.click("nav >> text=Play sessions")
    page.click(".tabs >> text=History")
    assert page.locator("table tbody tr").count() == 3
    page.select_option("#filter-channel", world["sport"].public_id)
    page.click("button:has-text('Filter')")
    page.wait_for_url(re.compile(r"channelId="))
    assert page.locator("table tbody tr").count() == 1
    assert "Sport One" in page.text_content("table tbody")


def set_hidden(page, hidden: bool) -> None:
    """The tab goes to the background (or comes back), as far as the page can tell."""
    page.evaluate("hidden => { Object.defineProperty(document, 'hidden', {configurable: true, get: () => hidden});"
                  " document.dispatchEvent(new Event('visibilitychange')); }", hidden)


def test_the_live_view_asks_nothing_while_the_tab_is_hidden_and_catches_up_when_shown(owner_page, world,
                                                                                       live_server):
    page = owner_page
    page.goto("/play-sessions/")
    assert page.get_attribute("#live-sessions", "hx-trigger") == "every 5s, catena:visible"
    polls = []  # the live block's requests (htmx sends HX-Request)
    page.on("request", lambda request: polls.append(request.url) if request.headers.get("hx-request") else None)
    for _ in range(100):
        if polls:
            break
        page.wait_for_timeout(100)
    assert polls and all(url == f"{live_server.url}/play-sessions/" for url in polls)

    set_hidden(page, True)
    asked = len(polls)
    start_viewer(live_server.url, world["alice"], "news")
    page.wait_for_timeout(6_000)  # more than one polling period
    assert len(polls) == asked
    assert page.text_content("[data-testid=active-count]") == "0"

    set_hidden(page, False)  # shown again: asked at once, not at the next period
    page.wait_for_selector("[data-testid=live-table] tr:has-text('Alice Smith')", timeout=2_500)
    assert asked < len(polls) <= asked + 2


def test_an_archive_viewer_shows_with_the_badge_and_the_program_watched(owner_page, world, live_server):
    import datetime as dt

    from django.utils import timezone

    from content import services as content
    from content.epg import services as epg_services
    from content.models import Channel, Program
    from portals.auth import Caller

    portal = world["portal"]
    source = epg_services.create_epg_source(portal, caller=Caller(portal=portal),
                                            data={"name": "xmltv.main", "url": "https://epg.example.com/g.xml"})
    Channel.objects.filter(pk=world["news"].pk).update(epg_source=source, epg_channel_name="news.example")
    content.update_channel(world["news"], caller=Caller(portal=portal), data={"archiveDays": 3})
    aired = timezone.now().replace(microsecond=0) - dt.timedelta(days=1)
    Program.objects.create(portal=portal, epg_source=source, epg_channel_name="news.example", start=aired,
                           end=aired + dt.timedelta(hours=1), title="Yesterday's Debate", content_hash=1)
    page = owner_page
    page.click("nav >> text=Play sessions")
    page.wait_for_selector("[data-testid=live-empty]")

    start_viewer(live_server.url, world["alice"], "news", dvr="true",
                 qs=f"from={int(aired.timestamp()) + 600}")

    row = page.wait_for_selector("[data-testid=live-table] tr:has-text('Alice Smith')", timeout=20_000)
    assert row.query_selector("[data-testid=session-archive]").text_content() == "Archive"
    assert "Yesterday's Debate" in row.text_content()
    assert row.query_selector("[data-testid=session-program-start]").text_content().strip() == \
        f"aired {aired.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"
    page.click("[data-testid=live-table] >> text=Alice Smith")
    card = page.wait_for_selector("[data-testid=play-sessions] tr:has-text('News 24')")
    assert "Yesterday's Debate" in card.text_content() and "Archive" in card.text_content()
