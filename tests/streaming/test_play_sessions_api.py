"""``GET /play-sessions`` and ``GET /play-sessions/{id}`` (management-api.md §9)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catena_site.ids import encode_id
from content import services as content
from monitoring.models import PlaySession
from tests.conftest import API

from .conftest import caller, check, make_channel, make_package, make_subscriber

SESSION_KEYS = {"sessionId", "subscriberId", "channelId", "channelName", "programId", "portalId", "openedAt",
                "closedAt", "updatedAt", "active", "bytes", "ip", "userAgent", "token", "deviceId",
                "streamerSessionId"}
BASE = dt.datetime(2026, 1, 10, 10, 0, tzinfo=dt.UTC)


def make_session(portal, subscriber, channel, opened_minutes: int, *, active=True, **fields) -> PlaySession:
    opened = BASE + dt.timedelta(minutes=opened_minutes)
    values = {"portal": portal, "subscriber_id": subscriber.id, "channel_id": channel.id, "channel_name": channel.name,
              "streamer_session_id": str(uuid.uuid4()), "token": subscriber.playback_token, "opened_at": opened,
              "updated_at": opened + dt.timedelta(minutes=1), "active": active, "bytes": 1000 * opened_minutes,
              "ip": "192.0.2.1", "user_agent": "VLC/3.0.16"}
    if not active:
        values.update(closed_at=opened + dt.timedelta(minutes=5), close_reason="streamer")
    values.update(fields)
    return PlaySession.objects.create(**values)


@pytest.fixture
def data(world):
    bob = make_subscriber(world["portal"], "Bob", [world["basic"]])
    rows = [
        make_session(world["portal"], world["alice"], world["news"], 0, active=False),
        make_session(world["portal"], world["alice"], world["sport"], 10),
        make_session(world["portal"], bob, world["news"], 20, device_id="tv-1"),
        make_session(world["portal"], bob, world["kids"], 30, active=False),
    ]
    return {**world, "bob": bob, "rows": rows}


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [s["sessionId"] for s in response.json()["sessions"]]


def test_a_session_has_exactly_the_documented_fields(api, data):
    closed = data["rows"][0]
    body = api.get(f"{API}/play-sessions/{closed.public_id}").json()
    assert set(body) == SESSION_KEYS
    assert body == {
        "sessionId": closed.public_id, "subscriberId": data["alice"].public_id, "channelId": data["news"].public_id,
        "channelName": "news", "programId": None, "portalId": data["portal"].public_id,
        "openedAt": int(BASE.timestamp()), "closedAt": int(BASE.timestamp()) + 300,
        "updatedAt": int(BASE.timestamp()) + 60, "active": False, "bytes": 0, "ip": "192.0.2.1",
        "userAgent": "VLC/3.0.16", "token": data["alice"].playback_token, "deviceId": None,
        "streamerSessionId": closed.streamer_session_id,
    }


def test_program_id_is_the_archive_program_and_null_for_live_viewing(api, world, client, time_machine):
    """The manual (5.1.2): "program ID if watching from archive; null for live"."""
    from content.models import EpgSource, Program

    source = EpgSource.objects.create(portal=world["portal"], name="guide", url="https://epg.example.com/g.xml")
    world["news"].epg_source, world["news"].epg_channel_name = source, "news.nl"
    world["news"].save()
    content.update_channel(world["news"], caller=caller(world["portal"]), data={"archiveDays": 7})
    yesterday = Program.objects.create(portal=world["portal"], epg_source=source, epg_channel_name="news.nl",
                                       start=BASE - dt.timedelta(days=1), end=BASE - dt.timedelta(days=1, hours=-1),
                                       title="Yesterday's news", content_hash=1)
    Program.objects.create(portal=world["portal"], epg_source=source, epg_channel_name="news.nl",
                           start=BASE - dt.timedelta(minutes=30), end=BASE + dt.timedelta(hours=1),
                           title="On air", content_hash=2)
    time_machine.move_to(BASE, tick=False)
    token = world["alice"].playback_token
    position = int((BASE - dt.timedelta(days=1, minutes=-10)).timestamp())
    assert check(client, token, "news", session_id="archive", dvr="true", qs=f"from={position}").status_code == 200
    assert check(client, token, "news", session_id="live").status_code == 200
    from monitoring import sessions

    sessions.write_opened_sessions()  # buffered when the cache is Redis
    by_streamer = {s["streamerSessionId"]: s for s in api.get(f"{API}/play-sessions").json()["sessions"]}
    assert by_streamer["archive"]["programId"] == yesterday.public_id
    assert by_streamer["live"]["programId"] is None


def test_the_migration_clears_the_program_id_that_live_sessions_were_given_before(data):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("monitoring.migrations.0003_live_sessions_have_no_program_id")
    live, archive = data["rows"][0], data["rows"][1]
    PlaySession.objects.filter(pk=live.pk).update(program_id=123)
    PlaySession.objects.filter(pk=archive.pk).update(program_id=456, dvr=True)
    migration.clear_live_program_ids(apps, None)
    assert dict(PlaySession.objects.exclude(program_id=None).values_list("pk", "program_id")) == {archive.pk: 456}


def test_the_list_is_newest_opened_first(api, data):
    response = api.get(f"{API}/play-sessions")
    assert set(response.json()) == {"sessions", "next"} and response.json()["next"] is None
    assert ids(response) == [r.public_id for r in reversed(data["rows"])]
    assert all(set(s) == SESSION_KEYS for s in response.json()["sessions"])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("active=true", [2, 1]),
        ("active=false", [3, 0]),
        ("subscriberId={alice}", [1, 0]),
        ("subscriberId={alice}&subscriberId={bob}", [3, 2, 1, 0]),
        ("channelId={news}", [2, 0]),
        ("channelId={news}&channelId={kids}", [3, 2, 0]),
        ("subscriberId={bob}&active=true", [2]),
        ("opened_at_gte={t10}", [3, 2, 1]),
        ("opened_at_lt={t10}", [0]),
        ("opened_at_gte={t10}&opened_at_lt={t30}", [2, 1]),
        ("channelId={news}&active=true&opened_at_gte={t10}", [2]),
    ],
)
def test_filters(api, data, query, expected):
    values = {"alice": data["alice"].public_id, "bob": data["bob"].public_id, "news": data["news"].public_id,
              "kids": data["kids"].public_id, "t10": int((BASE + dt.timedelta(minutes=10)).timestamp()),
              "t30": int((BASE + dt.timedelta(minutes=30)).timestamp())}
    assert ids(api.get(f"{API}/play-sessions?{query.format(**values)}")) == [data["rows"][i].public_id for i in expected]


@pytest.mark.parametrize("query", ["subscriberId=nope", "channelId=AAAAAAAAAAAA", "opened_at_gte=yesterday",
                                   "opened_at_lt=1.5", "opened_at_gte=-1", "cursor=garbage", "limit=0", "limit=1001"])
def test_invalid_filters_are_400(api, data, query):
    response = api.get(f"{API}/play-sessions?{query}")
    assert response.status_code == 400 and response.json()["message"]
    assert query.split("=")[0] in response.json()["errors"], response.json()


def test_keyset_pages_never_repeat_or_skip_while_rows_arrive(api, data):
    first = api.get(f"{API}/play-sessions?limit=2").json()
    assert len(first["sessions"]) == 2 and first["next"]
    # A newer session arrives between pages; it belongs before the cursor and must not shift the next page.
    make_session(data["portal"], data["alice"], data["news"], 99)
    second = api.get(f"{API}/play-sessions?limit=2&cursor={first['next']}").json()
    assert [s["sessionId"] for s in first["sessions"] + second["sessions"]] == [
        r.public_id for r in reversed(data["rows"])]
    assert second["next"] is None


def test_sessions_opened_in_the_same_second_page_by_id(api, data):
    same = [make_session(data["portal"], data["alice"], data["news"], 50) for _ in range(5)]
    collected, cursor = [], ""
    while True:
        page = api.get(f"{API}/play-sessions?limit=2&opened_at_gte={int(same[0].opened_at.timestamp())}"
                       f"{'&cursor=' + cursor if cursor else ''}").json()
        collected += [s["sessionId"] for s in page["sessions"]]
        cursor = page["next"]
        if not cursor:
            break
    assert collected == [s.public_id for s in sorted(same, key=lambda s: s.id, reverse=True)]


@pytest.mark.parametrize("persona", ["api_key", "owner", "subscribers"])
def test_the_token_is_shown_to_those_who_may_see_tokens(clients, data, persona):
    sessions = clients[persona].get(f"{API}/play-sessions").json()["sessions"]
    assert [s["token"] for s in sessions] == [r.token for r in reversed(data["rows"])]
    assert {s["token"] for s in sessions} == {data["alice"].playback_token, data["bob"].playback_token}
    one = clients[persona].get(f"{API}/play-sessions/{data['rows'][1].public_id}").json()
    assert one["token"] == data["alice"].playback_token


@pytest.mark.parametrize("persona", ["admin", "content", "viewer"])
def test_the_token_is_hidden_from_the_others(clients, data, persona):
    sessions = clients[persona].get(f"{API}/play-sessions").json()["sessions"]
    assert len(sessions) == 4 and all(s["token"] is None for s in sessions)
    one = clients[persona].get(f"{API}/play-sessions/{data['rows'][1].public_id}").json()
    assert one["token"] is None


def test_another_portal_sees_nothing_and_gets_404(stranger, data):
    assert stranger.get(f"{API}/play-sessions").json()["sessions"] == []
    assert stranger.get(f"{API}/play-sessions/{data['rows'][0].public_id}").status_code == 404


def test_a_malformed_or_unknown_id_is_404(api, data):
    assert api.get(f"{API}/play-sessions/not-an-id").status_code == 404
    assert api.get(f"{API}/play-sessions/{encode_id(12345)}").status_code == 404


def test_reading_needs_a_token_and_writing_is_not_offered(anonymous, api, data):
    assert anonymous.get(f"{API}/play-sessions").status_code == 401
    assert api.post(f"{API}/play-sessions", {}, format="json").status_code == 405
    assert api.delete(f"{API}/play-sessions/{data['rows'][0].public_id}").status_code == 405


def test_the_query_count_is_constant_and_nothing_is_counted(api, world):
    def page_queries(limit):
        with CaptureQueriesContext(connection) as queries:
            assert api.get(f"{API}/play-sessions?limit={limit}&active=true").status_code == 200
        return [q["sql"] for q in queries.captured_queries]

    make_session(world["portal"], world["alice"], world["news"], 0)
    few = page_queries(100)
    for minute in range(1, 60):
        make_session(world["portal"], world["alice"], world["news"], minute)
    many = page_queries(100)
    assert len(few) == len(many)
    assert not any("COUNT(" in sql.upper() for sql in many)


def test_a_fresh_heartbeat_shows_before_it_is_written(api, world, client, time_machine):
    time_machine.move_to(BASE, tick=False)
    session_id = str(uuid.uuid4())
    check(client, world["alice"].playback_token, "news", session_id=session_id)
    time_machine.move_to(BASE + dt.timedelta(seconds=90), tick=False)
    check(client, world["alice"].playback_token, "news", session_id=session_id, request_type="update_session",
          bytes=777)
    listed = api.get(f"{API}/play-sessions?active=true").json()["sessions"][0]
    assert listed["updatedAt"] == int(BASE.timestamp()) + 90 and listed["bytes"] == 777
    assert PlaySession.objects.get().bytes == 0  # not yet flushed


def test_sessions_created_by_the_streamer_are_listed(api, world, client):
    other = make_package(world["portal"], "more", [make_channel(world["portal"], "music")])
    carol = make_subscriber(world["portal"], "Carol", [other])
    check(client, carol.playback_token, "music", qs="device_id=phone-7")
    listed = api.get(f"{API}/play-sessions?subscriberId={carol.public_id}").json()["sessions"]
    assert [(s["channelName"], s["deviceId"], s["active"]) for s in listed] == [("music", "phone-7", True)]
