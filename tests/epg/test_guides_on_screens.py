"""The screens read a channel's whole guide: the channel list's "EPG today" badge and the live play sessions'
programme on air now look at every source of ``epgSources`` (the merged guide) and apply the channel's
``epgOffsetMinutes``, in a number of queries that does not grow with the channels shown."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from content.models import Program
from tests.content.test_channels_api import make_channel
from tests.epg.helpers import make_source
from tests.web.conftest import page, table, web  # noqa: F401  (the screens' fixture)
from tests.web.test_play_sessions_screens import _streamer, make_subscriber, record  # noqa: F401

pytestmark = pytest.mark.django_db
LIVE = "/play-sessions/"


def today(hours: float) -> dt.datetime:
    """Today (UTC) at 00:00 plus ``hours``."""
    midnight = timezone.now().astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + dt.timedelta(hours=hours)


def add_program(source, epg_channel: str, start: dt.datetime, end: dt.datetime, title: str) -> Program:
    return Program.objects.create(portal=source.portal, epg_source=source, epg_channel_name=epg_channel,
                                  start=start, end=end, title=title, content_hash=0)


def badges(html: str) -> dict[str, str]:
    """``{technical name: "yes" | "no" | "none"}`` of the channel list's "EPG today" badge."""
    found = {}
    for name, row in re.findall(r"<code>([\w-]+)</code>(.*?)</tr>", html, re.S):
        found[name] = ("yes" if 'data-testid="epg-today"' in row else
                       "no" if 'data-testid="epg-today-missing"' in row else "none")
    return found


def test_the_epg_today_badge_reads_every_source_and_the_channel_offset(web, portal):  # noqa: F811
    first, second = make_source(portal, "first"), make_source(portal, "second")
    add_program(first, "a.tv", today(-30), today(-29), "The day before yesterday")
    add_program(second, "b.tv", today(10), today(11), "Today on the second source")
    add_program(first, "late.tv", today(-1), today(-0.5), "Yesterday 23:00 UTC")
    make_channel(portal, "both", "Both", epgSources=[{"epgSourceName": "first", "epgChannelName": "a.tv"},
                                                     {"epgSourceName": "second", "epgChannelName": "b.tv"}])
    make_channel(portal, "firstonly", "First only", epgSourceName="first", epgChannelName="a.tv")
    make_channel(portal, "shifted", "Shifted", epgSourceName="first", epgChannelName="late.tv",
                 epgOffsetMinutes=60)  # yesterday 23:00 read one hour later: today
    make_channel(portal, "unshifted", "Unshifted", epgSourceName="first", epgChannelName="late.tv")
    make_channel(portal, "backwards", "Backwards", epgSourceName="second", epgChannelName="b.tv",
                 epgOffsetMinutes=-1440)  # today's programme read a day earlier: yesterday
    make_channel(portal, "plain", "Plain")
    html = table(web["viewer"].get("/channels/"))
    assert badges(html) == {"both": "yes", "firstonly": "no", "shifted": "yes", "unshifted": "no",
                            "backwards": "no", "plain": "none"}

    # One query for the badges of the page, however many channels and distinct offsets it shows.
    with CaptureQueriesContext(connection) as few:
        web["viewer"].get("/channels/")
    for number in range(6):
        make_channel(portal, f"more{number}", f"More {number}", epgSourceName="second", epgChannelName="b.tv",
                     epgOffsetMinutes=number * 7)
    with CaptureQueriesContext(connection) as more:
        html = table(web["viewer"].get("/channels/"))
    assert len(more.captured_queries) == len(few.captured_queries)
    assert all(badges(html)[f"more{number}"] == "yes" for number in range(6))


def test_the_live_view_shows_the_program_on_air_now_on_the_merged_and_shifted_guide(web, portal):  # noqa: F811
    now = timezone.now()
    first, second = make_source(portal, "first"), make_source(portal, "second")
    add_program(first, "a.tv", now + dt.timedelta(hours=2), now + dt.timedelta(hours=3), "First later")
    add_program(second, "b.tv", now - dt.timedelta(minutes=10), now + dt.timedelta(minutes=50), "Second now")
    add_program(first, "c.tv", now - dt.timedelta(hours=2), now - dt.timedelta(hours=1), "Two hours ago")
    merged = make_channel(portal, "merged", "Merged", epgSources=[
        {"epgSourceName": "first", "epgChannelName": "a.tv"}, {"epgSourceName": "second", "epgChannelName": "b.tv"}])
    shifted = make_channel(portal, "shifted", "Shifted", epgSourceName="first", epgChannelName="c.tv",
                           epgOffsetMinutes=90)  # [now − 2 h, now − 1 h) read 90 minutes later covers now
    unshifted = make_channel(portal, "unshifted", "Unshifted", epgSourceName="first", epgChannelName="c.tv")
    away = make_channel(portal, "away", "Away", epgSourceName="second", epgChannelName="b.tv",
                        epgOffsetMinutes=-60)  # "Second now" read an hour earlier is over
    viewer = make_subscriber(portal, "Viewer One", [])
    for channel in (merged, shifted, unshifted, away):
        record(portal, viewer, channel, opened_at=now - dt.timedelta(minutes=5))

    html = page(web["viewer"].get(LIVE))
    cells = {name: row for name, row in re.findall(r'<tr data-session-id="[^"]+">.*?>(\w+)</a>(.*?)</tr>',
                                                    html, re.S)}
    assert set(cells) == {"Merged", "Shifted", "Unshifted", "Away"}
    assert "Second now" in cells["Merged"]
    assert "Two hours ago" in cells["Shifted"] and "Two hours ago" not in cells["Unshifted"]
    assert "Second now" not in cells["Away"]
