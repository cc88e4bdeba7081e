"""Catch-up from the archive in the auth check (players.md §1, issue 17 item 1): a ``dvr=true`` request for a
channel whose ``archiveDays`` is 0 is ``403 no_archive`` — after the channel is known to be watchable, before the
location, device and session reasons — for subscribers and anonymous viewers; decided from the cached facts
(no query, one Redis round trip), invalidated exactly when a channel's archive appears or goes, and the archive
sessions of a channel whose archive goes are closed.
"""

from __future__ import annotations

import os
import uuid

import pytest
from django.utils import timezone

from content import services as content
from monitoring import sessions
from monitoring.models import CloseReason, PlaySession
from portals import services as portals
from subscribers import playback_cache
from tests.worker import redis_available

from .conftest import caller, check, make_subscriber, reason

TITLE = "The channel keeps no archive to play from."


def set_archive(channel, days: int, committed):
    return committed(content.update_channel, channel, caller=caller(channel.portal), data={"archiveDays": days})


@pytest.fixture
def archive(world, committed):
    """``world`` with ``news`` (alice's) keeping 7 days of archive, and ``sport`` in alice's packages without one."""
    committed(content.add_channel_to_package, world["basic"], world["sport"], caller=caller(world["portal"]))
    world["news"] = set_archive(world["news"], 7, committed)
    return world


def dvr(client, world, name, **params):
    return check(client, world["alice"].playback_token, name, dvr="true", **params)


# --- The rule ---------------------------------------------------------------------------------------------------


def test_an_archive_request_for_a_channel_without_archive_is_403_no_archive_and_records_nothing(client, archive):
    response = dvr(client, archive, "sport")
    assert response.status_code == 403
    assert response.json() == {"errors": [{"status": "403", "code": "no_archive", "title": TITLE}]}
    assert "X-UserId" not in response
    assert not PlaySession.objects.exists()


@pytest.mark.parametrize("value", ["true", "1", "yes", "TRUE"])
def test_a_channel_with_an_archive_plays_from_it(client, archive, value):
    response = check(client, archive["alice"].playback_token, "news", session_id="catch-up", dvr=value,
                     qs="from=1700000000")
    assert response.status_code == 200 and response["X-UserId"] == archive["alice"].public_id
    sessions.write_opened_sessions()
    assert PlaySession.objects.get(streamer_session_id="catch-up").dvr


@pytest.mark.parametrize("value", [None, "", "false", "0", "no"])
def test_live_viewing_needs_no_archive(client, archive, value):
    assert check(client, archive["alice"].playback_token, "sport", dvr=value).status_code == 200


def test_the_reasons_keep_their_order(client, archive, committed):
    bob = make_subscriber(archive["portal"], "Bob")  # neither channel is in his packages
    assert reason(check(client, bob.playback_token, "sport", dvr="true")) == "not_in_packages"
    assert reason(check(client, "x" * 32, "sport", dvr="true")) == "unknown_token"
    assert reason(dvr(client, archive, "nosuch")) == "unknown_stream"
    # before the location: sport restricted to a place the viewer is not in
    home = content.create_location(archive["portal"], caller=caller(archive["portal"]), data={
        "name": "home", "title": "Home", "countries": ["FI"], "networks": ["192.0.2.0/24"]})
    committed(content.update_channel, archive["sport"], caller=caller(archive["portal"]),
              data={"locationRestrictions": [home.public_id]})
    assert reason(dvr(client, archive, "sport", ip="198.51.100.7")) == "no_archive"
    assert reason(check(client, archive["alice"].playback_token, "sport", ip="198.51.100.7")) == \
        "location_restricted"
    # before the devices and the session limit
    committed(portals.update_portal, archive["portal"], caller=caller(archive["portal"]),
              data={"settings": {"maxSessionsPerSubscriber": 1, "maxDevicesPerSubscriber": 1}})
    assert dvr(client, archive, "news", device_id="box-1").status_code == 200  # takes the only places
    assert reason(dvr(client, archive, "sport", device_id="box-2")) == "no_archive"
    assert reason(dvr(client, archive, "news", device_id="box-2")) == "too_many_devices"
    assert reason(dvr(client, archive, "news")) == "too_many_sessions"


def test_the_archive_of_another_portals_same_named_channel_counts_for_nothing(client, archive, other_portal,
                                                                              committed):
    from .conftest import make_channel

    set_archive(make_channel(other_portal, "sportx"), 30, committed)
    assert reason(dvr(client, archive, "sport")) == "no_archive"


# --- Cached facts, invalidated exactly ---------------------------------------------------------------------------


@pytest.fixture
def warm(client, archive, cache_backend):
    for name in ("news", "sport"):
        dvr(client, archive, name)
    return archive


def test_a_warm_archive_check_needs_no_query(client, warm, django_assert_num_queries):
    token, session_id = warm["alice"].playback_token, str(uuid.uuid4())
    check(client, token, "news", session_id=session_id, dvr="true")  # the session starts (written)
    before = sessions.cached_heartbeats([session_id])[session_id]
    with django_assert_num_queries(0):
        for number in range(1, 4):
            assert check(client, token, "news", session_id=session_id, request_type="update_session",
                         request_number=number, bytes=number * 1000, dvr="true").status_code == 200
        assert reason(dvr(client, warm, "sport", request_type="update_session")) == "no_archive"
        assert reason(dvr(client, warm, "sport")) == "no_archive"
    assert sessions.cached_heartbeats([session_id])[session_id][1] == 3000 > before[1]


def test_a_refused_archive_update_does_not_refresh_the_heartbeat(client, warm, committed):
    token, session_id = warm["alice"].playback_token, str(uuid.uuid4())
    assert check(client, token, "news", session_id=session_id, dvr="true").status_code == 200
    set_archive(warm["news"], 0, committed)
    dvr(client, warm, "news")  # recomputes the facts: the next update is a warm one
    assert reason(check(client, token, "news", session_id=session_id, request_type="update_session",
                        bytes=5000, dvr="true")) == "no_archive"
    cached = sessions.cached_heartbeats([session_id]).get(session_id)
    assert cached is None or cached[1] == 0


def test_an_archive_appearing_or_going_applies_at_once(client, warm, committed):
    set_archive(warm["sport"], 3, committed)
    assert dvr(client, warm, "sport").status_code == 200
    set_archive(warm["news"], 0, committed)
    assert reason(dvr(client, warm, "news")) == "no_archive"
    assert check(client, warm["alice"].playback_token, "news").status_code == 200  # live still plays


@pytest.mark.parametrize("change", ["depth", "channel in no package"])
def test_changes_that_cannot_alter_a_decision_keep_the_cached_answers(client, warm, committed,
                                                                      django_assert_num_queries, change):
    assert dvr(client, warm, "news", session_id="watching").status_code == 200
    if change == "depth":
        set_archive(warm["news"], 30, committed)
    else:
        set_archive(warm["kids"], 5, committed)
    with django_assert_num_queries(0):
        assert dvr(client, warm, "news", session_id="watching", request_type="update_session").status_code == 200
        assert reason(dvr(client, warm, "sport")) == "no_archive"


def test_an_archive_going_closes_exactly_its_archive_sessions(client, archive, committed):
    token = archive["alice"].playback_token
    for session_id, extra in (("archive", {"dvr": "true"}), ("live", {})):
        assert check(client, token, "news", session_id=session_id, **extra).status_code == 200
    bob = make_subscriber(archive["portal"], "Bob", [archive["basic"]])
    assert check(client, bob.playback_token, "news", session_id="bob-archive", dvr="true").status_code == 200
    sessions.write_opened_sessions()
    set_archive(archive["news"], 2, committed)  # still an archive: nothing closes
    assert PlaySession.objects.filter(active=True).count() == 3
    set_archive(archive["news"], 0, committed)
    state = {s.streamer_session_id: (s.active, s.close_reason) for s in PlaySession.objects.all()}
    assert state == {"archive": (False, CloseReason.ACCESS), "bob-archive": (False, CloseReason.ACCESS),
                     "live": (True, "")}


# --- Anonymous viewers -------------------------------------------------------------------------------------------


@pytest.fixture
def anonymous_world(archive, committed):
    """``basic`` (news with an archive, sport without) free, and anonymous viewing allowed."""
    committed(content.add_free_package, archive["basic"], caller=caller(archive["portal"]))
    committed(portals.update_portal, archive["portal"], caller=caller(archive["portal"]),
              data={"settings": {"allowAnonymous": True}})
    return archive


def anonymous(client, name, **params):
    return check(client, None, name, **params)


def test_an_anonymous_archive_request_follows_the_same_rule(client, anonymous_world, cache_backend,
                                                           django_assert_num_queries):
    session_id = str(uuid.uuid4())
    assert anonymous(client, "news", dvr="true", session_id=session_id).status_code == 200
    refused = anonymous(client, "sport", dvr="true")
    assert refused.status_code == 403
    assert refused.json() == {"errors": [{"status": "403", "code": "no_archive", "title": TITLE}]}
    assert anonymous(client, "sport").status_code == 200
    assert reason(anonymous(client, "kids", dvr="true")) == "unknown_token"  # not free: before no_archive
    with django_assert_num_queries(0):
        assert reason(anonymous(client, "sport", dvr="true")) == "no_archive"
        assert reason(anonymous(client, "sport", dvr="true", request_type="update_session")) == "no_archive"
        assert anonymous(client, "news", dvr="true", session_id=session_id, request_type="update_session",
                         request_number=1, bytes=1000).status_code == 200


def test_an_anonymous_no_archive_comes_before_the_location(client, anonymous_world, committed):
    home = content.create_location(anonymous_world["portal"], caller=caller(anonymous_world["portal"]), data={
        "name": "home", "title": "Home", "countries": ["FI"], "networks": ["192.0.2.0/24"]})
    committed(content.update_channel, anonymous_world["sport"], caller=caller(anonymous_world["portal"]),
              data={"locationRestrictions": [home.public_id]})
    assert reason(anonymous(client, "sport", dvr="true", ip="198.51.100.7")) == "no_archive"
    assert reason(anonymous(client, "sport", ip="198.51.100.7")) == "location_restricted"


def test_an_anonymous_viewers_archive_changes_apply_at_once_and_close_its_sessions(client, anonymous_world,
                                                                                  cache_backend, committed):
    assert anonymous(client, "news", session_id="anon-archive", dvr="true").status_code == 200
    assert anonymous(client, "news", session_id="anon-live").status_code == 200
    sessions.write_opened_sessions()
    set_archive(anonymous_world["news"], 0, committed)
    assert reason(anonymous(client, "news", dvr="true")) == "no_archive"
    assert dict(PlaySession.objects.values_list("streamer_session_id", "active")) == {
        "anon-archive": False, "anon-live": True}
    set_archive(anonymous_world["sport"], 1, committed)
    assert anonymous(client, "sport", dvr="true").status_code == 200


# --- Both caches give the same answers ------------------------------------------------------------------------


def _verdicts(token: str, probes) -> list:
    answers = []
    for name, is_dvr, update in probes:
        probe = sessions.probe(f"s-{name}-{is_dvr}", name, update, timezone.now(), 10, 1, dvr=is_dvr)
        verdict = playback_cache.check(token, name, probe=probe)
        answers.append((name, is_dvr, update, verdict.subscriber_id, verdict.channel_id, verdict.archive,
                        verdict.location_refused, verdict.expired))
    return answers


@pytest.mark.skipif(not redis_available(), reason="needs REDIS_URL")
def test_the_redis_script_and_the_file_cache_give_the_same_verdicts(archive, settings):
    """The same facts read cold, then warm, from the file-based cache and from Redis (the Lua script)."""
    probes = [(name, is_dvr, update) for name in ("news", "sport", "kids", "nosuch")
              for is_dvr in (False, True) for update in (False, True)]
    token = archive["alice"].playback_token
    results = {}
    for backend in ("file", "redis"):
        if backend == "redis":
            settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                           "LOCATION": os.environ["REDIS_URL"], "KEY_PREFIX": f"t{uuid.uuid4().hex}"}}
        results[backend] = (_verdicts(token, probes), _verdicts(token, probes))  # cold, then warm
    assert results["file"] == results["redis"]
    cold, warm = results["file"]
    assert cold == warm
    archives = {(name, is_dvr): has_archive for name, is_dvr, _, _, _, has_archive, _, _ in warm}
    assert archives[("news", True)] and not archives[("sport", True)] and not archives[("kids", True)]
