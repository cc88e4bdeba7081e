"""The auth backend (streaming.md §1): key, each decision reason, headers, sessions, limits, 503, isolation."""

from __future__ import annotations

import uuid
from unittest import mock

import pytest
from django.db import OperationalError

from catena_site.ids import encode_id
from monitoring.models import PlaySession
from portals import services as portals
from tests.factories import make_portal, make_streaming_server

from .conftest import (
    AUTH,
    KEY,
    auth_params,
    caller,
    check,
    make_channel,
    make_package,
    make_subscriber,
    reason,
)

ERROR_KEYS = {"status", "code", "title"}


def test_an_allowed_check_answers_200_with_the_documented_headers(client, world):
    response = check(client, world["alice"].playback_token, "news")
    assert response.status_code == 200
    assert response.content == b""
    assert response["X-UserId"] == world["alice"].public_id
    assert response["X-AuthDuration"] == "120"
    assert "X-Max-Sessions" not in response


def test_the_auth_duration_and_session_limit_headers_follow_the_settings(client, world, settings, committed):
    settings.STREAMER_AUTH_DURATION = 45
    committed(portals.update_portal, world["portal"], caller=caller(world["portal"]),
              data={"settings": {"maxSessionsPerSubscriber": 3}})
    response = check(client, world["alice"].playback_token, "news")
    assert response.status_code == 200
    assert (response["X-AuthDuration"], response["X-Max-Sessions"]) == ("45", "3")


@pytest.mark.parametrize(
    ("setup", "name", "expected"),
    [
        ("unknown", "news", "unknown_token"),
        ("empty", "news", "unknown_token"),
        ("missing", "news", "unknown_token"),
        ("too-long", "news", "unknown_token"),
        ("disabled", "news", "subscriber_disabled"),
        ("alice", "nosuch", "unknown_stream"),
        ("alice", "", "unknown_stream"),
        ("alice", None, "unknown_stream"),
        ("alice", "../../etc", "unknown_stream"),
        ("alice", "sport", "not_in_packages"),
        ("alice", "kids", "not_in_packages"),
    ],
)
def test_each_refusal_is_403_with_its_reason(client, world, committed, setup, name, expected):
    from subscribers import services

    token = world["alice"].playback_token
    if setup == "disabled":
        committed(services.set_disabled, world["alice"], True, caller=caller(world["portal"]))
    params = auth_params(token, name)
    if setup == "unknown":
        params["token"] = "x" * 32
    elif setup == "empty":
        params["token"] = ""
    elif setup == "missing":
        del params["token"]
    elif setup == "too-long":
        params["token"] = "x" * 5000
    response = client.get(AUTH, params)
    assert response.status_code == 403
    body = response.json()
    assert set(body) == {"errors"} and len(body["errors"]) == 1
    assert set(body["errors"][0]) == ERROR_KEYS
    assert body["errors"][0]["status"] == "403" and body["errors"][0]["code"] == expected
    assert body["errors"][0]["title"]
    assert not PlaySession.objects.exists()


@pytest.mark.parametrize("key", [None, "", "wrong", KEY + "x", KEY[:-1]])
def test_a_missing_or_wrong_key_is_403_bad_key(client, world, key):
    params = auth_params(world["alice"].playback_token, "news", key=key)
    response = client.get(AUTH, params)
    assert response.status_code == 403 and reason(response) == "bad_key"
    assert "X-UserId" not in response
    assert not PlaySession.objects.exists()


def test_a_query_of_too_many_fields_is_400_and_plays_nothing(client, world):
    from urllib.parse import urlencode

    from monitoring.streaming.views import MAX_QUERY_FIELDS

    params = auth_params(world["alice"].playback_token, "news")
    padding = {f"x{i}": "1" for i in range(MAX_QUERY_FIELDS - len(params) + 1)}
    response = client.get(f"{AUTH}?{urlencode({**params, **padding})}")
    assert response.status_code == 400
    assert response.json()["errors"][0] == {"status": "400", "code": "bad_request",
                                            "title": "Too many query parameters."}
    assert not PlaySession.objects.exists()
    padding.popitem()  # exactly the limit: answered
    assert client.get(f"{AUTH}?{urlencode({**params, **padding})}").status_code == 200


def test_without_a_configured_key_everything_is_refused(client, world, settings):
    settings.STREAMER_KEY = ""
    response = client.get(AUTH, auth_params(world["alice"].playback_token, "news", key=""))
    assert response.status_code == 403 and reason(response) == "bad_key"
    assert not PlaySession.objects.exists()


def test_only_allowed_addresses_may_call_when_configured(client, world, settings):
    settings.STREAMER_ALLOWED_IPS = ["10.0.0.0/8", "192.0.2.7"]
    assert reason(check(client, world["alice"].playback_token, "news")) == "bad_key"  # test client is 127.0.0.1
    settings.STREAMER_ALLOWED_IPS = ["127.0.0.0/8"]
    assert check(client, world["alice"].playback_token, "news").status_code == 200


def test_auth_answers_only_get(client, world):
    assert client.post(AUTH + "?" + "&".join(f"{k}={v}" for k, v in auth_params("t", "news").items())).status_code == 405


def test_a_new_session_creates_the_play_session(client, world):
    session_id = str(uuid.uuid4())
    response = check(client, world["alice"].playback_token, "news", session_id=session_id, ip="198.51.100.4",
                     user_agent="VLC/3.0.16", proto="hls", qs="token=abc&device_id=tv-42")
    assert response.status_code == 200
    session = PlaySession.objects.get()
    assert session.streamer_session_id == session_id
    assert (session.subscriber_id, session.channel_id, session.channel_name) == (
        world["alice"].id, world["news"].id, "news")
    assert session.portal_id == world["portal"].id and session.active and session.closed_at is None
    assert (session.ip, session.user_agent, session.device_id, session.proto) == (
        "198.51.100.4", "VLC/3.0.16", "tv-42", "hls")
    assert session.token == world["alice"].playback_token and session.program_id is None


def test_the_same_new_session_twice_revives_rather_than_duplicates(client, world):
    session_id = str(uuid.uuid4())
    check(client, world["alice"].playback_token, "news", session_id=session_id)
    PlaySession.objects.update(active=False, close_reason="stale")
    assert check(client, world["alice"].playback_token, "news", session_id=session_id).status_code == 200
    session = PlaySession.objects.get()
    assert session.active and session.closed_at is None and session.close_reason == ""


def test_an_update_session_refreshes_the_session_through_the_cache(client, world, time_machine):
    from monitoring import sessions

    session_id = str(uuid.uuid4())
    time_machine.move_to("2026-01-10T10:00:00Z", tick=False)
    check(client, world["alice"].playback_token, "news", session_id=session_id)
    time_machine.move_to("2026-01-10T10:02:00Z", tick=False)
    response = check(client, world["alice"].playback_token, "news", session_id=session_id,
                     request_type="update_session", request_number=1, bytes=123456, duration=120)
    assert response.status_code == 200
    assert sessions.flush_heartbeats() == 1
    session = PlaySession.objects.get()
    assert session.updated_at.isoformat() == "2026-01-10T10:02:00+00:00"
    assert (session.bytes, session.duration) == (123456, 120)
    assert session.opened_at.isoformat() == "2026-01-10T10:00:00+00:00"


def test_playing_marks_the_subscriber_active_with_the_heartbeat_flush(client, world, time_machine):
    from monitoring import sessions
    from subscribers.models import Subscriber

    time_machine.move_to("2026-01-10T10:00:00Z", tick=False)
    check(client, world["alice"].playback_token, "news")
    assert Subscriber.objects.get(pk=world["alice"].pk).last_activity_at is None
    sessions.flush_heartbeats()
    assert Subscriber.objects.get(pk=world["alice"].pk).last_activity_at.isoformat() == "2026-01-10T10:00:00+00:00"
    time_machine.move_to("2026-01-10T10:02:00Z", tick=False)
    sessions.flush_heartbeats()  # touched less than five minutes ago: not rewritten
    assert Subscriber.objects.get(pk=world["alice"].pk).last_activity_at.isoformat() == "2026-01-10T10:00:00+00:00"


def test_an_update_for_a_session_never_seen_creates_it(client, world):
    session_id = str(uuid.uuid4())
    response = check(client, world["alice"].playback_token, "news", session_id=session_id,
                     request_type="update_session", request_number=3, bytes=10)
    assert response.status_code == 200
    assert PlaySession.objects.get().streamer_session_id == session_id


def test_an_update_never_reopens_a_session_the_streamer_closed(client, world):
    session_id = str(uuid.uuid4())
    check(client, world["alice"].playback_token, "news", session_id=session_id)
    PlaySession.objects.update(active=False, close_reason="streamer")
    from monitoring import sessions

    sessions.forget([session_id])
    assert check(client, world["alice"].playback_token, "news", session_id=session_id,
                 request_type="update_session").status_code == 200
    assert not PlaySession.objects.get().active


class TestWarmCacheAnswersWithoutTheDatabase:
    def test_update_session_and_every_refusal(self, client, world, cache_backend, django_assert_num_queries):
        from content import services as content

        token = world["alice"].playback_token
        session_id = str(uuid.uuid4())
        unknown = "u" * 32
        # news plays only from 192.0.2.0/24 (the checks' address) or Finland
        home = content.create_location(world["portal"], caller=caller(world["portal"]), data={
            "name": "home", "title": "Home", "countries": ["FI"], "networks": ["192.0.2.0/24"]})
        content.update_channel(world["news"], caller=caller(world["portal"]),
                               data={"locationRestrictions": [home.public_id]})
        # Cold: fills the cache (facts of the token, channel names, the session heartbeat).
        check(client, token, "news", session_id=session_id)
        for name in ("sport", "nosuch"):
            check(client, token, name)
        check(client, unknown, "news")
        check(client, "", "news")  # which portals of the server allow anonymous viewing (none): cached too
        with django_assert_num_queries(0):
            for number in range(1, 4):
                ok = check(client, token, "news", session_id=session_id, request_type="update_session",
                           request_number=number, bytes=number * 1000)
                assert ok.status_code == 200
            assert reason(check(client, token, "news", session_id=session_id, request_type="update_session",
                                ip="198.51.100.1")) == "location_restricted"
            assert check(client, token, "news", session_id=session_id, request_type="update_session",
                         ip="198.51.100.1", country="FI").status_code == 200
            assert reason(check(client, token, "sport", request_type="update_session")) == "not_in_packages"
            assert reason(check(client, token, "nosuch")) == "unknown_stream"
            assert reason(check(client, unknown, "news")) == "unknown_token"
            assert reason(check(client, "", "news")) == "unknown_token"

    def test_a_disabled_subscriber_is_refused_from_the_cache(self, client, world, committed, cache_backend,
                                                             django_assert_num_queries):
        from subscribers import services

        committed(services.set_disabled, world["alice"], True, caller=caller(world["portal"]))
        check(client, world["alice"].playback_token, "news")
        with django_assert_num_queries(0):
            assert reason(check(client, world["alice"].playback_token, "news")) == "subscriber_disabled"

    def test_a_cold_decision_reads_each_fact_with_one_query(self, client, world, django_assert_num_queries):
        # the streaming servers (kept in the shared cache after that), subscriber by token, portal settings and
        # server, the subscriptions' next start or end, granting packages, their channels, the devices and their
        # limits; then the name's channel.
        with django_assert_num_queries(8):
            assert reason(check(client, world["alice"].playback_token, "sport")) == "not_in_packages"

    def test_a_new_session_adds_only_its_own_writes(self, client, world):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        def statements():  # what the request sends, without the test's own savepoints
            return [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]

        check(client, world["alice"].playback_token, "sport")  # warms the facts
        # the upsert (after SET LOCAL synchronous_commit on PostgreSQL), the token-sharing look at an address new
        # in the window; no programme look-up: a live session has no programId
        with CaptureQueriesContext(connection) as queries:
            assert check(client, world["alice"].playback_token, "news").status_code == 200
        assert len(statements()) <= 3, statements()
        with CaptureQueriesContext(connection) as queries:  # the same address again: no sharing look
            assert check(client, world["alice"].playback_token, "news").status_code == 200
        assert len(statements()) <= 2, statements()


def test_an_unreachable_database_is_503_never_a_wrong_answer(client, world):
    with mock.patch("subscribers.access.subscriber_for_token", side_effect=OperationalError("connection refused")):
        response = check(client, world["alice"].playback_token, "news")
    assert response.status_code == 503
    assert response.json()["errors"][0]["status"] == "503"


def test_a_warm_update_still_answers_while_the_database_is_down(client, world):
    token, session_id = world["alice"].playback_token, str(uuid.uuid4())
    check(client, token, "news", session_id=session_id)
    with mock.patch("django.db.backends.utils.CursorWrapper.execute", side_effect=OperationalError("down")):
        ok = check(client, token, "news", session_id=session_id, request_type="update_session")
        new = check(client, token, "news")  # a new session needs the database
    assert ok.status_code == 200 and new.status_code == 503


class TestSessionLimit:
    @pytest.fixture
    def limited(self, world, committed):
        committed(portals.update_portal, world["portal"], caller=caller(world["portal"]),
                  data={"settings": {"maxSessionsPerSubscriber": 1}})
        return world

    def test_a_second_device_is_refused_and_the_same_session_is_not(self, client, limited):
        token = limited["alice"].playback_token
        first, second = str(uuid.uuid4()), str(uuid.uuid4())
        response = check(client, token, "news", session_id=first)
        assert response.status_code == 200 and response["X-Max-Sessions"] == "1"
        refused = check(client, token, "news", session_id=second, ip="203.0.113.9")
        assert refused.status_code == 403 and reason(refused) == "too_many_sessions"
        assert check(client, token, "news", session_id=first).status_code == 200  # same session ID again
        assert check(client, token, "news", session_id=first, request_type="update_session").status_code == 200
        assert PlaySession.objects.count() == 1

    def test_a_closed_or_stale_session_frees_its_place(self, client, limited, time_machine):
        token = limited["alice"].playback_token
        time_machine.move_to("2026-01-10T10:00:00Z", tick=False)
        first = str(uuid.uuid4())
        check(client, token, "news", session_id=first)
        PlaySession.objects.update(active=False, close_reason="streamer")
        assert check(client, token, "news", session_id=str(uuid.uuid4())).status_code == 200
        time_machine.move_to("2026-01-10T10:11:00Z", tick=False)  # the second one is silent for 11 minutes
        third = str(uuid.uuid4())
        assert check(client, token, "news", session_id=third).status_code == 200
        assert PlaySession.objects.count() == 3
        assert PlaySession.objects.get(streamer_session_id=third).active

    def test_an_update_of_a_running_session_is_never_refused_by_the_limit(self, client, limited):
        token = limited["alice"].playback_token
        first = str(uuid.uuid4())
        check(client, token, "news", session_id=first)
        assert check(client, token, "news", session_id=str(uuid.uuid4()), request_type="update_session",
                     request_number=5).status_code == 200
        assert PlaySession.objects.get(streamer_session_id=first).active  # the first one keeps playing too


class TestIsolation:
    # Portals sharing channel names are on different streaming servers (one server, one portal per name).
    def test_a_token_of_one_portal_never_plays_a_same_named_channel_of_another(self, client, world):
        other = make_portal("isolated-b", streaming_server=make_streaming_server("edge-b"))
        make_package(other, "basic", [make_channel(other, "sport")])
        own_news_b = make_channel(other, "news")
        free_b = make_package(other, "free", [own_news_b])
        from content import services as content

        content.add_free_package(free_b, caller=caller(other))
        token = world["alice"].playback_token
        assert reason(check(client, token, "sport")) == "not_in_packages"  # alice's portal has sport, not in basic
        make_channel(other, "movies")
        assert reason(check(client, token, "movies")) == "unknown_stream"
        response = check(client, token, "news")
        assert response.status_code == 200 and response["X-UserId"] == world["alice"].public_id
        assert PlaySession.objects.get().channel_id == world["news"].id

    def test_a_subscriber_of_the_other_portal_gets_its_own_channel(self, client, world):
        other = make_portal("isolated-c", streaming_server=make_streaming_server("edge-c"))
        news_c = make_channel(other, "news")
        bob = make_subscriber(other, "Bob", [make_package(other, "basic", [news_c])])
        response = check(client, bob.playback_token, "news", key="edge-c-key")
        assert response.status_code == 200 and response["X-UserId"] == encode_id(bob.id)
        assert PlaySession.objects.get().channel_id == news_c.id


class TestBufferedStartsOnRedis:
    """With Redis, a warm ``new_session`` touches no database either: the start is buffered and written in bulk."""

    def test_a_warm_new_session_is_buffered_then_written(self, client, world, on_redis, django_assert_num_queries,
                                                         time_machine, django_capture_on_commit_callbacks):
        from monitoring import sessions

        time_machine.move_to("2026-01-10T10:00:00Z", tick=False)
        token = world["alice"].playback_token
        from subscribers import devices

        with django_capture_on_commit_callbacks(execute=True):  # a device's first sight writes: seen before
            devices.see_device(world["alice"].id, "tv", "player")
        check(client, token, "sport")  # warms the facts, with the device
        with django_assert_num_queries(0):
            first = check(client, token, "news", session_id="buf-1", ip="198.51.100.1", qs="device_id=tv")
            again = check(client, token, "news", session_id="buf-1", request_type="update_session", bytes=99)
        assert first.status_code == again.status_code == 200
        assert not PlaySession.objects.exists()
        assert sessions.write_opened_sessions() == 1
        session = PlaySession.objects.get()
        assert (session.streamer_session_id, session.channel_id, session.ip, session.device_id, session.active) == (
            "buf-1", world["news"].id, "198.51.100.1", "tv", True)
        assert session.opened_at.isoformat() == "2026-01-10T10:00:00+00:00"
        assert sessions.write_opened_sessions() == 0
        sessions.flush_heartbeats()
        assert PlaySession.objects.get().bytes == 99

    def test_heartbeats_only_grow_and_follow_the_channel(self, client, world, on_redis):
        from monitoring import sessions

        token = world["alice"].playback_token
        check(client, token, "news", session_id="beat-1", bytes=100, duration=10)
        for sent in (500, 300):  # a smaller count never lowers what was seen
            check(client, token, "news", session_id="beat-1", request_type="update_session", bytes=sent, duration=5)
        assert sessions.cached_heartbeats(["beat-1"])["beat-1"][1:] == (500, 10)
        sessions.write_opened_sessions()
        sessions.flush_heartbeats()
        assert (PlaySession.objects.get().bytes, PlaySession.objects.get().duration) == (500, 10)

    def test_a_buffered_start_revives_only_what_we_closed_before_it(self, client, world, on_redis):
        from monitoring import sessions

        token = world["alice"].playback_token
        check(client, token, "news", session_id="buf-2")
        check(client, token, "news", session_id="buf-3")
        sessions.write_opened_sessions()
        PlaySession.objects.filter(streamer_session_id="buf-2").update(active=False, close_reason="stale")
        PlaySession.objects.filter(streamer_session_id="buf-3").update(active=False, close_reason="streamer")
        check(client, token, "news", session_id="buf-2")
        check(client, token, "news", session_id="buf-3")
        sessions.write_opened_sessions()
        assert PlaySession.objects.get(streamer_session_id="buf-2").active
        assert not PlaySession.objects.get(streamer_session_id="buf-3").active

    def test_a_portal_with_a_limit_counts_in_the_database_at_once(self, client, world, on_redis, committed):
        committed(portals.update_portal, world["portal"], caller=caller(world["portal"]),
                  data={"settings": {"maxSessionsPerSubscriber": 1}})
        token = world["alice"].playback_token
        assert check(client, token, "news", session_id="lim-1").status_code == 200
        assert PlaySession.objects.filter(streamer_session_id="lim-1").exists()
        assert reason(check(client, token, "news", session_id="lim-2")) == "too_many_sessions"

    def test_an_access_change_judges_buffered_starts_too(self, client, world, on_redis, committed):
        from subscribers import services

        check(client, world["alice"].playback_token, "news", session_id="buf-4")
        committed(services.unsubscribe, world["alice"], world["basic"], caller=caller(world["portal"]))
        session = PlaySession.objects.get(streamer_session_id="buf-4")
        assert not session.active and session.close_reason == "access"


def test_the_allow_list_never_reads_a_forwarded_for_the_caller_wrote(client, world, settings):
    """M3: ``X-Forwarded-For: <allowed>, <attacker>`` from an untrusted peer, or through a proxy, is refused."""
    settings.STREAMER_ALLOWED_IPS = ["192.0.2.7"]
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    token = world["alice"].playback_token
    params = auth_params(token, "news")
    assert reason(client.get(AUTH, params, REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR="192.0.2.7")) == "bad_key"
    assert reason(client.get(AUTH, params, REMOTE_ADDR="10.0.0.2",
                             HTTP_X_FORWARDED_FOR="192.0.2.7, 203.0.113.5")) == "bad_key"
    through_proxy = client.get(AUTH, params, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.5, 192.0.2.7")
    assert through_proxy.status_code == 200
