"""The subscriber list's expiry filters (API): ``expiresBefore``, ``expiresWithinDays``, ``expired``."""

from __future__ import annotations

import pytest

from tests.conftest import API
from tests.content.test_channels_api import make_package
from tests.subscribers.periods_helpers import at, subscribe_for
from tests.subscribers.test_subscribers_api import make_subscriber

NOW = "2026-03-10T12:00:00Z"


@pytest.fixture
def people(portal, time_machine):
    time_machine.move_to(NOW, tick=False)
    basic, sport = make_package(portal, "basic"), make_package(portal, "sport")
    soon = make_subscriber(portal, "Soon", phone="1000001")  # basic ends in 2 days, sport open
    subscribe_for(soon, basic, expires_at=at("2026-03-12T12:00:00Z"))
    subscribe_for(soon, sport)
    later = make_subscriber(portal, "Later", phone="1000002")  # ends in 20 days
    subscribe_for(later, basic, expires_at=at("2026-03-30T00:00:00Z"))
    lapsed = make_subscriber(portal, "Lapsed", phone="1000003")  # ended yesterday, sport ends in 3 days
    subscribe_for(lapsed, basic, expires_at=at("2026-03-09T12:00:00Z"))
    subscribe_for(lapsed, sport, expires_at=at("2026-03-13T12:00:00Z"))
    future = make_subscriber(portal, "Future", phone="1000004")  # not started yet, ends in 5 days
    subscribe_for(future, basic, starts_at=at("2026-03-11T00:00:00Z"), expires_at=at("2026-03-15T00:00:00Z"))
    make_subscriber(portal, "Open", phone="1000005")
    return time_machine


def names(api, query: str) -> list[str]:
    response = api.get(f"{API}/subscribers?{query}")
    assert response.status_code == 200, response.json()
    return sorted(s["name"] for s in response.json()["subscribers"])


def test_expires_before_lists_subscribers_with_a_subscription_in_force_ending_before_the_instant(api, people):
    assert names(api, "expiresBefore=2026-03-13") == ["Soon"]
    assert names(api, "expiresBefore=2026-03-13T12:00:01Z") == ["Lapsed", "Soon"]
    assert names(api, "expiresBefore=2026-04-01") == ["Lapsed", "Later", "Soon"]  # not Future: not in force
    assert names(api, "expiresBefore=2026-03-10") == []  # the one that already ended does not count


def test_expires_within_days_counts_from_now(api, people):
    assert names(api, "expiresWithinDays=7") == ["Lapsed", "Soon"]
    people.move_to("2026-03-25T00:00:00Z", tick=False)
    assert names(api, "expiresWithinDays=7") == ["Later"]


def test_expired_lists_subscribers_having_a_subscription_whose_period_ended(api, people):
    assert names(api, "expired=true") == ["Lapsed"]
    assert names(api, "expired=false") == ["Future", "Later", "Open", "Soon"]
    people.move_to("2026-03-12T12:00:00Z", tick=False)  # Soon's basic ends to the second
    assert names(api, "expired=true") == ["Lapsed", "Soon"]


def test_expiry_filters_combine_with_the_others(api, people):
    assert names(api, "expired=true&expiresWithinDays=7") == ["Lapsed"]
    assert names(api, "expiresWithinDays=7&search=soon") == ["Soon"]


@pytest.mark.parametrize(
    ("query", "field"),
    [("expiresBefore=tomorrow", "expiresBefore"), ("expiresBefore=2026-13-01", "expiresBefore"),
     ("expiresWithinDays=0", "expiresWithinDays"), ("expiresWithinDays=1.5", "expiresWithinDays"),
     ("expiresWithinDays=3651", "expiresWithinDays"), ("expiresWithinDays=abc", "expiresWithinDays")],
)
def test_bad_expiry_filters_are_400_naming_the_parameter(api, portal, query, field):
    response = api.get(f"{API}/subscribers?{query}")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]


def test_expiry_filters_see_only_the_callers_portal(people, stranger):
    response = stranger.get(f"{API}/subscribers?expiresWithinDays=30")
    assert response.status_code == 200 and response.json()["subscribers"] == []
