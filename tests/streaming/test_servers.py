"""Streaming servers (issue 11, H2): stream names are unique per server, and a server only hears about its portals.

One streaming server serves many portals, and it knows a channel only by its name: two portals on the same
server with a channel of the same name would be one stream to it. So a name is unique among the portals of a
server, the auth check takes the server from the key it received and only considers that server's portals,
and the streamer's API is called per server.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid

import pytest
from django.core.management import call_command

from content import services as content
from content.models import Channel
from monitoring import sessions, tasks
from monitoring.models import PlaySession
from monitoring.operations import Operation
from portals import services as portals
from portals import streaming_servers
from portals.models import DEFAULT_SERVER_NAME, Portal, StreamingServer
from subscribers import services as subscribers
from tests.conftest import API, api_client
from tests.factories import make_portal, make_streaming_server

from .conftest import AUTH, EVENTS, KEY, caller, check, make_channel, make_package, make_subscriber, reason
from .test_closing import FakeFlussonic

START = dt.datetime(2026, 1, 10, 10, 0, tzinfo=dt.UTC)
TAKEN = "A channel named {} already exists on this streaming server."


def free_package(portal, name, channels):
    package = make_package(portal, name, channels)
    content.add_free_package(package, caller=caller(portal))
    return package


class TestTheAttack:
    """Portal A names a channel like portal B's stream, makes it free, and has a new subscriber ask for it."""

    def test_a_channel_named_like_another_portals_stream_is_refused_and_never_plays_it(self, client, world):
        portal_b = world["portal"]  # B: "news" in package "basic", Alice subscribed
        portal_a = make_portal("portal-a")
        api = api_client(portal_a.api_key)
        response = api.post(f"{API}/channels", {"name": "news", "title": "Not really news"}, format="json")
        assert response.status_code == 409
        assert response.json()["message"] == TAKEN.format("news")
        assert response.json()["errors"] == {"name": [TAKEN.format("news")]}
        assert portal_b.name not in response.content.decode() and portal_b.public_id not in response.content.decode()
        assert not Channel.objects.filter(portal=portal_a).exists()
        assert not Operation.objects.filter(portal=portal_a, type="createChannel").exists()
        # What A can still do: a free package of its own channels, and a new subscriber.
        free_package(portal_a, "free", [make_channel(portal_a, "own-news")])
        mallory = make_subscriber(portal_a, "Mallory")
        assert check(client, mallory.playback_token, "own-news").status_code == 200
        refused = check(client, mallory.playback_token, "news")
        assert refused.status_code == 403 and reason(refused) == "unknown_stream"
        assert not PlaySession.objects.filter(portal_id=portal_a.id, channel_name="news").exists()
        # B's own subscriber still plays B's stream.
        assert check(client, world["alice"].playback_token, "news").status_code == 200


@pytest.fixture
def two_servers(world):
    """``world``'s portal on the default server (key ``KEY``) and portal ``far`` on server ``edge-2`` (its own key),
    both with a channel ``news`` in a package ``basic``, Alice and Bob subscribed in each."""
    edge = make_streaming_server("edge-2", key="edge-2-key")
    far = make_portal("far-portal", streaming_server=edge)
    far_news = make_channel(far, "news")
    bob = make_subscriber(far, "Bob", [make_package(far, "basic", [far_news])])
    return {**world, "edge": edge, "far": far, "far_news": far_news, "bob": bob}


class TestTheAuthCheckIsScopedToTheKeysServer:
    def test_each_server_plays_only_its_own_portals(self, client, two_servers, cache_backend):
        alice, bob = two_servers["alice"], two_servers["bob"]
        for _ in range(2):  # cold, then from the cache
            assert check(client, alice.playback_token, "news").status_code == 200
            assert check(client, bob.playback_token, "news", key="edge-2-key").status_code == 200
            assert reason(check(client, bob.playback_token, "news")) == "unknown_token"
            assert reason(check(client, alice.playback_token, "news", key="edge-2-key")) == "unknown_token"
        sessions.write_opened_sessions()  # the starts buffered on Redis
        rows = set(PlaySession.objects.values_list("portal_id", "channel_id"))
        assert rows == {(two_servers["portal"].id, two_servers["news"].id),
                        (two_servers["far"].id, two_servers["far_news"].id)}

    def test_a_key_no_server_has_is_bad_key(self, client, two_servers):
        assert reason(check(client, two_servers["bob"].playback_token, "news", key="edge-2-keyX")) == "bad_key"
        assert reason(check(client, two_servers["bob"].playback_token, "news", key="")) == "bad_key"

    def test_the_allow_list_is_the_servers_own(self, client, two_servers, settings):
        settings.STREAMER_ALLOWED_IPS = ["127.0.0.0/8"]  # the default server's (the test client is 127.0.0.1)
        edge = two_servers["edge"]
        edge.allowed_ips = "198.51.100.0/24\n2001:db8::/32"
        portals.save_streaming_server(edge)
        assert check(client, two_servers["alice"].playback_token, "news").status_code == 200
        refused = check(client, two_servers["bob"].playback_token, "news", key="edge-2-key")
        assert refused.status_code == 403 and reason(refused) == "bad_key"
        allowed = client.get(AUTH, {"key": "edge-2-key", "name": "news", "token": two_servers["bob"].playback_token,
                                    "session_id": str(uuid.uuid4()), "request_type": "new_session"},
                             REMOTE_ADDR="198.51.100.7")
        assert allowed.status_code == 200

    def test_a_warm_check_of_either_server_needs_no_query(self, client, two_servers, cache_backend,
                                                          django_assert_num_queries):
        alice, bob = two_servers["alice"].playback_token, two_servers["bob"].playback_token
        alice_session, bob_session = str(uuid.uuid4()), str(uuid.uuid4())
        check(client, alice, "news", session_id=alice_session)
        check(client, bob, "news", session_id=bob_session, key="edge-2-key")
        with django_assert_num_queries(0):
            assert check(client, alice, "news", session_id=alice_session, request_type="update_session").status_code == 200
            assert check(client, bob, "news", session_id=bob_session, request_type="update_session",
                         key="edge-2-key").status_code == 200
            assert reason(check(client, bob, "news", request_type="update_session")) == "unknown_token"

    def test_moving_a_portal_moves_its_tokens_at_once(self, client, committed, two_servers, cache_backend):
        bob, far = two_servers["bob"], two_servers["far"]
        third = make_streaming_server("edge-3")
        assert check(client, bob.playback_token, "news", key="edge-2-key").status_code == 200  # cached
        committed(portals.move_portal_to_server, far, third)
        assert reason(check(client, bob.playback_token, "news", key="edge-2-key")) == "unknown_token"
        assert check(client, bob.playback_token, "news", key="edge-3-key").status_code == 200
        operation = Operation.objects.filter(portal=far, type="updatePortal").latest("id")
        assert operation.payload == {"streamingServer": {"old": "edge-2", "new": "edge-3"}}

    def test_events_of_another_servers_portal_are_ignored(self, client, two_servers):
        alice, bob = two_servers["alice"], two_servers["bob"]

        def event(token, session_id):
            return {"event": "play_opened", "id": session_id, "media": "news", "token": token,
                    "opened_at": 1768039200}

        response = client.post(f"{EVENTS}?key=edge-2-key", json.dumps([event(alice.playback_token, "from-edge"),
                                                                      event(bob.playback_token, "bob-on-edge")]),
                               content_type="application/json")
        assert response.status_code == 204
        response = client.post(f"{EVENTS}?key={KEY}", json.dumps([event(bob.playback_token, "bob-on-default")]),
                               content_type="application/json")
        assert response.status_code == 204
        assert list(PlaySession.objects.values_list("streamer_session_id", "portal_id")) == [
            ("bob-on-edge", two_servers["far"].id)]


class TestNamesAreUniquePerServer:
    def test_another_portal_on_another_server_may_use_the_name(self, two_servers):
        assert two_servers["far_news"].name == two_servers["news"].name

    def test_the_service_refuses_a_name_of_another_portal_on_the_same_server(self, world):
        neighbour = make_portal("neighbour")
        with pytest.raises(Exception) as refused:
            make_channel(neighbour, "sport")
        assert getattr(refused.value, "status", None) == 409 and refused.value.message == TAKEN.format("sport")
        assert not Channel.objects.filter(portal=neighbour).exists()

    def test_moving_a_portal_onto_a_server_with_its_names_is_refused(self, committed, two_servers):
        from catena_site.errors import Conflict

        default = StreamingServer.objects.get(name=DEFAULT_SERVER_NAME)
        make_channel(two_servers["far"], "weather")
        with pytest.raises(Conflict) as refused:
            committed(portals.move_portal_to_server, two_servers["far"], default)
        assert "news" in refused.value.message and "weather" not in refused.value.message
        assert Portal.objects.get(pk=two_servers["far"].pk).streaming_server_id == two_servers["edge"].pk
        assert not Operation.objects.filter(portal=two_servers["far"], type="updatePortal").exists()


class TestExistingCollisions:
    """Names shared before streaming servers existed: the check lists them; nothing fails."""

    def test_manage_py_check_lists_each_shared_name_with_its_portals(self, world):
        legacy = make_portal("legacy-portal")
        # As the data was before this change (names unique per portal only): written directly.
        Channel.objects.create(portal=legacy, name="news", title="Legacy news")
        Channel.objects.create(portal=legacy, name="sport", title="Legacy sport")
        out, err = io.StringIO(), io.StringIO()
        call_command("check", stdout=out, stderr=err)
        text = out.getvalue() + err.getvalue()
        portal = world["portal"]
        for name in ("news", "sport"):
            assert (f"(content.W001) Portals {portal.name} ({portal.public_id}), {legacy.name} ({legacy.public_id}) "
                    f"on streaming server 'default' each have a channel named '{name}'") in text
        assert "kids" not in text

    def test_the_check_is_quiet_without_shared_names(self, two_servers):
        out, err = io.StringIO(), io.StringIO()
        call_command("check", stdout=out, stderr=err)
        assert "content.W001" not in out.getvalue() + err.getvalue()


class TestStreamerApiPerServer:
    def test_reauth_calls_the_api_of_the_affected_portals_server(self, client, committed, two_servers, settings):
        bob, alice = two_servers["bob"], two_servers["alice"]
        check(client, bob.playback_token, "news", key="edge-2-key")
        check(client, alice.playback_token, "news")
        with FakeFlussonic() as default_api, FakeFlussonic() as edge_api:
            settings.STREAMER_API_URL, settings.STREAMER_API_TOKEN = default_api.url, "default-token"
            edge = two_servers["edge"]
            edge.api_url, edge.api_token = edge_api.url, "edge-token"
            portals.save_streaming_server(edge)
            committed(subscribers.set_disabled, bob, True, caller=caller(two_servers["far"]))
        assert default_api.calls == []
        assert [(c[0], c[1], c[2], c[3]) for c in edge_api.calls] == [
            ("POST", "/streamer/api/v3/sessions/reauth", {"name": "news"}, "Bearer edge-token")]
        assert not PlaySession.objects.get(portal_id=two_servers["far"].id).active
        assert PlaySession.objects.get(portal_id=two_servers["portal"].id).active

    def test_a_server_without_an_api_is_not_called(self, client, committed, two_servers, settings):
        with FakeFlussonic() as default_api:
            settings.STREAMER_API_URL = default_api.url  # the default server's only
            check(client, two_servers["bob"].playback_token, "news", key="edge-2-key")
            committed(subscribers.set_disabled, two_servers["bob"], True, caller=caller(two_servers["far"]))
        assert default_api.calls == []

    def test_reconciliation_asks_each_server_about_its_own_portals(self, client, two_servers, settings, time_machine):
        time_machine.move_to(START, tick=False)
        alice_kept = check_session(client, two_servers["alice"], KEY)
        alice_gone = check_session(client, two_servers["alice"], KEY)
        bob_kept = check_session(client, two_servers["bob"], "edge-2-key")
        bob_gone = check_session(client, two_servers["bob"], "edge-2-key")
        time_machine.move_to(START + dt.timedelta(minutes=5), tick=False)
        # Each server lists its own sessions only: neither list has the other server's.
        with FakeFlussonic(sessions_pages=[{"sessions": [{"id": alice_kept}]}]) as default_api, \
                FakeFlussonic(sessions_pages=[{"sessions": [{"id": bob_kept}]}]) as edge_api:
            settings.STREAMER_API_URL, settings.STREAMER_API_USER, settings.STREAMER_API_PASSWORD = (
                default_api.url, "admin", "secret")
            edge = two_servers["edge"]
            edge.api_url, edge.api_user, edge.api_password = edge_api.url, "edge", "edge-secret"
            portals.save_streaming_server(edge)
            assert tasks.reconcile_streamer_sessions() == 2
        active = dict(PlaySession.objects.values_list("streamer_session_id", "active"))
        assert active == {alice_kept: True, alice_gone: False, bob_kept: True, bob_gone: False}
        assert [c[1] for c in default_api.calls] == ["/streamer/api/v3/sessions"]
        assert [c[1] for c in edge_api.calls] == ["/streamer/api/v3/sessions"]
        assert default_api.calls[0][3] == "Basic YWRtaW46c2VjcmV0"
        assert edge_api.calls[0][3] == "Basic ZWRnZTplZGdlLXNlY3JldA=="


def check_session(client, subscriber, key) -> str:
    session_id = str(uuid.uuid4())
    assert check(client, subscriber.playback_token, "news", session_id=session_id, key=key).status_code == 200
    return session_id


@pytest.mark.django_db
class TestTheDefaultServer:
    def test_new_portals_get_the_default_server_whose_empty_fields_are_the_settings(self, settings):
        portal = make_portal("fresh")
        assert portal.streaming_server.name == DEFAULT_SERVER_NAME
        settings.STREAMER_API_URL, settings.STREAMER_ALLOWED_IPS = "http://flussonic:80/api", ["10.0.0.0/8"]
        config = streaming_servers.by_id(portal.streaming_server_id)
        assert (config.key, config.api_url, config.allowed_ips) == (KEY, "http://flussonic:80/api", ("10.0.0.0/8",))

    def test_its_own_fields_win_and_other_servers_never_fall_back(self, settings):
        default = streaming_servers.default_server()
        default.key, default.api_url = "own-default-key", "http://own:80/api"
        portals.save_streaming_server(default)
        other = make_streaming_server("edge-9")
        settings.STREAMER_API_URL = "http://from-settings/api"
        assert (streaming_servers.by_id(default.pk).key, streaming_servers.by_id(default.pk).api_url) == (
            "own-default-key", "http://own:80/api")
        assert streaming_servers.by_id(other.pk).api_url == ""
        assert streaming_servers.by_key(KEY) is None  # the settings' key no longer opens anything
        assert streaming_servers.by_key("own-default-key").id == default.pk

    def test_two_servers_cannot_share_a_key(self):
        from catena_site.errors import Conflict

        make_streaming_server("edge-4", key="same-key")
        with pytest.raises(Conflict):
            make_streaming_server("edge-5", key="same-key")
        with pytest.raises(Conflict):  # the default server's key is STREAMER_KEY
            make_streaming_server("edge-6", key=KEY)
        assert not StreamingServer.objects.filter(name__in=["edge-5", "edge-6"]).exists()

    def test_the_create_portal_command_takes_a_server_by_name(self):
        make_streaming_server("edge-7")
        out = io.StringIO()
        call_command("create_portal", "--name", "cmd-portal", "--domain", "cmd.example.com", "--owner-email",
                     "o@example.com", "--owner-password", "Strong-Pass-77", "--streaming-server", "edge-7", "--json",
                     stdout=out)
        assert Portal.objects.get(name="cmd-portal").streaming_server.name == "edge-7"
        call_command("create_portal", "--name", "cmd-portal-2", "--domain", "cmd2.example.com", "--owner-email",
                     "o@example.com", "--owner-password", "Strong-Pass-77", stdout=out)
        assert Portal.objects.get(name="cmd-portal-2").streaming_server.name == DEFAULT_SERVER_NAME


@pytest.mark.django_db(transaction=True)
def test_the_migration_binds_existing_portals_to_the_default_server_even_with_shared_names():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("portals", "0001_initial")], [("portals", "0004_portal_streaming_server_required")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    others = [node for node in executor.loader.graph.leaf_nodes() if node[0] != "portals"]
    old = executor.loader.project_state(others + before).apps
    OldPortal, OldChannel = old.get_model("portals", "Portal"), old.get_model("content", "Channel")
    portal_ids = []
    for number, name in enumerate(["old-a", "old-b"]):
        portal = OldPortal.objects.create(id=1000 + number, name=name, domain=f"{name}.example.com",
                                          api_key=f"key-{name}", settings={})
        OldChannel.objects.create(id=2000 + number, portal=portal, name="news", title="News")  # shared
        portal_ids.append(portal.id)
    executor = MigrationExecutor(connection)  # reload the graph, as a new ``migrate`` would
    executor.migrate(after)
    bound = dict(Portal.objects.filter(id__in=portal_ids).values_list("id", "streaming_server__name"))
    executor = MigrationExecutor(connection)  # the later migrations back, for the tests after this one
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert bound == {1000: DEFAULT_SERVER_NAME, 1001: DEFAULT_SERVER_NAME}
    out, err = io.StringIO(), io.StringIO()
    call_command("check", stdout=out, stderr=err)
    assert "each have a channel named 'news'" in out.getvalue() + err.getvalue()
