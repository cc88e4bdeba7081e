"""Subscription periods in the auth check (lifecycle.md §1): decided to the second from the cached facts, with
no job and no invalidation; ``subscription_expired`` when only an expired subscription granted the channel; the
minute job records each expiry once, closes the sessions and asks the streamer to re-authorize."""

from __future__ import annotations

import datetime as dt
import math
import time
import uuid

from monitoring.models import PlaySession
from monitoring.operations import Operation
from subscribers import services as subscribers
from subscribers.models import Subscription
from subscribers.tasks import expire_subscriptions
from tests.conftest import API, api_client

from .conftest import caller, check, make_package, make_subscriber, reason
from .test_closing import FakeFlussonic, play, session

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def iso(instant: dt.datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def subscribe(world, package, **period):
    return subscribers.subscribe(world["alice"], package, caller=caller(world["portal"]), **period)


def expiries() -> list[Operation]:
    return list(Operation.objects.filter(type="expirePackageSubscriber").order_by("id"))


def test_expiry_to_the_second_through_the_http_auth_check_without_the_job(client, world):
    """Real time, once: a subscription made through the API ending 3 s ahead is refused the moment it ends."""
    token = world["alice"].playback_token
    ends = math.ceil(time.time()) + 3
    body = {"subscriberId": world["alice"].public_id, "packageId": world["premium"].public_id,
            "expiresAt": iso(dt.datetime.fromtimestamp(ends, dt.UTC))}
    response = api_client(world["portal"].api_key).post(f"{API}/packages-subscribers", body, format="json")
    assert response.status_code == 200, response.content
    assert check(client, token, "sport").status_code == 200  # cold, then warm
    assert check(client, token, "sport", request_type="update_session").status_code == 200
    time.sleep(max(0.0, ends - 0.4 - time.time()))
    assert check(client, token, "sport", request_type="update_session").status_code == 200  # still in force
    time.sleep(max(0.0, ends + 0.05 - time.time()))
    assert reason(check(client, token, "sport", request_type="update_session")) == "subscription_expired"
    assert check(client, token, "news").status_code == 200  # basic has no end
    assert expiries() == []  # no job ran: the cached facts carry the instant
    assert Subscription.objects.filter(package=world["premium"]).exists()  # expired, kept


def test_a_period_in_force_is_answered_from_the_cache_without_queries(client, world, cache_backend, time_machine,
                                                                      django_assert_num_queries):
    time_machine.move_to(T0, tick=False)
    subscribe(world, world["premium"], starts_at=T0 - dt.timedelta(days=1), expires_at=T0 + dt.timedelta(minutes=10))
    token, session_id, news = world["alice"].playback_token, str(uuid.uuid4()), str(uuid.uuid4())
    check(client, token, "sport", session_id=session_id)
    check(client, token, "news", session_id=news)
    check(client, token, "kids")
    time_machine.move_to(T0 + dt.timedelta(minutes=9, seconds=59), tick=False)  # (the session's heartbeat lives)
    with django_assert_num_queries(0):
        assert check(client, token, "sport", session_id=session_id, request_type="update_session").status_code == 200
        assert reason(check(client, token, "kids", request_type="update_session")) == "not_in_packages"
    time_machine.move_to(T0 + dt.timedelta(minutes=10), tick=False)  # the end itself is excluded
    assert reason(check(client, token, "sport", request_type="update_session")) == "subscription_expired"
    with django_assert_num_queries(0):  # recomputed once, warm again
        assert reason(check(client, token, "sport", request_type="update_session")) == "subscription_expired"
        assert check(client, token, "news", session_id=news, request_type="update_session").status_code == 200


def test_a_future_start_is_allowed_when_it_arrives(client, world, cache_backend, time_machine):
    time_machine.move_to(T0, tick=False)
    subscribe(world, world["premium"], starts_at=T0 + dt.timedelta(hours=1))
    token = world["alice"].playback_token
    assert reason(check(client, token, "sport")) == "not_in_packages"  # not yet: not an expiry either
    time_machine.move_to(T0 + dt.timedelta(minutes=59, seconds=59), tick=False)
    assert reason(check(client, token, "sport", request_type="update_session")) == "not_in_packages"
    time_machine.move_to(T0 + dt.timedelta(hours=1), tick=False)
    assert check(client, token, "sport", request_type="update_session").status_code == 200


def test_the_reason_is_expired_only_when_nothing_else_grants_the_channel(client, world, cache_backend, time_machine):
    time_machine.move_to(T0, tick=False)
    both = make_package(world["portal"], "both", [world["news"], world["sport"]])
    subscribe(world, both, expires_at=T0 + dt.timedelta(hours=1))
    token = world["alice"].playback_token
    assert check(client, token, "sport").status_code == 200
    time_machine.move_to(T0 + dt.timedelta(hours=2), tick=False)
    assert check(client, token, "news").status_code == 200  # basic grants it too
    assert reason(check(client, token, "sport")) == "subscription_expired"
    assert reason(check(client, token, "kids")) == "not_in_packages"
    assert reason(check(client, token, "nosuch")) == "unknown_stream"


def test_changing_the_period_applies_at_once(client, world, cache_backend, committed, time_machine):
    time_machine.move_to(T0, tick=False)
    subscription = subscribe(world, world["premium"], expires_at=T0 - dt.timedelta(days=1))
    token = world["alice"].playback_token
    assert reason(check(client, token, "sport")) == "subscription_expired"
    committed(subscribers.change_period, subscription, starts_at=None, expires_at=T0 + dt.timedelta(days=30),
              actor=caller(world["portal"]).actor)
    assert check(client, token, "sport", request_type="update_session").status_code == 200


class TestTheMinuteJob:
    def test_it_records_each_expiry_once_even_when_it_runs_twice(self, client, world, committed, time_machine):
        time_machine.move_to(T0, tick=False)
        premium = subscribe(world, world["premium"], expires_at=T0 + dt.timedelta(minutes=5))
        bob = make_subscriber(world["portal"], "Bob", [world["basic"]])
        subscribers.subscribe(bob, world["premium"], caller=caller(world["portal"]),
                              expires_at=T0 + dt.timedelta(days=5))
        assert committed(expire_subscriptions) == 0
        time_machine.move_to(T0 + dt.timedelta(minutes=6), tick=False)
        assert committed(expire_subscriptions) == 1
        assert committed(expire_subscriptions) == 0  # a second run records nothing
        [operation] = expiries()
        assert operation.actor_type == "system" and operation.subscriber_id == world["alice"].id
        assert operation.payload == {"packageId": world["premium"].public_id,
                                     "subscriberId": world["alice"].public_id, "packageName": "premium",
                                     "expiresAt": "2026-03-01T12:05:00Z"}
        premium.refresh_from_db()
        assert premium.expiry_recorded_at == T0 + dt.timedelta(minutes=6)

    def test_two_runs_at_once_claim_each_expiry_once(self, world, time_machine):
        time_machine.move_to(T0, tick=False)
        subscribe(world, world["premium"], expires_at=T0 - dt.timedelta(minutes=1))
        # A run that read the candidates before another run claimed them: its conditional UPDATE finds none.
        subscription = Subscription.objects.get(package=world["premium"])
        assert Subscription.objects.filter(pk=subscription.pk, expiry_recorded_at__isnull=True).update(
            expiry_recorded_at=T0) == 1
        assert subscribers.expire_subscriptions() == 0
        assert expiries() == []

    def test_it_closes_the_sessions_and_asks_the_streamer_to_reauthorize(self, client, world, committed,
                                                                        time_machine, settings):
        time_machine.move_to(T0, tick=False)
        subscribe(world, world["premium"], expires_at=T0 + dt.timedelta(minutes=5))
        sport, news = play(client, world["alice"], "sport"), play(client, world["alice"], "news")
        time_machine.move_to(T0 + dt.timedelta(minutes=5, seconds=30), tick=False)
        with FakeFlussonic() as flussonic:
            settings.STREAMER_API_URL = flussonic.url
            assert committed(expire_subscriptions) == 1
        assert not session(sport).active and session(sport).close_reason == "access"
        assert session(news).active
        assert [(c[1], c[2]["name"]) for c in flussonic.calls] == [("/streamer/api/v3/sessions/reauth", "sport")]

    def test_a_new_end_is_a_new_period_for_the_job(self, world, committed, time_machine):
        time_machine.move_to(T0, tick=False)
        subscription = subscribe(world, world["premium"], expires_at=T0 - dt.timedelta(minutes=1))
        assert committed(expire_subscriptions) == 1
        Subscription.objects.filter(pk=subscription.pk).update(reminded_at=T0)
        actor = caller(world["portal"]).actor
        committed(subscribers.change_period, subscription, starts_at=T0 - dt.timedelta(days=9),
                  expires_at=T0 - dt.timedelta(minutes=1), actor=actor)  # the start alone: same end
        subscription.refresh_from_db()
        assert (subscription.expiry_recorded_at, subscription.reminded_at) == (T0, T0)
        assert committed(expire_subscriptions) == 0
        committed(subscribers.change_period, subscription, starts_at=None, expires_at=T0 + dt.timedelta(hours=1),
                  actor=actor)
        subscription.refresh_from_db()
        assert (subscription.expiry_recorded_at, subscription.reminded_at) == (None, None)
        time_machine.move_to(T0 + dt.timedelta(hours=2), tick=False)
        assert committed(expire_subscriptions) == 1
        assert [op.payload["expiresAt"] for op in expiries()] == ["2026-03-01T11:59:00Z", "2026-03-01T13:00:00Z"]
        assert PlaySession.objects.count() == 0
