"""Subscription periods through the Management API and the client API (lifecycle.md §1): ``startsAt``/
``expiresAt`` on ``POST`` and ``PUT /packages-subscribers``, their rules, operations, the subscriber JSON."""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework.test import APIClient

from monitoring.operations import Operation
from portals.auth import Caller
from subscribers import services
from subscribers.models import Subscription
from tests.client.conftest import CLIENT
from tests.client.test_watching import app_token
from tests.conftest import API
from tests.content.test_channels_api import make_channel, make_package
from tests.subscribers.test_subscribers_api import make_subscriber

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
URL = f"{API}/packages-subscribers"


@pytest.fixture
def world(portal, time_machine):
    time_machine.move_to(T0, tick=False)
    news, sport = make_channel(portal, "news", "News"), make_channel(portal, "sport", "Sport")
    return {"basic": make_package(portal, "basic", [news]), "premium": make_package(portal, "premium", [sport]),
            "subscriber": make_subscriber(portal)}


def body(world, package="basic", **period):
    return {"subscriberId": world["subscriber"].public_id, "packageId": world[package].public_id, **period}


def stored(world, package="basic"):
    return Subscription.objects.filter(subscriber=world["subscriber"], package=world[package]) \
        .values_list("starts_at", "expires_at").first()


def operations(kind):
    return [op.payload for op in Operation.objects.filter(type=kind).order_by("id")]


class TestSubscribe:
    def test_the_manuals_call_is_unchanged(self, api, world):
        response = api.post(URL, body(world), format="json")
        assert response.status_code == 200
        assert response.json() == {**body(world), "portalId": world["subscriber"].portal.public_id}
        assert stored(world) == (None, None)
        assert operations("createPackageSubscriber") == [{
            "packageId": world["basic"].public_id, "subscriberId": world["subscriber"].public_id,
            "packageName": "basic"}]

    def test_a_period_as_dates_and_instants(self, api, world):
        response = api.post(URL, body(world, startsAt="2026-03-01", expiresAt="2026-04-01T10:30:00+02:00"),
                            format="json")
        assert response.status_code == 200
        assert set(response.json()) == {"subscriberId", "packageId", "portalId"}
        assert stored(world) == (dt.datetime(2026, 3, 1, tzinfo=dt.UTC), dt.datetime(2026, 4, 1, 8, 30, tzinfo=dt.UTC))
        assert operations("createPackageSubscriber")[0] == {
            "packageId": world["basic"].public_id, "subscriberId": world["subscriber"].public_id,
            "packageName": "basic", "startsAt": "2026-03-01T00:00:00Z", "expiresAt": "2026-04-01T08:30:00Z"}

    def test_an_existing_subscription_is_a_409_with_or_without_a_period(self, api, world):
        assert api.post(URL, body(world, expiresAt="2026-04-01"), format="json").status_code == 200
        again = api.post(URL, body(world, expiresAt="2026-05-01"), format="json")
        assert again.status_code == 409
        assert api.post(URL, body(world), format="json").status_code == 409
        assert stored(world) == (None, dt.datetime(2026, 4, 1, tzinfo=dt.UTC))  # PUT changes a period


class TestBadInput:
    @pytest.mark.parametrize(("period", "field", "reason"), [
        ({"startsAt": "2026-04-01", "expiresAt": "2026-03-15"}, "expiresAt", "Must be after startsAt."),
        ({"startsAt": "2026-04-01", "expiresAt": "2026-04-01"}, "expiresAt", "Must be after startsAt."),
        ({"expiresAt": "2036-03-01T12:00:01Z"}, "expiresAt", "Must be at most 10 years ahead."),
        ({"startsAt": "2040-01-01"}, "startsAt", "Must be at most 10 years ahead."),
        ({"expiresAt": "next week"}, "expiresAt", "Must be a date such as 2026-10-16 or a date and time such as "
                                                  "2026-10-16T15:00:00Z."),
        ({"startsAt": "2026-02-30"}, "startsAt", None),
        ({"startsAt": 1772366400}, "startsAt", None),
        ({"expiresAt": "01/04/2026"}, "expiresAt", None),
    ])
    def test_post_and_put_refuse_naming_the_field_and_store_nothing(self, api, world, period, field, reason):
        services.subscribe(world["subscriber"], world["premium"], caller=Caller(portal=world["subscriber"].portal))
        for method, package in (("post", "basic"), ("put", "premium")):
            before = Operation.objects.count()
            response = getattr(api, method)(URL, body(world, package, **period), format="json")
            assert response.status_code == 400, (method, response.content)
            errors = response.json()["errors"]
            assert list(errors) == [field], errors
            if reason:
                assert errors[field] == [reason]
            assert Operation.objects.count() == before
        assert stored(world) is None and stored(world, "premium") == (None, None)

    def test_exactly_ten_years_ahead_is_allowed(self, api, world):
        assert api.post(URL, body(world, expiresAt="2036-03-01T12:00:00Z"), format="json").status_code == 200

    def test_a_put_ending_before_the_kept_start_is_refused(self, api, world):
        assert api.post(URL, body(world, startsAt="2026-03-10"), format="json").status_code == 200
        response = api.put(URL, body(world, expiresAt="2026-03-05"), format="json")
        assert response.status_code == 400 and list(response.json()["errors"]) == ["expiresAt"]
        assert stored(world) == (dt.datetime(2026, 3, 10, tzinfo=dt.UTC), None)


class TestChangePeriod:
    def test_put_changes_the_ends_sent_and_records_old_and_new(self, api, world):
        api.post(URL, body(world, startsAt="2026-02-01", expiresAt="2026-03-01T12:00:00Z"), format="json")
        response = api.put(URL, body(world, expiresAt="2026-04-01"), format="json")
        assert response.status_code == 200
        assert response.json() == {**body(world), "portalId": world["subscriber"].portal.public_id,
                                   "startsAt": "2026-02-01T00:00:00Z", "expiresAt": "2026-04-01T00:00:00Z",
                                   "active": True}
        assert operations("updatePackageSubscriber") == [{
            "packageId": world["basic"].public_id, "subscriberId": world["subscriber"].public_id,
            "packageName": "basic", "expiresAt": {"old": "2026-03-01T12:00:00Z", "new": "2026-04-01T00:00:00Z"}}]
        response = api.put(URL, body(world, startsAt=None, expiresAt="2026-03-01"), format="json")  # null: open
        assert response.json()["startsAt"] is None and response.json()["active"] is False
        assert operations("updatePackageSubscriber")[1]["startsAt"] == {"old": "2026-02-01T00:00:00Z", "new": None}

    def test_the_same_period_again_records_nothing(self, api, world):
        api.post(URL, body(world, expiresAt="2026-04-01"), format="json")
        assert api.put(URL, body(world, expiresAt="2026-04-01T00:00:00Z"), format="json").status_code == 200
        assert api.put(URL, body(world), format="json").status_code == 200
        assert operations("updatePackageSubscriber") == []

    def test_not_subscribed_is_a_404_and_another_portals_ids_too(self, api, world, other_portal):
        assert api.put(URL, body(world, expiresAt="2026-04-01"), format="json").status_code == 404
        stranger = make_subscriber(other_portal, phone="5550199")
        response = api.put(URL, {"subscriberId": stranger.public_id, "packageId": world["basic"].public_id},
                           format="json")
        assert response.status_code == 404

    def test_readers_may_not_change_a_period(self, clients, world):
        services.subscribe(world["subscriber"], world["basic"], caller=Caller(portal=world["subscriber"].portal))
        assert clients["viewer"].put(URL, body(world, expiresAt="2026-04-01"), format="json").status_code == 403
        assert stored(world) == (None, None)


class TestSubscriberJson:
    def test_packages_are_those_in_force_and_subscriptions_all_of_them(self, api, world, time_machine):
        api.post(URL, body(world, expiresAt="2026-03-01T13:00:00Z"), format="json")
        api.post(URL, body(world, "premium", startsAt="2026-03-01T14:00:00Z"), format="json")
        subscriber = world["subscriber"].public_id

        def seen():
            detail = api.get(f"{API}/subscribers/{subscriber}").json()
            listed = api.get(f"{API}/subscribers").json()["subscribers"][0]
            assert detail == listed
            return detail["packages"], [(s["packageId"], s["active"]) for s in detail["subscriptions"]]

        basic, premium = world["basic"].public_id, world["premium"].public_id
        assert seen() == ([basic], [(basic, True), (premium, False)])
        time_machine.move_to(T0 + dt.timedelta(hours=1), tick=False)
        assert seen() == ([], [(basic, False), (premium, False)])
        time_machine.move_to(T0 + dt.timedelta(hours=2), tick=False)
        assert seen() == ([premium], [(basic, False), (premium, True)])
        subscription = api.get(f"{API}/subscribers/{subscriber}").json()["subscriptions"][1]
        assert subscription == {"packageId": premium, "startsAt": "2026-03-01T14:00:00Z", "expiresAt": None,
                                "active": True}


def test_the_client_api_honours_the_period(portal, api, world, time_machine):
    app = APIClient(HTTP_HOST=portal.domain)
    api.post(URL, body(world, expiresAt="2026-03-01T13:00:00Z"), format="json")
    api.post(URL, body(world, "premium", startsAt="2026-03-01T12:30:00Z"), format="json")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {app_token(world['subscriber'])}"}

    def watchable():
        channels = [c["name"] for c in app.get(f"{CLIENT}/channels", **auth).json()["channels"]]
        packages = [p["name"] for p in app.get(f"{CLIENT}/me", **auth).json()["packages"]]
        return channels, packages

    assert watchable() == (["news"], ["basic"])
    time_machine.move_to(T0 + dt.timedelta(minutes=45), tick=False)
    assert watchable() == (["news", "sport"], ["basic", "premium"])
    time_machine.move_to(T0 + dt.timedelta(hours=1), tick=False)
    assert watchable() == (["sport"], ["premium"])


def test_bulk_subscribe_gives_each_the_period(portal, world):
    others = [make_subscriber(portal, name=f"S{n}", phone=f"555010{n}") for n in range(3)]
    ends = T0 + dt.timedelta(days=30)
    count = services.bulk_subscribe(portal, [s.id for s in others], world["premium"], caller=Caller(portal=portal),
                                    expires_at=ends)
    assert count == 3
    assert set(Subscription.objects.filter(package=world["premium"]).values_list("starts_at", "expires_at")) == {
        (None, ends)}
    assert [p["expiresAt"] for p in operations("createPackageSubscriber")] == ["2026-03-31T12:00:00Z"] * 3
