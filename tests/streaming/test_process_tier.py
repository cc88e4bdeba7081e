"""The process tier of the decision cache (``subscribers.playback_cache``): on Redis each web process keeps the
facts it read, validated on every check by one value (the generation key) that every invalidation changes.

Each test warms the tier (a cold check fills the shared entry, the next fills the process's entry, the one after
is answered from it), makes a change through its service function (committed, so the after-commit invalidation
runs), and checks again: the very next check sees the change. Run on the file-based cache (no process tier: the
same answers) and, when REDIS_URL answers, on Redis.
"""

from __future__ import annotations

import os

import pytest

from catena_site import access_events
from catena_site.shared_store import store
from content import services as content
from portals import services as portals
from subscribers import devices, playback_cache
from subscribers import services as subscribers

from .conftest import caller, check, reason

DEVICE = "aa:bb:cc:dd:ee:01"


def warm(client, token: str, name: str = "news", **params) -> None:
    for _ in range(3):
        check(client, token, name, **params)


def who(world):
    return caller(world["portal"])


def unsubscribe(world):
    subscribers.unsubscribe(world["alice"], world["basic"], caller=who(world))


def disable(world):
    subscribers.set_disabled(world["alice"], True, caller=who(world))


def remove_channel(world):
    content.remove_channel_from_package(world["basic"], world["news"], caller=who(world))


def session_limit(world):
    portals.update_portal(world["portal"], caller=who(world), data={"settings": {"maxSessionsPerSubscriber": 10}})


def registration_off(world):
    portals.update_portal(world["portal"], caller=who(world), data={"settings": {"allowDeviceRegistration": False}})


# change → (what the next check of ``news`` answers: a refusal's code, or 200 with the X-Max-Sessions header)
CHANGES = {
    "unsubscribe": (unsubscribe, "not_in_packages"),
    "disable": (disable, "subscriber_disabled"),
    "channel removed from the package": (remove_channel, "not_in_packages"),
    "portal session limit": (session_limit, "X-Max-Sessions: 10"),
}


def answer(response) -> str:
    if response.status_code == 200:
        return f"X-Max-Sessions: {response['X-Max-Sessions']}" if response.has_header("X-Max-Sessions") else "ok"
    return reason(response)


@pytest.mark.parametrize("change", CHANGES)
def test_the_next_check_after_a_change_sees_it(client, world, cache_backend, committed, change):
    token = world["alice"].playback_token
    warm(client, token)
    assert answer(check(client, token, "news")) == "ok"
    committed(CHANGES[change][0], world)
    assert answer(check(client, token, "news")) == CHANGES[change][1]


def test_a_warm_check_is_answered_by_the_process_tier_until_a_change(client, world, on_redis, committed,
                                                                     django_assert_num_queries):
    """Without its shared entry, a warm check is still answered, with no query: the process's own entry did it.
    A change elsewhere (any invalidation) drops it: the next check reads the database again and sees the change."""
    token = world["alice"].playback_token
    check(client, token, "news", session_id="s1")
    warm(client, token, session_id="s1", request_type="update_session")
    store().delete_many([playback_cache.entry_key(token)])
    with django_assert_num_queries(0):
        assert check(client, token, "news", session_id="s1", request_type="update_session").status_code == 200
    committed(disable, world)
    assert reason(check(client, token, "news")) == "subscriber_disabled"


def test_an_invalidation_by_another_process_reaches_this_process_tier(client, world, on_redis, settings):
    """Another process (its own store and connection) deletes a stamp: this process's entry is no longer used."""
    from catena_site.shared_store import RedisStore

    token = world["alice"].playback_token
    warm(client, token)
    subscribers.set_disabled(world["alice"], True, caller=who(world))  # not committed: no invalidation yet
    assert check(client, token, "news").status_code == 200  # the cached facts, as before the commit
    location = settings.CACHES["default"]["LOCATION"]
    other = RedisStore(access_events.cache(), location)
    other.invalidate([access_events.token_stamp_key(token)], access_events.generation_key())
    assert reason(check(client, token, "news")) == "subscriber_disabled"


def test_an_unknown_token_becomes_known_at_once(client, world, cache_backend, committed):
    """Unknown tokens are kept in the tier too; a subscriber created (or a token reset) to that value plays."""
    old = world["alice"].playback_token
    fresh = committed(subscribers.reset_playback_token, world["alice"], caller=who(world)).playback_token
    warm(client, fresh + "x")  # an unknown token, warmed
    assert reason(check(client, old, "news")) == "unknown_token"
    assert check(client, fresh, "news").status_code == 200
    warm(client, old)
    assert reason(check(client, old, "news")) == "unknown_token"


def test_a_removed_device_is_unknown_at_once(client, world, cache_backend, committed):
    token = world["alice"].playback_token
    committed(registration_off, world)
    device = committed(devices.add_device, world["portal"], caller=who(world),
                       data={"subscriberId": world["alice"].public_id, "kind": "player", "uid": DEVICE})
    warm(client, token, device_id=DEVICE)
    assert check(client, token, "news", device_id=DEVICE).status_code == 200
    committed(devices.remove_device, device, caller=who(world))
    assert reason(check(client, token, "news", device_id=DEVICE)) == "unknown_device"


def test_a_change_of_another_subscriber_costs_no_query(client, world, cache_backend, committed,
                                                       django_assert_num_queries):
    """Any change drops every process entry; the next check reads the shared tier (still valid for this token) in
    the same round trip, with no query, and fills the process tier again."""
    from .conftest import make_subscriber

    bob = make_subscriber(world["portal"], "Bob", [world["basic"]])
    token = world["alice"].playback_token
    check(client, token, "news", session_id="s1")
    warm(client, token, session_id="s1", request_type="update_session")
    committed(subscribers.set_disabled, bob, True, caller=who(world))
    for _ in range(2):
        with django_assert_num_queries(0):
            assert check(client, token, "news", session_id="s1", request_type="update_session").status_code == 200


# --- The push watch: a warm check that waits for no answer from Redis ------------------------------------------


@pytest.fixture
def watched(on_redis, settings):
    """Redis with the push watch of the generation key on, wherever Redis runs."""
    settings.STREAMER_PUSH_INVALIDATION = "on"


def update(client, token: str, session_id: str = "s1", **params):
    return check(client, token, "news", session_id=session_id, request_type="update_session", **params)


def test_with_the_watch_a_change_by_another_process_is_seen_by_the_next_check(client, world, watched, settings):
    """The warm check answers from this process's entry without waiting for Redis; another process's invalidation
    reaches the watch before the next check, which then refuses."""
    from catena_site.shared_store import RedisStore

    token = world["alice"].playback_token
    check(client, token, "news", session_id="s1")
    for _ in range(3):
        assert update(client, token).status_code == 200
    assert store().watch.connection is not None
    subscribers.set_disabled(world["alice"], True, caller=who(world))  # not committed: no invalidation yet
    assert update(client, token).status_code == 200
    other = RedisStore(access_events.cache(), settings.CACHES["default"]["LOCATION"])
    other.invalidate([access_events.token_stamp_key(token)], access_events.generation_key())
    assert reason(update(client, token)) == "subscriber_disabled"


def test_with_the_watch_a_warm_update_still_refreshes_the_heartbeat(client, world, watched):
    from monitoring import sessions

    token = world["alice"].playback_token
    check(client, token, "news", session_id="s1")
    for number in range(1, 4):
        assert update(client, token, bytes=number * 1000, duration=number).status_code == 200
    update(client, token, bytes=9000, duration=9)
    check(client, token, "news")  # any later script reads the answers still on their way
    _, cached_bytes, duration = sessions.cached_heartbeats(["s1"])["s1"]
    assert (cached_bytes, duration) == (9000, 9)


def test_with_the_watch_a_session_without_heartbeat_is_recorded_again(client, world, watched):
    """A warm update of a session whose cached heartbeat is gone (closed and forgotten meanwhile): after the answer,
    the session is written as the waiting check writes it."""
    from monitoring import sessions
    from monitoring.models import PlaySession

    token = world["alice"].playback_token
    check(client, token, "news", session_id="s1")
    for _ in range(3):
        update(client, token)
    sessions.write_opened_sessions()
    PlaySession.objects.filter(streamer_session_id="s1").delete()
    sessions.forget(["s1"])
    assert update(client, token, bytes=5000).status_code == 200
    check(client, token, "news")  # any later script reads the answers still on their way
    assert PlaySession.objects.get(streamer_session_id="s1").bytes == 5000
    assert sessions.cached_heartbeats(["s1"])["s1"][1] == 5000


@pytest.fixture
def never_waiting(monkeypatch):
    """A session start buffered by waiting for Redis (the path without the watch) fails the test."""
    from catena_site.shared_store import RedisStore

    monkeypatch.setattr(RedisStore, "push_and_set_text",
                        lambda *args: pytest.fail("the session start waited for Redis"))


def test_with_the_watch_a_new_session_is_buffered_after_the_answer(client, world, watched, never_waiting):
    """A warm new_session sends its start and first heartbeat without waiting: both are there once the answer is
    read (at the next request at the latest), and the drain writes the session."""
    from monitoring import sessions
    from monitoring.models import PlaySession

    token = world["alice"].playback_token
    warm(client, token)
    assert check(client, token, "news", session_id="s9", bytes=100).status_code == 200
    check(client, token, "news")  # the next request reads the answers still on their way
    assert sessions.cached_heartbeats(["s9"])["s9"][1] == 100
    assert not PlaySession.objects.filter(streamer_session_id="s9").exists()  # buffered
    sessions.write_opened_sessions()
    assert PlaySession.objects.get(streamer_session_id="s9").channel_id == world["news"].id


def test_with_the_watch_a_session_start_redis_lost_its_script_for_is_sent_again(client, world, watched,
                                                                                  never_waiting):
    """Redis restarted without the script (NOSCRIPT answered after the response went out): the start is sent
    again, waiting, and is not lost."""
    import redis

    from monitoring import sessions
    from monitoring.models import PlaySession

    token = world["alice"].playback_token
    warm(client, token)
    redis.Redis.from_url(os.environ["REDIS_URL"]).script_flush()
    assert check(client, token, "news", session_id="s9").status_code == 200
    check(client, token, "news")
    assert "s9" in sessions.cached_heartbeats(["s9"])
    sessions.write_opened_sessions()
    assert PlaySession.objects.filter(streamer_session_id="s9").exists()


def test_with_the_watch_a_session_start_redis_refuses_is_written_to_the_database(client, world, watched,
                                                                                   never_waiting, caplog):
    """The buffer refuses the start after the answer went out (here: its key holds no list) and again when sent
    once more: the session is written to the database directly, as when Redis refuses it before the answer."""
    from monitoring import sessions
    from monitoring.models import PlaySession

    token = world["alice"].playback_token
    warm(client, token)
    store().set_text(sessions.OPENING, "not a list", None)
    assert check(client, token, "news", session_id="s9").status_code == 200
    check(client, token, "news")
    assert "could not buffer a session start after the answer" in caplog.text
    assert PlaySession.objects.get(streamer_session_id="s9").active


def test_a_dropped_watch_leaves_no_change_unseen(client, world, watched, committed):
    """Redis closes the watch's connection (a restart, a kill): the next check asks Redis, and sees a change made
    while nobody watched."""
    import redis

    token = world["alice"].playback_token
    check(client, token, "news", session_id="s1")
    for _ in range(3):
        update(client, token)
    watch = store().watch
    redis.Redis.from_url(os.environ["REDIS_URL"]).client_kill_filter(_id=watch.client_id)
    committed(disable, world)
    assert reason(update(client, token)) == "subscriber_disabled"


class _Relay:
    """A TCP relay on this host in front of Redis (what docker-proxy, stunnel or an ssh tunnel are): each side's
    bytes copied on their own, so Redis's order between two connections no longer reaches the clients."""

    def __init__(self, target: tuple[str, int]):
        import socket
        import threading

        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.target = target
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import socket
        import threading

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._copy, args=(source, sink), daemon=True).start()

    @staticmethod
    def _copy(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            sink.close()

    def close(self):
        self.listener.close()


def test_the_local_mode_does_not_watch_through_a_proxy(client, world, on_redis, settings, committed):
    """Redis reached on a loopback address through a relay: it sees the relay's address, not this socket's, so the
    watch is refused (its push could arrive after the invalidating client's answer) and checks ask Redis."""
    from urllib.parse import urlparse

    location = urlparse(settings.CACHES["default"]["LOCATION"])
    relay = _Relay((location.hostname, location.port or 6379))
    try:
        relayed = location._replace(netloc=f"127.0.0.1:{relay.port}").geturl()
        settings.CACHES = {**settings.CACHES, "default": {**settings.CACHES["default"], "LOCATION": relayed}}
        settings.STREAMER_PUSH_INVALIDATION = "local"
        token = world["alice"].playback_token
        check(client, token, "news", session_id="s1")
        assert update(client, token).status_code == 200
        watch = store().watch
        assert watch is not None and watch.connection is None and watch.failures == 1
        committed(disable, world)
        assert reason(update(client, token)) == "subscriber_disabled"
    finally:
        relay.close()


def test_a_deferred_answer_writes_the_session_with_facts_that_still_hold(world):
    """A deferred heartbeat that was not refreshed: the session is written with the held facts while the generation
    held (3), with the facts the script read now when another change moved the generation but this token's entry
    holds (1) — unless those now refuse the stream — and with nothing when the entry was stale (0)."""
    from subscribers.playback_cache import _settle_heartbeat

    written = []

    def settle(answer, dvr=False):
        _settle_heartbeat(None, ((), ()), answer, "held", lambda verdict, beat: written.append((verdict, beat)), dvr)

    settle([0, False, False, None])
    settle([2, b"7|1|0||", b"5", None])
    settle([4])
    assert written == []
    settle([3, None])
    assert written == [("held", None)]
    written.clear()
    settle([1, b"7|1|0|2|", b"5", b"7|5|1700000000.0|4000|20", None, None, 0, None, None, None, b"g", None])
    (verdict, beat), = written
    assert (verdict.subscriber_id, verdict.channel_id, verdict.max_sessions, beat.bytes) == (7, 5, 2, 4000)
    written.clear()
    settle([1, b"7|1|1||", b"5", None, None, None, 0, None, None, None, b"g", None])  # disabled meanwhile
    settle([1, b"7|1|0||", b"5", None, None, None, 1, None, None, None, b"g", None])  # outside its locations now
    settle([1, b"7|1|0||", b"5", None, None, None, 0, None, None, None, b"g", None], dvr=True)  # no archive
    assert written == []


def test_the_push_watch_is_off_over_tls_and_its_setting_is_checked(settings):
    import subprocess
    import sys

    from catena_site.shared_store import push_invalidation

    settings.STREAMER_PUSH_INVALIDATION = "on"
    assert not push_invalidation("rediss://127.0.0.1:6380/0")
    assert push_invalidation("redis://10.1.2.3:6379/0")
    settings.STREAMER_PUSH_INVALIDATION = "local"
    assert push_invalidation("redis://127.0.0.1:6379/0") and push_invalidation("unix:///run/redis.sock")
    assert not push_invalidation("redis://10.1.2.3:6379/0")
    done = subprocess.run([sys.executable, "-c", "import catena_site.settings"], capture_output=True, text=True,
                          env={**os.environ, "STREAMER_PUSH_INVALIDATION": "true"})
    last_line = done.stderr.strip().splitlines()[-1]
    assert done.returncode != 0
    assert last_line == "django.core.exceptions.ImproperlyConfigured: STREAMER_PUSH_INVALIDATION must be local, on or off, not 'true'"
