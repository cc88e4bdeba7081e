"""The monitoring selectors: live sessions with names, history filters, and dashboard numbers that match the data."""

from __future__ import annotations

import datetime as dt

import pytest

from monitoring import selectors
from tests.factories import make_portal, make_streaming_server

from .conftest import make_channel, make_subscriber
from .test_play_sessions_api import make_session

NOW = dt.datetime(2026, 3, 15, 12, 30, tzinfo=dt.UTC)


def at(hours_ago: float) -> dt.datetime:
    return NOW - dt.timedelta(hours=hours_ago)


@pytest.fixture
def history(world):
    """Sessions at known times. ``make_session`` takes minutes after 2026-01-10 10:00, so times are overridden."""
    portal, alice = world["portal"], world["alice"]
    bob = make_subscriber(portal, "Bob", [world["basic"]])

    def session(who, channel, opened, closed=None):
        return make_session(portal, who, channel, 0, active=closed is None, opened_at=opened,
                            updated_at=closed or NOW, closed_at=closed)

    rows = {
        # active now: two on news (alice, bob), one on sport (alice)
        "alice_news": session(alice, world["news"], at(0.5)),
        "bob_news": session(bob, world["news"], at(2.2)),
        "alice_sport": session(alice, world["sport"], at(0.1)),
        # closed earlier today: 09:00–10:30 and 11:10–11:20 (hours ago: 3.5–2.0, 1.33–1.17)
        "morning": session(bob, world["kids"], at(3.5), at(2.0)),
        "short": session(alice, world["kids"], at(1 + 1 / 3), at(1 + 1 / 6)),
        # days ago
        "day3": session(bob, world["news"], NOW - dt.timedelta(days=3), NOW - dt.timedelta(days=3) + dt.timedelta(hours=1)),
        "day29": session(bob, world["news"], NOW - dt.timedelta(days=29), NOW - dt.timedelta(days=29, hours=-1)),
        "day40": session(bob, world["news"], NOW - dt.timedelta(days=40), NOW - dt.timedelta(days=40, hours=-1)),
    }
    other = make_portal("dashboard-other", streaming_server=make_streaming_server("dashboard-edge"))
    stranger = make_subscriber(other, "Eve")
    make_session(other, stranger, make_channel(other, "news"), 0, opened_at=at(0.2), updated_at=NOW)
    return {**world, "bob": bob, "rows": rows}


def test_active_viewers_and_top_channels_now(history):
    numbers = selectors.dashboard(history["portal"], now=NOW)
    assert (numbers.active_sessions, numbers.active_subscribers) == (3, 2)
    assert [(c.name, c.title, c.viewers) for c in numbers.top_channels] == [("news", "News", 2), ("sport", "Sport", 1)]


def test_viewers_per_hour_over_24_hours(history):
    hours = selectors.viewers_per_hour(history["portal"], NOW)
    assert len(hours) == 24 and hours[-1][0] == NOW.replace(minute=0) and hours[0][0] == hours[-1][0] - dt.timedelta(hours=23)
    counts = {start.hour: n for start, n in hours}
    # 12:00–12:30: alice_news (12:00), bob_news, alice_sport (12:24) → 3
    assert counts[12] == 3
    # 11:00: alice_news opened 12:00, no; bob_news (since 10:18) yes; short (11:10–11:20) yes → 2
    assert counts[11] == 2
    # 10:00: bob_news (10:18) and morning (09:00–10:30) → 2
    assert counts[10] == 2
    # 09:00: morning → 1; 08:00: nothing
    assert (counts[9], counts[8]) == (1, 0)


def test_sessions_per_day_over_30_days(history):
    days = selectors.sessions_per_day(history["portal"], NOW)
    assert len(days) == 30 and days[-1][0] == NOW.date() and days[0][0] == NOW.date() - dt.timedelta(days=29)
    by_day = dict(days)
    assert by_day[NOW.date()] == 5
    assert by_day[NOW.date() - dt.timedelta(days=3)] == 1
    assert by_day[NOW.date() - dt.timedelta(days=29)] == 1
    assert sum(by_day.values()) == 7  # the 40-day-old one is outside


def test_live_sessions_carry_subscriber_channel_and_program(history):
    from content.models import EpgSource, Program

    source = EpgSource.objects.create(portal=history["portal"], name="guide", url="https://epg.example.com/g.xml")
    on_air = Program.objects.create(portal=history["portal"], epg_source=source, epg_channel_name="news.nl",
                                    start=at(1), end=at(-1), title="Evening news", content_hash=1)
    history["rows"]["alice_news"].program_id = on_air.id
    history["rows"]["alice_news"].save(update_fields=["program_id"])
    live = list(selectors.active_sessions(history["portal"]))
    assert [(s.subscriber_name, s.channel_title, s.program_title) for s in live] == [
        ("Alice", "Sport", None), ("Alice", "News", "Evening news"), ("Bob", "News", None)]


def test_history_uses_the_api_filters(history):
    filtered = selectors.session_history(history["portal"], {"subscriberId": history["bob"].public_id, "active": "false"})
    assert filtered.is_valid()
    assert [s.id for s in filtered.qs] == [history["rows"][k].id for k in ("morning", "day3", "day29", "day40")]
    assert not selectors.session_history(history["portal"], {"opened_at_gte": "soon"}).is_valid()


def test_the_dashboard_needs_a_handful_of_queries(history, django_assert_max_num_queries):
    with django_assert_max_num_queries(7):
        selectors.dashboard(history["portal"], now=NOW)
