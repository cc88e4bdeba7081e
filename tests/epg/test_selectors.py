"""Reads for the screens: fetch history, programmes by day and channel, channel IDs, now/next, EPG today."""

from __future__ import annotations

import pytest

from content import services
from content.epg import selectors as epg_selectors
from content.models import Channel, EpgSource, Program
from portals.auth import Caller
from tests.epg.helpers import BASE, at, fetch_now, guide, make_source, program

pytestmark = pytest.mark.django_db


@pytest.fixture
def source(portal, server):
    source = make_source(portal, url=server.serve("/g.xml", guide(
        program("a.tv", 0, 2, "A0"), program("a.tv", 2, 3, "A2"), program("a.tv", 30, 31, "Tomorrow"),
        program("b.tv", 5, 6, "B5"))))
    fetch_now(source)
    return source


def test_programs_by_day_and_channel(source):
    assert [p.title for p in epg_selectors.programs_of(source)] == ["A0", "A2", "B5", "Tomorrow"]
    assert [p.title for p in epg_selectors.programs_of(source, day=BASE.date())] == ["A0", "A2", "B5"]
    assert [p.title for p in epg_selectors.programs_of(source, day=BASE.date(), channel="a.tv")] == ["A0", "A2"]


def test_the_epg_channel_ids_of_a_source(source):
    assert epg_selectors.epg_channel_names(source) == ["a.tv", "b.tv"]


def test_now_and_next(source):
    current, upcoming = epg_selectors.now_and_next(source.id, "a.tv", at(1))
    assert (current.title, upcoming.title) == ("A0", "A2")
    current, upcoming = epg_selectors.now_and_next(source.id, "a.tv", at(2))
    assert (current.title, upcoming.title) == ("A2", "Tomorrow")
    current, upcoming = epg_selectors.now_and_next(source.id, "a.tv", at(10))  # a gap in the guide
    assert (current, upcoming.title) == (None, "Tomorrow")
    assert epg_selectors.now_and_next(source.id, "none.tv", at(1)) == (None, None)


def test_overlapping_programs_one_rule_everywhere(portal):
    """A guide may overlap: of the programmes covering a moment the one that started last is on air, for the
    screens, the client app's channel list and a play session's programme alike."""
    from monitoring import on_air
    from subscribers.client_api.selectors import now_and_next_for

    source = EpgSource.objects.create(portal=portal, name="overlap", url="https://epg.example.com/o.xml")
    for start, end, title in ((0, 4, "Long"), (1, 2, "Short"), (5, 6, "Later")):
        Program.objects.create(portal=portal, epg_source=source, epg_channel_name="o.tv", start=at(start),
                               end=at(end), title=title, content_hash=0)
    services.create_channel(portal, caller=Caller(portal=portal), data={
        "name": "overlap", "title": "Overlap", "epgSourceName": "overlap", "epgChannelName": "o.tv"})
    channel = Channel.objects.get(name="overlap")
    expected = {0.5: ("Long", "Short"), 1.5: ("Short", "Later"), 3: ("Long", "Later"), 4.5: (None, "Later")}
    for hours, (now, upcoming) in expected.items():
        moment = at(hours)
        titles = tuple(p and p.title for p in epg_selectors.now_and_next(source.id, "o.tv", moment))
        assert titles == (now, upcoming), hours
        assert tuple(p and p.title for p in now_and_next_for([channel], moment)[channel.id]) == (now, upcoming)
        playing = on_air.programs_on_air([(channel.id, moment)])[0]
        assert (playing and Program.objects.get(pk=playing).title) == now, hours


def test_has_epg_today_per_channel(portal, source):
    caller = Caller(portal=portal)
    for name, epg_channel in (("with-a", "a.tv"), ("with-b", "b.tv"), ("unknown", "zzz"), ("none", "")):
        services.create_channel(portal, caller=caller, data={
            "name": name, "title": name, "epgSourceName": source.name if epg_channel else None,
            "epgChannelName": epg_channel})
    channels = epg_selectors.mark_epg_today(list(Channel.objects.for_portal(portal)), day=BASE.date())
    assert {c.name: c.has_epg_today for c in channels} == {"with-a": True, "with-b": True, "unknown": False,
                                                           "none": False}
    a = Channel.objects.get(name="with-a")
    assert epg_selectors.program_on_air(a, at(0.5)).title == "A0"
    assert epg_selectors.program_on_air(Channel.objects.get(name="none"), at(0.5)) is None


def test_fetch_history_per_source(portal, source, server):
    other = make_source(portal, "other", url=server.url("/g.xml"))
    mine, theirs = fetch_now(source), fetch_now(other)
    assert [f.id for f in epg_selectors.fetches_for(portal, source=source)][0] == mine.id
    assert [f.id for f in epg_selectors.fetches_for(portal)][0] == theirs.id
    assert epg_selectors.active_fetch(source) is None
    assert [s.last_fetch.id for s in epg_selectors.epg_sources_for(portal)] == [mine.id, theirs.id]
