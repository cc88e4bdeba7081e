"""Session events (streaming.md §2): batches, duplicates, late and out-of-order delivery, bad input."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from unittest import mock

import pytest

from content import services as content
from monitoring import metrics, sessions
from monitoring.models import PlaySession

from .conftest import EVENTS, KEY, caller, check, make_channel, make_package, make_subscriber

T0 = 1_760_000_000  # seconds


def at(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def event(world, kind="play_opened", session_id="s-1", *, media="news", token=None, **fields):
    body = {"event": kind, "event_id": str(uuid.uuid4()), "id": session_id, "media": media,
            "token": world["alice"].playback_token if token is None else token, "user_id": world["alice"].public_id,
            "ip": "198.51.100.7", "user_agent": "VLC/3.0.16", "proto": "hls", "bytes": 0, "opened_at": T0,
            "dvr": False, "country": "NL"}
    body.update(fields)
    return body


def post(client, body, key=KEY, raw=None):
    return client.post(f"{EVENTS}?key={key}", raw if raw is not None else json.dumps(body),
                       content_type="application/json")


def test_a_batch_creates_play_sessions_and_answers_204(client, world):
    response = post(client, [event(world, "play_opened", "s-1", updated_at=T0),
                             event(world, "play_started", "s-1", updated_at=T0 + 1),
                             event(world, "play_opened", "s-2", opened_at=T0 + 5, updated_at=T0 + 5)])
    assert response.status_code == 204 and response.content == b""
    first = PlaySession.objects.get(streamer_session_id="s-1")
    assert (first.subscriber_id, first.channel_id, first.channel_name) == (world["alice"].id, world["news"].id, "news")
    assert first.opened_at == at(T0) and first.updated_at == at(T0 + 1) and first.active
    assert (first.ip, first.user_agent, first.proto, first.country) == ("198.51.100.7", "VLC/3.0.16", "hls", "NL")
    assert PlaySession.objects.count() == 2


def test_a_single_object_is_accepted(client, world):
    assert post(client, event(world)).status_code == 204
    assert PlaySession.objects.get().streamer_session_id == "s-1"


def test_millisecond_timestamps_are_understood(client, world):
    post(client, [event(world, opened_at=T0 * 1000 + 500, updated_at=T0 * 1000 + 2500)])
    session = PlaySession.objects.get()
    assert session.opened_at == at(T0) + dt.timedelta(milliseconds=500)
    assert session.updated_at == at(T0 + 2) + dt.timedelta(milliseconds=500)


def test_duplicates_are_idempotent(client, world):
    batch = [event(world, "play_opened", updated_at=T0), event(world, "play_updated", updated_at=T0 + 60, bytes=5000),
             event(world, "play_closed", updated_at=T0 + 90, closed_at=T0 + 90, bytes=7000)]
    post(client, batch)
    snapshot = list(PlaySession.objects.values())
    post(client, batch + batch)  # the whole batch again, and each event twice
    assert list(PlaySession.objects.values()) == snapshot
    session = PlaySession.objects.get()
    assert not session.active and session.closed_at == at(T0 + 90) and session.bytes == 7000
    assert session.close_reason == "streamer"


def test_out_of_order_delivery_converges(client, world):
    newest = event(world, "play_updated", updated_at=T0 + 120, bytes=9000, ip="203.0.113.20", user_agent="Kodi/20")
    older = event(world, "play_updated", updated_at=T0 + 60, bytes=4000, ip="198.51.100.7", user_agent="VLC/3.0.16")
    opened = event(world, "play_opened", updated_at=T0)
    post(client, [newest])
    post(client, [older, opened])
    session = PlaySession.objects.get()
    assert session.opened_at == at(T0) and session.updated_at == at(T0 + 120)
    assert session.bytes == 9000  # never lowered
    assert (session.ip, session.user_agent) == ("203.0.113.20", "Kodi/20")  # from the newest event


def test_a_late_update_never_reopens_a_closed_session(client, world):
    post(client, [event(world, "play_opened", updated_at=T0),
                  event(world, "play_closed", updated_at=T0 + 300, closed_at=T0 + 300, bytes=8000)])
    post(client, [event(world, "play_updated", updated_at=T0 + 200, bytes=6000)])
    session = PlaySession.objects.get()
    assert not session.active and session.closed_at == at(T0 + 300) and session.bytes == 8000


def test_a_late_close_after_the_stale_cleanup_sets_the_real_close_time(client, world, time_machine):
    time_machine.move_to(at(T0 + 10), tick=False)
    post(client, [event(world, "play_opened", updated_at=T0 + 10)])
    time_machine.move_to(at(T0 + 10 + 601), tick=False)
    assert sessions.close_stale_sessions() == 1
    stale = PlaySession.objects.get()
    assert not stale.active and stale.closed_at == at(T0 + 10) and stale.close_reason == "stale"
    post(client, [event(world, "play_closed", updated_at=T0 + 45, closed_at=T0 + 45, bytes=100)])
    closed = PlaySession.objects.get()
    assert not closed.active and closed.closed_at == at(T0 + 45) and closed.close_reason == "streamer"


def test_events_for_a_session_opened_by_the_auth_check_update_the_same_row(client, world):
    session_id = str(uuid.uuid4())
    check(client, world["alice"].playback_token, "news", session_id=session_id)
    post(client, [event(world, "play_closed", session_id, closed_at=T0 + 10 ** 6, updated_at=T0 + 10 ** 6)])
    assert PlaySession.objects.count() == 1
    assert not PlaySession.objects.get().active


def test_unknown_tokens_and_streams_are_ignored_and_counted(client, world):
    other = make_subscriber(world["portal"], "Bob", [make_package(world["portal"], "other", [world["sport"]])])
    response = post(client, [event(world, token="no-such-token"), event(world, "play_opened", "s-2", media="nosuch"),
                             event(world, "play_opened", "s-3", token=""), event(world, "play_opened", "s-4",
                                                                                token=other.playback_token,
                                                                                media="sport")])
    assert response.status_code == 204
    assert list(PlaySession.objects.values_list("streamer_session_id", flat=True)) == ["s-4"]
    counts = metrics.counters()
    assert counts["events_unknown_token"] == 2 and counts["events_unknown_stream"] == 1
    assert counts["events_applied"] == 1


def test_a_token_of_one_portal_never_records_a_channel_of_another(client, world):
    from tests.factories import make_portal

    other = make_portal("events-b")
    make_channel(other, "movies")
    assert post(client, [event(world, media="movies")]).status_code == 204
    assert not PlaySession.objects.exists()
    assert metrics.counters()["events_unknown_stream"] == 1


@pytest.mark.parametrize("raw", [b"not json", b"{\"event\": ", b"\xff\xfe\x00garbage", b"42", b"\"text\"", b"null"])
def test_a_body_that_is_not_json_events_is_400_and_nothing_is_stored(client, world, raw):
    response = post(client, None, raw=raw)
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "bad_json"
    assert not PlaySession.objects.exists()


@pytest.mark.parametrize(
    "bad",
    [{"bytes": -5}, {"bytes": "5"}, {"bytes": True}, {"opened_at": "2024-01-01T00:00:00Z"}, {"updated_at": "1700000000"},
     {"closed_at": -1}, {"id": None}, {"id": 42}, {"duration": -3}],
)
def test_a_bad_event_is_skipped_and_counted_and_the_rest_applied(client, world, bad):
    response = post(client, [event(world, "play_opened", "good-1"), event(world, "play_opened", "bad", **bad),
                             event(world, "play_opened", "good-2")])
    assert response.status_code == 204
    assert set(PlaySession.objects.values_list("streamer_session_id", flat=True)) == {"good-1", "good-2"}
    assert metrics.counters()["events_invalid"] == 1


def test_other_event_types_and_non_objects_are_skipped(client, world):
    post(client, [{"event": "stream_opened", "media": "news"}, "text", 7, event(world)])
    assert PlaySession.objects.count() == 1
    counts = metrics.counters()
    assert counts["events_unsupported"] == 1 and counts["events_invalid"] == 2


@pytest.mark.parametrize("key", ["", "wrong"])
def test_events_need_the_key(client, world, key):
    response = post(client, [event(world)], key=key)
    assert response.status_code == 403 and response.json()["errors"][0]["code"] == "bad_key"
    assert not PlaySession.objects.exists()


def test_device_id_comes_from_the_query_string(client, world):
    post(client, [event(world, query_string="token=abc&device_id=device_android_s21")])
    assert PlaySession.objects.get().device_id == "device_android_s21"


class TestProgram:
    @pytest.fixture
    def guide(self, world):
        from content.models import EpgSource, Program

        source = EpgSource.objects.create(portal=world["portal"], name="guide", url="https://epg.example.com/g.xml")
        world["news"].epg_source, world["news"].epg_channel_name = source, "news.nl"
        world["news"].save()
        content.update_channel(world["news"], caller=caller(world["portal"]), data={"archiveDays": 7})  # dvr plays

        def make(start, end, title, channel="news.nl"):
            return Program.objects.create(portal=world["portal"], epg_source=source, epg_channel_name=channel,
                                          start=at(start), end=at(end), title=title,
                                          content_hash=hash((start, title)) & 0x7FFFFFFF)

        return {"before": make(T0 - 3600, T0 - 60, "Morning"), "on_air": make(T0 - 60, T0 + 3600, "Evening news"),
                "elsewhere": make(T0 - 60, T0 + 3600, "Other channel", "other.nl")}

    def test_a_live_session_has_no_program_even_with_one_on_air(self, client, world, guide):
        """The manual: programId "if watching from archive; null for live" (the screens compute what was on air)."""
        post(client, [event(world, opened_at=T0, dvr=False, query_string=f"from={T0 - 1800}")])
        assert PlaySession.objects.get().program_id is None

    @pytest.mark.parametrize("fields", [
        {"query_string": f"token=abc&from={T0 - 1800}"},
        {"qs": f"utc={T0 - 1800}&lutc={T0}"},
        {"url": f"/news/index-{T0 - 1800}-3600.m3u8?token=abc"},
        {"url": f"http://streamer.example.com/news/archive-{T0 - 1800}-600.m3u8"},
    ], ids=["from", "utc", "index-url", "archive-url"])
    def test_an_archive_session_gets_the_program_at_its_archive_position(self, client, world, guide, fields):
        post(client, [event(world, opened_at=T0, dvr=True, **fields)])
        assert PlaySession.objects.get().program_id == guide["before"].id

    def test_each_archive_session_of_a_batch_gets_the_program_at_its_own_position(self, client, world, guide):
        post(client, [event(world, session_id="morning", dvr=True, query_string=f"from={T0 - 1800}"),
                      event(world, session_id="evening", dvr=True, query_string=f"from={T0 + 60}"),
                      event(world, session_id="late", dvr=True, query_string=f"from={T0 + 7200}"),
                      event(world, session_id="live", query_string=f"from={T0 + 60}")])
        programs = dict(PlaySession.objects.values_list("streamer_session_id", "program_id"))
        assert programs == {"morning": guide["before"].id, "evening": guide["on_air"].id, "late": None, "live": None}

    @pytest.mark.parametrize("query_string", [None, "token=abc", "from=soon", "from=99999999999999",
                                              "from=-5", "url=/news/index-x-3600.m3u8"])
    def test_an_archive_session_without_a_readable_position_has_no_program(self, client, world, guide,
                                                                            query_string):
        post(client, [event(world, opened_at=T0, dvr=True, query_string=query_string)])
        session = PlaySession.objects.get()
        assert session.dvr and session.program_id is None

    def test_a_later_event_naming_the_position_fills_the_program_once(self, client, world, guide):
        post(client, [event(world, opened_at=T0, dvr=True)])
        assert PlaySession.objects.get().program_id is None
        post(client, [event(world, "play_updated", updated_at=T0 + 30, dvr=True, query_string=f"from={T0 - 1800}")])
        assert PlaySession.objects.get().program_id == guide["before"].id
        post(client, [event(world, "play_updated", updated_at=T0 + 60, dvr=True, query_string=f"from={T0 + 60}")])
        assert PlaySession.objects.get().program_id == guide["before"].id  # the first position named stays

    def test_the_auth_check_gives_a_live_session_no_program(self, client, world, guide, time_machine):
        time_machine.move_to(at(T0 + 5), tick=False)
        check(client, world["alice"].playback_token, "news")
        assert PlaySession.objects.get().program_id is None

    @pytest.mark.parametrize("extra", [{"qs": f"token=abc&from={T0 - 1800}"}, {"qs": f"utc={T0 - 1800}"},
                                       {"url": f"/news/index-{T0 - 1800}-3600.m3u8"}])
    def test_the_auth_check_gives_an_archive_session_the_program_at_its_position(self, client, world, guide,
                                                                                  time_machine, extra):
        time_machine.move_to(at(T0 + 5), tick=False)
        check(client, world["alice"].playback_token, "news", dvr="true", **extra)
        sessions.write_opened_sessions()  # buffered when the cache is Redis
        assert PlaySession.objects.get().program_id == guide["before"].id

    def test_a_buffered_archive_start_gets_its_program_when_written(self, client, world, guide, on_redis,
                                                                    time_machine, django_assert_num_queries):
        time_machine.move_to(at(T0 + 5), tick=False)
        token = world["alice"].playback_token
        check(client, token, "sport")  # warms the facts
        with django_assert_num_queries(0):  # the warm start stays off the database, archive or not
            assert check(client, token, "news", session_id="dvr-1", dvr="true",
                         qs=f"from={T0 - 1800}").status_code == 200
        assert sessions.write_opened_sessions() == 1
        assert PlaySession.objects.get().program_id == guide["before"].id


class TestBufferedOnRedis:
    """With Redis, a batch is acknowledged once buffered; a worker applies the buffer in bulk."""

    def test_a_batch_is_acknowledged_buffered_and_applied_by_the_drain(self, client, world, on_redis, settings,
                                                                        django_assert_num_queries):
        from catena_site.celery import app
        from monitoring.streaming import events
        from portals import streaming_servers

        app.conf.task_always_eager = False  # no drain now: the batch must wait in the buffer
        streaming_servers.all_servers()  # read once per process (then kept in the shared cache)
        with mock.patch("monitoring.streaming.events.enqueue") as started:
            with django_assert_num_queries(0):
                response = post(client, [event(world, "play_opened", "b-1"), event(world, bytes=-5),
                                         event(world, "play_updated", "b-1", updated_at=T0 + 60, bytes=10)])
        assert response.status_code == 204 and started.call_count == 1  # the buffer was empty: a drain starts
        assert not PlaySession.objects.exists() and metrics.counters()["events_invalid"] == 1
        with mock.patch("monitoring.streaming.events.enqueue") as started:
            post(client, [event(world, "play_closed", "b-1", closed_at=T0 + 90)])
            post(client, [event(world, "play_updated", "b-1", updated_at=T0 + 70, bytes=5)])  # late
        assert started.call_count == 0  # a drain is already due
        assert events.apply_buffered_events() == 4
        session = PlaySession.objects.get()
        assert not session.active and session.closed_at == at(T0 + 90) and session.bytes == 10
        assert events.apply_buffered_events() == 0

    def test_with_eager_tasks_the_batch_is_visible_at_once(self, client, world, on_redis):
        post(client, [event(world, "play_opened", "b-2")])
        assert PlaySession.objects.filter(streamer_session_id="b-2").exists()

    def test_unknown_tokens_are_counted_when_applied(self, client, world, on_redis):
        post(client, [event(world, token="nobody")])
        assert metrics.counters()["events_unknown_token"] == 1
