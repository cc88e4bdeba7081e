"""The dashboard's play session figures, charts and warnings: the numbers match the data, for every persona,
within the portal; the existing counts stay."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from content.epg import services as epg_services
from content.models import EpgFetch, FetchStatus
from monitoring.models import TokenSharingSuspicion
from monitoring.views import chart
from portals.auth import Caller
from subscribers import services as subscribers

from .conftest import PERSONAS, page
from .test_play_sessions_screens import _streamer, make_channel, make_package, make_subscriber, record, start

__all__ = ["_streamer"]  # the autouse fixture setting STREAMER_KEY, used here too


@pytest.fixture
def world(portal, other_portal):
    news, sport, kids = make_channel(portal, "news"), make_channel(portal, "sport"), make_channel(portal, "kids")
    basic = make_package(portal, "basic", [news, sport, kids])
    other_news = make_channel(other_portal, "news", "Other News")
    return {
        "portal": portal, "news": news, "sport": sport, "kids": kids,
        "alice": make_subscriber(portal, "Alice Smith", [basic]),
        "bob": make_subscriber(portal, "Bob Jones", [basic]),
        "eve": make_subscriber(other_portal, "Eve Stranger", [make_package(other_portal, "basic", [other_news])]),
        "other_portal": other_portal,
    }


@pytest.fixture
def watching(world):
    """Three viewers now on two channels (news ×2, sport ×1), through the auth endpoint; another portal's
    viewer; an ended session two days ago."""
    start(world["alice"], "news", ip="192.0.2.1")
    start(world["bob"], "news", ip="192.0.2.2")
    start(world["alice"], "sport", ip="192.0.2.1")
    start(world["eve"], "news", ip="192.0.2.99")
    two_days_ago = timezone.now() - dt.timedelta(days=2)
    record(world["portal"], world["bob"], world["kids"], opened_at=two_days_ago,
           closed_at=two_days_ago + dt.timedelta(hours=1))
    return world


def figure(html: str, testid: str) -> int:
    return int(re.search(rf'data-testid="{testid}">(\d+)<', html).group(1))


def top_channels(html: str) -> list[tuple[str, int]]:
    section = html[html.index('data-testid="top-channels"'):]
    section = section[:section.index("</section>")]
    return [(title, int(viewers)) for title, viewers in re.findall(
        r'<a href="/channels/[^/]+/">([^<]+)</a>.*?data-testid="channel-viewers">(\d+)<', section, re.S)]


def chart_values(html: str, testid: str) -> list[int]:
    svg = html[html.index(f'data-testid="{testid}"'):]
    svg = svg[:svg.index("</svg>")]
    return [int(v) for v in re.findall(r'data-value="(\d+)"', svg)]


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_numbers_match_the_sessions_for_every_persona(web, watching, persona):
    html = page(web[persona].get("/"))
    assert figure(html, "active-viewers") == 3
    assert figure(html, "subscribers-watching") == 2
    assert figure(html, "sessions-today") == 3
    assert top_channels(html) == [("News", 2), ("Sport", 1)]


def test_the_charts_count_viewers_per_hour_and_sessions_per_day(web, watching):
    html = page(web["viewer"].get("/"))
    hours = chart_values(html, "viewers-per-hour")
    assert len(hours) == 24 and hours[-1] == 3
    days = chart_values(html, "sessions-per-day")
    assert len(days) == 30 and days[-1] == 3 and days[-3] == 1 and sum(days) == 4
    now = timezone.now().astimezone(dt.UTC)
    assert f"{now:%Y-%m-%d %H}:00–" in html and ": 3 viewers</title>" in html
    assert f"<title>{now:%Y-%m-%d}: 3 sessions opened</title>" in html
    svg = html[html.index('data-testid="viewers-per-hour"'):]
    assert f">{now:%H}:00</text>" in svg[:svg.index("</svg>")]  # the current hour is labelled
    assert f">{now:%m-%d}</text>" in html  # and today
    assert 'role="img"' in svg and "<polyline" in html


def test_the_live_figures_link_the_play_sessions_and_the_channels_their_history(web, watching):
    html = page(web["viewer"].get("/"))
    assert '<a class="stat stat-live" href="/play-sessions/">' in html
    news = watching["news"].public_id
    assert f'href="/play-sessions/history/?channelId={news}&amp;active=true">Sessions</a>' in html


def test_the_existing_counts_stay(web, watching):
    html = page(web["viewer"].get("/"))
    counts = dict((label.strip(), int(value)) for value, label in re.findall(
        r'<div class="stat-value">(\d+)</div>\s*<div class="stat-label">([^<]+)</div>', html))
    assert counts["Channels"] == 3 and counts["Packages"] == 1 and counts["Active subscribers"] == 2
    assert set(counts) == {"Channels", "Packages", "Active subscribers", "Blocked subscribers", "Managers",
                           "Operations in the last 24 hours"}


def test_another_portals_sessions_never_count(web, stranger_web, watching):
    assert "Eve" not in page(web["viewer"].get("/"))
    theirs = page(stranger_web.get("/"))
    assert figure(theirs, "active-viewers") == 1 and top_channels(theirs) == [("Other News", 1)]
    assert sum(chart_values(theirs, "sessions-per-day")) == 1


def test_an_empty_portal_shows_zeros_and_empty_states(web, world):
    html = page(web["viewer"].get("/"))
    assert figure(html, "active-viewers") == 0 and top_channels(html) == []
    assert "Nobody is watching" in html
    assert chart_values(html, "viewers-per-hour") == [0] * 24
    assert 'data-testid="failing-epg-sources"' not in html and 'data-testid="suspected-sharing"' not in html


def test_failing_epg_sources_are_listed_with_a_link_to_their_page(web, world, portal):
    def source(name):
        return epg_services.create_epg_source(portal, caller=Caller(portal=portal),
                                              data={"name": name, "url": f"https://epg.example.com/{name}.xml"})

    broken, timed_out, healthy = source("broken.guide"), source("slow.guide"), source("fine.guide")
    now = timezone.now()
    for n, (item, status, message) in enumerate([(broken, FetchStatus.ERROR, "HTTP 404 from the guide server"),
                                                 (timed_out, FetchStatus.TIMEOUT, "Timed out"),
                                                 (healthy, FetchStatus.SUCCESS, "")]):
        fetch = EpgFetch.objects.create(portal=portal, epg_source=item, job_id=f"job-{n}", status=status,
                                        message=message, finished_at=now)
        item.last_fetch = fetch
        item.failures = 3 if item is broken else 0
        item.save(update_fields=["last_fetch", "failures"])
    html = page(web["viewer"].get("/"))
    section = html[html.index('data-testid="failing-epg-sources"'):]
    section = section[:section.index("</section>")]
    assert f'<a href="/epg-sources/{broken.public_id}/">broken.guide</a>' in section
    assert "3 failed fetches since the last success" in section and "HTTP 404 from the guide server" in section
    assert f'<a href="/epg-sources/{timed_out.public_id}/">slow.guide</a>' in section and "timeout" in section
    assert "fine.guide" not in section


def test_subscribers_suspected_of_sharing_are_listed_with_their_addresses(web, world, settings):
    settings.TOKEN_SHARING_IPS = 3
    settings.TOKEN_SHARING_WINDOW = 3600
    addresses = ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"]
    for ip in addresses:  # a fourth address within the hour: more than 3
        start(world["alice"], "news", ip=ip)
    for ip in addresses:
        start(world["eve"], "news", ip=ip)
    start(world["bob"], "news", ip="198.51.100.1")
    assert TokenSharingSuspicion.objects.filter(subscriber=world["alice"]).exists()
    html = page(web["viewer"].get("/"))
    section = html[html.index('data-testid="suspected-sharing"'):]
    section = section[:section.index("</section>")]
    assert f'<a href="/subscribers/{world["alice"].public_id}/">Alice Smith</a>' in section
    assert all(f"<code>{ip}</code>" in section for ip in addresses)
    assert "more than 3 addresses within 1 hour" in section
    assert "Bob" not in section and "Eve" not in section


def test_a_new_token_ends_the_sharing_warning(web, world, portal, settings):
    settings.TOKEN_SHARING_IPS = 3
    for n in range(4):
        start(world["alice"], "news", ip=f"203.0.113.{n + 1}")
    subscribers.reset_playback_token(world["alice"], caller=Caller(portal=portal))
    assert 'data-testid="suspected-sharing"' not in page(web["viewer"].get("/"))


def test_the_dashboard_costs_the_same_queries_with_more_sessions(web, watching):
    client = web["viewer"]
    client.get("/")
    with CaptureQueriesContext(connection) as few:
        client.get("/")
    for ip in range(5):
        start(watching["bob"], "kids", ip=f"192.0.2.{10 + ip}")
    with CaptureQueriesContext(connection) as many:
        client.get("/")
    assert len(many) == len(few)


def test_the_chart_scale_is_round_and_labels_count_back_from_now():
    geometry = chart([0, 3, 7, 2], ["a", "b", "c", "d"], ["A", "B", "C", "D"], kind="bars", label_every=2)
    assert [t["value"] for t in geometry["ticks"]] == [0, 2, 4, 6, 8]
    assert [p["label"] for p in geometry["points"]] == ["", "b", "", "d"]
    tallest = max(geometry["points"], key=lambda p: p["height"])
    assert tallest["value"] == 7 and tallest["y"] > geometry["top"]
    assert [t["value"] for t in chart([0, 0], ["a", "b"], ["A", "B"], kind="line", label_every=1)["ticks"]] == [0, 1]
