"""Anonymous viewing of free channels (lifecycle.md §3): the token-less auth check, its sessions and events, the
exact invalidation of its cached facts, and the screens' and API's "anonymous" viewer."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid

import pytest

from content import services as content
from monitoring import sessions
from monitoring.models import PlaySession
from portals import services as portals
from tests.conftest import API
from tests.factories import make_portal, make_streaming_server
from tests.web.conftest import logged_in_client

from .conftest import AUTH, EVENTS, KEY, auth_params, caller, check, make_channel, make_package, reason


def allow_anonymous(portal, committed, allowed=True):
    committed(portals.update_portal, portal, caller=caller(portal), data={"settings": {"allowAnonymous": allowed}})


def anonymous(client, name, **kwargs):
    """A token-less auth request (``token`` absent); ``empty=True`` sends ``token=``."""
    params = auth_params(None, name, **{k: v for k, v in kwargs.items() if k != "empty"})
    if kwargs.get("empty"):
        params["token"] = ""
    return client.get(AUTH, params)


@pytest.fixture
def free(world, committed):
    """``world`` with ``basic`` (channel ``news``) free; ``premium`` (``sport``) stays paid."""
    committed(content.add_free_package, world["basic"], caller=caller(world["portal"]))
    return world


def test_without_the_setting_a_tokenless_request_is_unknown_token_and_records_nothing(client, free):
    for empty in (False, True):
        response = anonymous(client, "news", empty=empty)
        assert (response.status_code, reason(response)) == (403, "unknown_token")
    assert not PlaySession.objects.exists()


def test_a_free_channel_plays_without_a_token_and_its_session_has_no_subscriber(client, free, committed, api):
    allow_anonymous(free["portal"], committed)
    response = anonymous(client, "news", session_id="anon-1")
    assert response.status_code == 200
    assert response.content == b""
    assert "X-UserId" not in response
    assert response["X-AuthDuration"] == "120"
    assert anonymous(client, "news", empty=True).status_code == 200
    session = PlaySession.objects.get(streamer_session_id="anon-1")
    assert (session.subscriber_id, session.token, session.channel_id, session.portal_id, session.active) == (
        None, "", free["news"].id, free["portal"].id, True)
    body = api.get(f"{API}/play-sessions/{session.public_id}").json()
    assert (body["subscriberId"], body["channelName"]) == (None, "news")
    listed = api.get(f"{API}/play-sessions", {"channelId": free["news"].public_id}).json()["sessions"]
    assert {s["subscriberId"] for s in listed} == {None}


@pytest.mark.parametrize(("name", "why"), [("sport", "a paid package's channel"), ("kids", "in no package"),
                                           ("nosuch", "no such channel"), ("../x", "not a stream name")])
def test_anything_but_a_free_channel_is_unknown_token_and_records_nothing(client, free, committed, name, why):
    allow_anonymous(free["portal"], committed)
    response = anonymous(client, name)
    assert (response.status_code, reason(response)) == (403, "unknown_token"), why
    assert not PlaySession.objects.exists()


def test_a_subscriber_token_is_still_decided_as_before(client, free, committed):
    allow_anonymous(free["portal"], committed)
    response = check(client, free["alice"].playback_token, "news")
    assert (response.status_code, response["X-UserId"]) == (200, free["alice"].public_id)
    assert reason(check(client, "x" * 32, "news")) == "unknown_token"  # a wrong token is no anonymous request


def test_the_portal_is_the_one_of_the_asking_streaming_server(client, free, committed):
    """A stream name is unique per streaming server: the server's key finds the portal. A portal on another
    server with its own free channel of the same name answers only to that server's key."""
    allow_anonymous(free["portal"], committed)
    edge = make_streaming_server("edge")
    other = make_portal("anon-other", streaming_server=edge)
    news = make_channel(other, "news")
    package = make_package(other, "open", [news])
    committed(content.add_free_package, package, caller=caller(other))
    assert anonymous(client, "news", key="edge-key", session_id="on-edge").status_code == 403  # not allowed there
    allow_anonymous(other, committed)
    assert anonymous(client, "news", key="edge-key", session_id="on-edge").status_code == 200
    assert anonymous(client, "news", key=KEY, session_id="on-default").status_code == 200
    assert PlaySession.objects.get(streamer_session_id="on-edge").portal_id == other.id
    assert PlaySession.objects.get(streamer_session_id="on-default").portal_id == free["portal"].id
    allow_anonymous(free["portal"], committed, False)
    assert reason(anonymous(client, "news", key=KEY)) == "unknown_token"
    assert anonymous(client, "news", key="edge-key").status_code == 200


def test_the_session_limit_does_not_apply_to_anonymous_viewers(client, free, committed):
    committed(portals.update_portal, free["portal"], caller=caller(free["portal"]),
              data={"settings": {"allowAnonymous": True, "maxSessionsPerSubscriber": 1}})
    for number in range(3):
        response = anonymous(client, "news", session_id=f"many-{number}")
        assert response.status_code == 200 and "X-Max-Sessions" not in response
    assert PlaySession.objects.filter(subscriber_id=None, active=True).count() == 3


def test_a_warm_anonymous_check_needs_no_query(client, free, committed, cache_backend, django_assert_num_queries):
    allow_anonymous(free["portal"], committed)
    session_id = str(uuid.uuid4())
    assert anonymous(client, "news", session_id=session_id).status_code == 200  # cold: fills the cache
    anonymous(client, "sport")
    with django_assert_num_queries(0):
        for number in range(1, 3):
            response = anonymous(client, "news", session_id=session_id, request_type="update_session",
                                 request_number=number, bytes=number * 1000)
            assert response.status_code == 200
        assert reason(anonymous(client, "sport")) == "unknown_token"
        assert reason(anonymous(client, "nosuch")) == "unknown_token"
    assert sessions.flush_heartbeats() == 1  # the anonymous heartbeat reaches the row (no subscriber to mark)
    assert PlaySession.objects.get(streamer_session_id=session_id).bytes == 2000


def test_a_cold_anonymous_decision_reads_each_fact_with_one_query(client, free, committed,
                                                                 django_assert_num_queries):
    allow_anonymous(free["portal"], committed)
    check(client, free["alice"].playback_token, "news")  # the streaming servers are cached from here on
    # the server's anonymous portals, their free packages, their channels, and those channels' locations
    with django_assert_num_queries(4):
        assert reason(anonymous(client, "sport")) == "unknown_token"


class TestInvalidation:
    """Every change that alters an anonymous decision is seen by the next check, and closes the sessions."""

    @pytest.fixture
    def playing(self, client, free, committed):
        allow_anonymous(free["portal"], committed)
        assert anonymous(client, "news", session_id="watching").status_code == 200
        return free

    def assert_refused_and_closed(self, client):
        assert reason(anonymous(client, "news")) == "unknown_token"
        session = PlaySession.objects.get(streamer_session_id="watching")
        assert (session.active, session.close_reason) == (False, "access")

    def test_the_package_stops_being_free(self, client, playing, committed, cache_backend):
        committed(content.remove_free_package, playing["basic"], caller=caller(playing["portal"]))
        self.assert_refused_and_closed(client)
        assert check(client, playing["alice"].playback_token, "news").status_code == 200  # subscribed to basic

    def test_the_setting_is_switched_off(self, client, playing, committed, cache_backend):
        session = check(client, playing["alice"].playback_token, "news", session_id="alice-watching")
        assert session.status_code == 200
        allow_anonymous(playing["portal"], committed, False)
        self.assert_refused_and_closed(client)
        assert PlaySession.objects.get(streamer_session_id="alice-watching").active  # subscribers keep watching

    def test_the_channel_leaves_the_free_package(self, client, playing, committed, cache_backend):
        committed(content.remove_channel_from_package, playing["basic"], playing["news"],
                  caller=caller(playing["portal"]))
        self.assert_refused_and_closed(client)

    def test_a_package_becomes_free(self, client, playing, committed, cache_backend):
        assert reason(anonymous(client, "sport")) == "unknown_token"
        committed(content.add_free_package, playing["premium"], caller=caller(playing["portal"]))
        assert anonymous(client, "sport").status_code == 200

    def test_the_channel_is_deleted(self, client, playing, committed, cache_backend):
        committed(content.delete_channel, playing["news"], caller=caller(playing["portal"]))
        self.assert_refused_and_closed(client)

    def test_a_channel_joins_a_free_package(self, client, playing, committed, cache_backend):
        assert reason(anonymous(client, "kids")) == "unknown_token"
        committed(content.add_channel_to_package, playing["basic"], playing["kids"], caller=caller(playing["portal"]))
        assert anonymous(client, "kids").status_code == 200


def post_events(client, body):
    return client.post(f"{EVENTS}?key={KEY}", json.dumps(body), content_type="application/json")


def test_events_without_a_token_apply_to_anonymous_sessions_only(client, free, committed, cache_backend):
    allow_anonymous(free["portal"], committed)
    assert anonymous(client, "news", session_id="anon-ev").status_code == 200
    at = int(time.time())  # on Redis the start is still in the buffer: the events write it first
    batch = [
        {"event": "play_updated", "id": "anon-ev", "media": "news", "bytes": 5000, "updated_at": at + 30},
        {"event": "play_closed", "id": "anon-ev", "media": "news", "bytes": 6000, "closed_at": at + 60},
        {"event": "play_opened", "id": "stranger", "media": "news", "opened_at": at},  # never allowed
        {"event": "play_updated", "id": "anon-ev-2", "media": "sport", "updated_at": at},
    ]
    assert post_events(client, batch).status_code == 204
    session = PlaySession.objects.get(streamer_session_id="anon-ev")
    assert (session.active, session.close_reason, session.bytes, session.subscriber_id) == (False, "streamer", 6000,
                                                                                            None)
    assert set(PlaySession.objects.values_list("streamer_session_id", flat=True)) == {"anon-ev"}


def test_an_event_naming_another_stream_leaves_the_anonymous_session_alone(client, free, committed):
    allow_anonymous(free["portal"], committed)
    anonymous(client, "news", session_id="anon-x")
    assert post_events(client, [{"event": "play_closed", "id": "anon-x", "media": "sport"}]).status_code == 204
    assert PlaySession.objects.get(streamer_session_id="anon-x").active


def test_the_screens_show_the_viewer_as_anonymous(client, free, committed, managers):
    allow_anonymous(free["portal"], committed)
    anonymous(client, "news", session_id="anon-screen")
    web = logged_in_client(managers["viewer"])
    for path in ("/play-sessions/history/", "/play-sessions/"):
        html = web.get(path).content.decode()
        assert 'data-testid="anonymous-viewer">anonymous</span>' in html, path
    exported = web.get("/play-sessions/history/", {"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert [row["Subscriber"] for row in rows] == ["anonymous"]


class TestLocationRestrictions:
    """A free channel with location restrictions plays anonymously only from its locations (catalog.md §2)."""

    HOME, AWAY = "192.0.2.10", "198.51.100.7"

    @pytest.fixture
    def restricted(self, client, free, committed):
        allow_anonymous(free["portal"], committed)
        home = committed(content.create_location, free["portal"], caller=caller(free["portal"]),
                         data={"name": "home", "title": "Home", "countries": ["FI"], "networks": ["192.0.2.0/24"]})
        free["restrict"] = lambda *locations: committed(
            content.update_channel, free["news"], caller=caller(free["portal"]),
            data={"locationRestrictions": [location.public_id for location in locations]})
        free["home"] = home
        return free

    def test_it_plays_from_a_network_or_country_of_its_locations_and_nowhere_else(self, client, restricted,
                                                                               cache_backend):
        restricted["restrict"](restricted["home"])
        assert anonymous(client, "news", ip=self.HOME).status_code == 200
        assert anonymous(client, "news", ip=self.AWAY, country="FI").status_code == 200
        before = PlaySession.objects.count()
        response = anonymous(client, "news", ip=self.AWAY, country="SE")
        assert (response.status_code, reason(response)) == (403, "location_restricted")
        assert reason(anonymous(client, "news", ip=self.AWAY)) == "location_restricted"
        assert PlaySession.objects.count() == before  # a refusal records nothing

    def test_a_warm_restricted_check_needs_no_query(self, client, restricted, cache_backend,
                                                    django_assert_num_queries):
        restricted["restrict"](restricted["home"])
        session_id = str(uuid.uuid4())
        assert anonymous(client, "news", ip=self.HOME, session_id=session_id).status_code == 200  # cold
        with django_assert_num_queries(0):
            response = anonymous(client, "news", ip=self.HOME, session_id=session_id, request_type="update_session",
                                 request_number=1, bytes=1000)
            assert response.status_code == 200
            assert reason(anonymous(client, "news", ip=self.AWAY)) == "location_restricted"

    def test_restricting_the_channel_refuses_and_closes_what_is_outside_at_once(self, client, restricted,
                                                                               cache_backend):
        assert anonymous(client, "news", ip=self.AWAY, session_id="away").status_code == 200  # warm, unrestricted
        assert anonymous(client, "news", ip=self.HOME, session_id="home").status_code == 200
        restricted["restrict"](restricted["home"])
        assert reason(anonymous(client, "news", ip=self.AWAY)) == "location_restricted"
        assert anonymous(client, "news", ip=self.HOME).status_code == 200
        states = dict(PlaySession.objects.filter(streamer_session_id__in=["away", "home"])
                      .values_list("streamer_session_id", "active"))
        assert states == {"away": False, "home": True}
        restricted["restrict"]()  # lifted: anywhere again
        assert anonymous(client, "news", ip=self.AWAY).status_code == 200
