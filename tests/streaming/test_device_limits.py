"""Devices on the auth path (lifecycle.md §2): registration on first sight, the two limit policies, a known device
answered from the cache without any query, two devices racing for the last place.

Run on the file-based cache and, when REDIS_URL answers, on Redis (``cache_backend``).
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import close_old_connections, connection

from monitoring import sessions
from monitoring.operations import Operation
from portals import services as portals
from subscribers import devices
from subscribers import services as subscribers
from subscribers.models import Device

from .conftest import caller, check, reason


def settings_of(world, committed, **values):
    committed(portals.update_portal, world["portal"], caller=caller(world["portal"]), data={"settings": values})


def uids(subscriber) -> list[str]:
    return list(Device.objects.filter(subscriber=subscriber).order_by("id").values_list("uid", flat=True))


@pytest.fixture
def commits(django_capture_on_commit_callbacks):
    """``with commits(execute=True):`` runs what the requests inside scheduled for after their commit (a device
    registered on first sight deletes the subscriber's devices stamp then), like a real commit."""
    return django_capture_on_commit_callbacks


def play(client, world, device_id, *, name="news", **extra):
    return check(client, world["alice"].playback_token, name, device_id=device_id, **extra)


def test_a_device_is_registered_when_first_seen_and_recorded(client, world, cache_backend, committed):
    response = play(client, world, "tv-1", user_agent="SmartTV/1.0")
    assert response.status_code == 200
    device = Device.objects.get(subscriber=world["alice"])
    assert (device.kind, device.uid, device.mac, device.last_ip, device.user_agent) == (
        "player", "tv-1", "", "192.0.2.10", "SmartTV/1.0")
    assert device.first_seen_at is not None and device.last_seen_at is not None
    operation = Operation.objects.get(type="addDevice")
    assert operation.actor_type == "system" and operation.subscriber_id == world["alice"].id
    assert operation.payload["uid"] == "tv-1" and operation.payload["kind"] == "player"


def test_the_device_id_may_come_inside_qs_and_a_mac_is_normalised(client, world, cache_backend):
    assert play(client, world, None, qs="device_id=00-1A-79-AB-CD-EF&x=1").status_code == 200
    assert play(client, world, "001a79abcdef").status_code == 200  # the same box, written otherwise
    assert uids(world["alice"]) == ["00:1a:79:ab:cd:ef"]


def test_requests_without_a_device_identity_are_not_counted(client, world, cache_backend, committed):
    settings_of(world, committed, maxDevicesPerSubscriber=1)
    assert play(client, world, "tv-1").status_code == 200
    for _ in range(3):
        assert play(client, world, None).status_code == 200
    assert uids(world["alice"]) == ["tv-1"]


def test_refuse_policy_refuses_a_device_beyond_the_limit(client, world, cache_backend, committed, commits):
    settings_of(world, committed, maxDevicesPerSubscriber=2, deviceLimitPolicy="refuse")
    with commits(execute=True):
        assert play(client, world, "tv-1").status_code == 200
        assert play(client, world, "tv-2").status_code == 200
    response = play(client, world, "tv-3")
    assert response.status_code == 403
    assert response.json() == {"errors": [{"status": "403", "code": "too_many_devices",
                                           "title": "The subscriber already has as many devices as allowed."}]}
    assert play(client, world, "tv-1").status_code == 200  # the known ones still play
    assert uids(world["alice"]) == ["tv-1", "tv-2"]
    assert Operation.objects.filter(type="addDevice").count() == 2


def test_replace_oldest_removes_the_least_recently_seen(client, world, cache_backend, committed, commits, time_machine):
    settings_of(world, committed, maxDevicesPerSubscriber=2, deviceLimitPolicy="replace_oldest")
    start = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    time_machine.move_to(start, tick=False)
    with commits(execute=True):
        play(client, world, "tv-1")
        time_machine.move_to(start + dt.timedelta(minutes=1), tick=False)
        play(client, world, "tv-2")
        time_machine.move_to(start + dt.timedelta(minutes=10), tick=False)
        play(client, world, "tv-1")  # tv-1 seen again (lastSeenAt written: more than 5 minutes later)
        sessions.write_opened_sessions()  # on Redis the session start (and its device's sighting) is buffered
        time_machine.move_to(start + dt.timedelta(minutes=11), tick=False)
        assert play(client, world, "tv-3").status_code == 200
    assert uids(world["alice"]) == ["tv-1", "tv-3"]  # tv-2 was the least recently seen
    removed = Operation.objects.get(type="removeDevice")
    assert removed.actor_type == "system" and removed.payload["uid"] == "tv-2"


def test_a_subscribers_own_limit_wins_over_the_portals(client, world, cache_backend, committed, commits):
    settings_of(world, committed, maxDevicesPerSubscriber=5)
    committed(subscribers.update_subscriber, world["alice"], caller=caller(world["portal"]), data={"maxDevices": 1})
    with commits(execute=True):
        assert play(client, world, "tv-1").status_code == 200
    assert reason(play(client, world, "tv-2")) == "too_many_devices"
    committed(subscribers.update_subscriber, world["alice"], caller=caller(world["portal"]), data={"maxDevices": None})
    assert play(client, world, "tv-2").status_code == 200


def test_without_registration_only_devices_a_manager_added_play(client, world, cache_backend, committed):
    settings_of(world, committed, allowDeviceRegistration=False)
    assert reason(play(client, world, "tv-1")) == "unknown_device"
    assert not Device.objects.exists()
    committed(devices.add_device, world["portal"], caller=caller(world["portal"]),
              data={"subscriberId": world["alice"].public_id, "kind": "player", "uid": "tv-1"})
    assert play(client, world, "tv-1").status_code == 200
    assert play(client, world, None).status_code == 200  # no identity: not a device decision


def test_a_removed_device_is_a_new_device_at_once(client, world, cache_backend, committed, commits):
    settings_of(world, committed, maxDevicesPerSubscriber=1)
    with commits(execute=True):
        play(client, world, "tv-1")
    assert reason(play(client, world, "tv-2")) == "too_many_devices"
    committed(devices.remove_device, Device.objects.get(uid="tv-1"), caller=caller(world["portal"]))
    assert play(client, world, "tv-2").status_code == 200


def test_an_update_session_is_not_a_device_decision(client, world, cache_backend, committed, commits):
    settings_of(world, committed, maxDevicesPerSubscriber=1)
    with commits(execute=True):
        play(client, world, "tv-1", session_id="s-1")
    assert play(client, world, "tv-2", session_id="s-2", request_type="update_session").status_code == 200
    assert uids(world["alice"]) == ["tv-1"]


def test_a_known_device_is_answered_without_any_query(client, world, cache_backend, committed, commits,
                                                      django_assert_num_queries):
    settings_of(world, committed, maxDevicesPerSubscriber=2)
    with commits(execute=True):
        play(client, world, "tv-1", session_id="warm-1")
        play(client, world, "tv-2", session_id="warm-2")
    play(client, world, "tv-1", session_id="warm-1", request_type="update_session")  # the facts again, cached
    play(client, world, "tv-3")  # a refusal from the cached rules
    play(client, world, "tv-1", name="sport")  # the channel names, cached
    with django_assert_num_queries(0):
        assert play(client, world, "tv-1", session_id="warm-1", request_type="update_session").status_code == 200
        assert reason(play(client, world, "tv-3")) == "too_many_devices"
        assert reason(play(client, world, "tv-1", name="sport")) == "not_in_packages"


def test_a_known_devices_new_session_on_redis_costs_no_query(client, world, on_redis, committed, commits,
                                                             django_assert_num_queries):
    with commits(execute=True):
        play(client, world, "tv-1")
    play(client, world, "tv-1")  # the facts again, with the device
    sessions.write_opened_sessions()
    with django_assert_num_queries(0):
        assert play(client, world, "tv-1", session_id="new-1").status_code == 200


def test_last_seen_is_written_with_the_session_start_at_most_every_five_minutes(client, world, cache_backend,
                                                                                committed, commits, time_machine):
    start = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    time_machine.move_to(start, tick=False)
    with commits(execute=True):
        play(client, world, "tv-1")
    time_machine.move_to(start + dt.timedelta(minutes=2), tick=False)
    play(client, world, "tv-1", ip="192.0.2.77")
    sessions.write_opened_sessions()
    assert Device.objects.get().last_seen_at == start
    time_machine.move_to(start + dt.timedelta(minutes=6), tick=False)
    play(client, world, "tv-1", ip="192.0.2.78")
    sessions.write_opened_sessions()
    device = Device.objects.get()
    assert (device.last_seen_at, device.last_ip) == (start + dt.timedelta(minutes=6), "192.0.2.78")


def _race(world, count: int) -> list[str | None]:
    """``count`` unknown devices ask at the same instant, each on a connection of its own."""
    barrier = threading.Barrier(count)
    results: list[str | None] = [None] * count

    def attempt(index):
        try:
            barrier.wait()
            results[index] = devices.see_device(world["alice"].id, f"racer-{index}", "player")
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return results


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("policy", ["refuse", "replace_oldest"])
def test_two_devices_racing_for_the_last_place_one_wins(world, policy):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (SQLite serialises every write anyway)")
    portals.update_portal(world["portal"], caller=caller(world["portal"]),
                          data={"settings": {"maxDevicesPerSubscriber": 2, "deviceLimitPolicy": policy}})
    assert devices.see_device(world["alice"].id, "first", "player") is None
    results = _race(world, 2)
    assert Device.objects.filter(subscriber=world["alice"]).count() == 2  # never over the limit
    if policy == "refuse":
        assert sorted(results, key=str) == [None, "too_many_devices"]
        assert uids(world["alice"]) == ["first", next(f"racer-{i}" for i, r in enumerate(results) if r is None)]
    else:  # both play, one after the other; the later one replaced the oldest
        assert results == [None, None]
        assert Operation.objects.filter(type="removeDevice").count() == 1
