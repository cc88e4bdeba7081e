"""Closing sessions (streaming.md §3) and leak detection (§4): stale cleanup, access changes, the streamer's API."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from content import services as content
from monitoring import selectors, tasks
from monitoring.models import PlaySession, TokenSharingSuspicion
from monitoring.operations import Operation
from subscribers import services as subscribers
from subscribers.selectors import suspicion_holds

from .conftest import caller, check, make_package, make_subscriber

START = dt.datetime(2026, 1, 10, 10, 0, tzinfo=dt.UTC)


def play(client, subscriber, name, *, ip="192.0.2.10", session_id=None):
    session_id = session_id or str(uuid.uuid4())
    response = check(client, subscriber.playback_token, name, session_id=session_id, ip=ip)
    assert response.status_code == 200, response.content
    return session_id


def is_suspected(subscriber) -> bool:
    """``suspectedSharing`` of a subscriber: a suspicion about its current token (the rule of suspicion_holds)."""
    return suspicion_holds(TokenSharingSuspicion.objects.filter(subscriber_id=subscriber.id).first(), subscriber)


def session(session_id) -> PlaySession:
    return PlaySession.objects.get(streamer_session_id=session_id)


class TestStaleCleanup:
    def test_a_silent_session_is_closed_at_its_last_sign_of_life(self, client, world, time_machine):
        time_machine.move_to(START, tick=False)
        silent = play(client, world["alice"], "news")
        time_machine.move_to(START + dt.timedelta(seconds=599), tick=False)
        assert tasks.close_stale_sessions() == 0
        time_machine.move_to(START + dt.timedelta(seconds=601), tick=False)
        assert tasks.close_stale_sessions() == 1
        closed = session(silent)
        assert not closed.active and closed.closed_at == START and closed.close_reason == "stale"

    def test_a_cached_heartbeat_keeps_a_session_alive_and_is_written(self, client, world, time_machine):
        time_machine.move_to(START, tick=False)
        alive = play(client, world["alice"], "news")
        time_machine.move_to(START + dt.timedelta(seconds=500), tick=False)
        check(client, world["alice"].playback_token, "news", session_id=alive, request_type="update_session",
              bytes=4242)
        time_machine.move_to(START + dt.timedelta(seconds=700), tick=False)
        assert tasks.close_stale_sessions() == 0
        refreshed = session(alive)
        assert refreshed.active and refreshed.updated_at == START + dt.timedelta(seconds=500)
        assert refreshed.bytes == 4242
        time_machine.move_to(START + dt.timedelta(seconds=1101), tick=False)
        assert tasks.close_stale_sessions() == 1
        assert session(alive).closed_at == START + dt.timedelta(seconds=500)

    def test_an_update_after_the_cleanup_revives_the_session(self, client, world, time_machine):
        time_machine.move_to(START, tick=False)
        revived = play(client, world["alice"], "news")
        time_machine.move_to(START + dt.timedelta(seconds=900), tick=False)
        assert tasks.close_stale_sessions() == 1
        assert not session(revived).active and session(revived).close_reason == "stale"
        response = check(client, world["alice"].playback_token, "news", session_id=revived,
                         request_type="update_session")
        assert response.status_code == 200
        again = session(revived)
        assert again.active and again.closed_at is None and again.close_reason == ""
        assert PlaySession.objects.count() == 1  # the same row, not a new one

    def test_the_flush_job_writes_heartbeats(self, client, world, time_machine):
        time_machine.move_to(START, tick=False)
        beating = play(client, world["alice"], "news")
        time_machine.move_to(START + dt.timedelta(seconds=30), tick=False)
        check(client, world["alice"].playback_token, "news", session_id=beating, request_type="update_session",
              bytes=10, duration=30)
        assert tasks.flush_session_heartbeats() == 1
        assert tasks.flush_session_heartbeats() == 0  # nothing new
        assert (session(beating).updated_at, session(beating).duration) == (START + dt.timedelta(seconds=30), 30)


class TestAccessChangesCloseSessions:
    def test_unsubscribing_closes_the_channels_no_longer_reachable(self, client, world, committed):
        alice = world["alice"]
        subscribers.subscribe(alice, world["premium"], caller=caller(world["portal"]))
        news, sport = play(client, alice, "news"), play(client, alice, "sport")
        committed(subscribers.unsubscribe, alice, world["basic"], caller=caller(world["portal"]))
        assert not session(news).active and session(news).close_reason == "access"
        assert session(sport).active

    @pytest.mark.parametrize("change", ["disable", "reset", "delete"])
    def test_subscriber_changes_close_all_its_sessions(self, client, world, committed, change):
        alice = world["alice"]
        bob = make_subscriber(world["portal"], "Bob", [world["basic"]])
        ours, theirs = play(client, alice, "news"), play(client, bob, "news")
        service = {"disable": lambda: subscribers.set_disabled(alice, True, caller=caller(world["portal"])),
                   "reset": lambda: subscribers.reset_playback_token(alice, caller=caller(world["portal"])),
                   "delete": lambda: subscribers.delete_subscriber(alice, caller=caller(world["portal"]))}[change]
        committed(service)
        assert not session(ours).active and session(ours).close_reason == "access"
        assert session(theirs).active
        assert PlaySession.objects.filter(streamer_session_id=ours).exists()  # history kept

    def test_removing_a_channel_closes_only_those_without_another_way_in(self, client, world, committed):
        extra = make_package(world["portal"], "extra", [world["news"]])
        bob = make_subscriber(world["portal"], "Bob", [world["basic"], extra])
        alices, bobs = play(client, world["alice"], "news"), play(client, bob, "news")
        committed(content.remove_channel_from_package, world["basic"], world["news"], caller=caller(world["portal"]))
        assert not session(alices).active and session(alices).close_reason == "access"
        assert session(bobs).active

    def test_deleting_a_channel_or_a_free_package_closes_its_sessions(self, client, world, committed):
        content.add_free_package(world["premium"], caller=caller(world["portal"]))
        sport, news = play(client, world["alice"], "sport"), play(client, world["alice"], "news")
        committed(content.remove_free_package, world["premium"], caller=caller(world["portal"]))
        assert not session(sport).active and session(sport).close_reason == "access"
        assert session(news).active  # news is still in alice's package
        committed(content.delete_channel, world["news"], caller=caller(world["portal"]))
        assert not session(news).active and session(news).close_reason == "access"


class FakeFlussonic:
    """A tiny HTTP server standing in for Flussonic's API; records every request."""

    def __init__(self, failures: int = 0, sessions_pages=None):
        self.calls: list[tuple[str, str, dict, str]] = []
        self.failures = failures
        self.sessions_pages = sessions_pages or [{"sessions": []}]
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _record(self):
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                fake.calls.append((self.command, url.path, query, self.headers.get("Authorization", "")))
                return url.path, query

            def do_POST(self):  # noqa: N802
                path, query = self._record()
                if fake.failures:
                    fake.failures -= 1
                    return self._answer(503, {"errors": [{"status": "503"}]})
                if path.endswith("/sessions/reauth"):
                    return self._answer(200, {"estimated_count": 1})
                return self._answer(404, {})

            def do_GET(self):  # noqa: N802
                path, query = self._record()
                page = int(query.get("cursor", "0"))
                return self._answer(200, fake.sessions_pages[page])

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/streamer/api/v3"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


class TestStreamerApi:
    def test_access_changes_ask_the_streamer_to_reauthorize_each_affected_stream(self, client, world, committed,
                                                                               settings):
        subscribers.subscribe(world["alice"], world["premium"], caller=caller(world["portal"]))
        play(client, world["alice"], "news")
        play(client, world["alice"], "sport")
        with FakeFlussonic() as flussonic:
            settings.STREAMER_API_URL, settings.STREAMER_API_USER, settings.STREAMER_API_PASSWORD = (
                flussonic.url, "admin", "secret")
            committed(subscribers.set_disabled, world["alice"], True, caller=caller(world["portal"]))
        assert sorted((c[0], c[1], c[2]["name"]) for c in flussonic.calls) == [
            ("POST", "/streamer/api/v3/sessions/reauth", "news"), ("POST", "/streamer/api/v3/sessions/reauth", "sport")]
        assert all(c[3] == "Basic YWRtaW46c2VjcmV0" for c in flussonic.calls)

    def test_a_failing_streamer_is_retried(self, client, world, committed, settings):
        play(client, world["alice"], "news")
        with FakeFlussonic(failures=2) as flussonic:
            settings.STREAMER_API_URL, settings.STREAMER_API_TOKEN = flussonic.url, "tok"
            committed(subscribers.unsubscribe, world["alice"], world["basic"], caller=caller(world["portal"]))
        assert [c[2]["name"] for c in flussonic.calls] == ["news", "news", "news"]
        assert flussonic.calls[0][3] == "Bearer tok"

    def test_without_a_streamer_api_nothing_is_called(self, client, world, committed):
        play(client, world["alice"], "news")
        with FakeFlussonic() as flussonic:
            committed(subscribers.unsubscribe, world["alice"], world["basic"], caller=caller(world["portal"]))
        assert flussonic.calls == []
        assert not PlaySession.objects.get().active  # still closed in our database

    def test_reconciliation_closes_what_the_streamer_no_longer_has(self, client, world, settings, time_machine):
        time_machine.move_to(START, tick=False)
        kept, gone = play(client, world["alice"], "news"), play(client, world["alice"], "news")
        pages = [{"sessions": [{"id": "other"}], "next": "1"}, {"sessions": [{"id": kept}], "next": None}]
        time_machine.move_to(START + dt.timedelta(minutes=5), tick=False)
        with FakeFlussonic(sessions_pages=pages) as flussonic:
            settings.STREAMER_API_URL = flussonic.url
            assert tasks.reconcile_streamer_sessions() == 1
        assert session(kept).active
        assert not session(gone).active and session(gone).close_reason == "reconciled"

    def test_reconciliation_leaves_fresh_sessions_alone(self, client, world, settings):
        fresh = play(client, world["alice"], "news")
        with FakeFlussonic() as flussonic:
            settings.STREAMER_API_URL = flussonic.url
            assert tasks.reconcile_streamer_sessions() == 0
        assert session(fresh).active


class TestTokenSharing:
    def test_more_addresses_than_allowed_mark_the_subscriber_once(self, client, world):
        alice = world["alice"]
        for n in range(3):
            play(client, alice, "news", ip=f"198.51.100.{n + 1}")
        assert not Operation.objects.filter(type="tokenSharingSuspected").exists()
        play(client, alice, "news", ip="203.0.113.50")
        play(client, alice, "news", ip="203.0.113.51")
        operations = Operation.objects.filter(type="tokenSharingSuspected")
        assert operations.count() == 1
        operation = operations.get()
        assert operation.subscriber_id == alice.id and operation.actor_type == "system"
        assert operation.payload["ips"] == ["198.51.100.1", "198.51.100.2", "198.51.100.3", "203.0.113.50"]
        assert is_suspected(alice)
        listed = selectors.suspected_sharing(world["portal"])
        assert [row["subscriber_id"] for row in listed] == [alice.id] and len(listed[0]["ips"]) == 5

    def test_the_same_address_many_times_is_not_sharing(self, client, world):
        for _ in range(6):
            play(client, world["alice"], "news", ip="198.51.100.1")
        assert not is_suspected(world["alice"])

    def test_addresses_outside_the_window_do_not_count(self, client, world, time_machine):
        time_machine.move_to(START, tick=False)
        for n in range(3):
            play(client, world["alice"], "news", ip=f"198.51.100.{n + 1}")
        PlaySession.objects.update(active=False, close_reason="streamer")
        time_machine.move_to(START + dt.timedelta(hours=2), tick=False)
        play(client, world["alice"], "news", ip="203.0.113.9")
        assert not is_suspected(world["alice"])

    def test_a_token_reset_ends_the_suspicion(self, client, world, committed):
        for n in range(4):
            play(client, world["alice"], "news", ip=f"198.51.100.{n + 1}")
        assert is_suspected(world["alice"])
        alice = committed(subscribers.reset_playback_token, world["alice"], caller=caller(world["portal"]))
        assert not is_suspected(alice)
        assert selectors.suspected_sharing(world["portal"]) == []

    def test_events_count_too(self, client, world):
        from .test_events import event, post

        post(client, [event(world, "play_opened", f"e-{n}", ip=f"198.51.100.{n}") for n in range(1, 5)])
        assert is_suspected(world["alice"])

    def test_sharing_never_blocks(self, client, world):
        for n in range(6):
            play(client, world["alice"], "news", ip=f"198.51.100.{n + 1}")  # each one answered 200
        assert is_suspected(world["alice"])
        assert PlaySession.objects.filter(active=True).count() == 6
