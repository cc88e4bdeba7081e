"""The access rule, table-driven: each case builds a situation and states which channels are watchable."""

import pytest

from content import services as content
from portals.auth import Caller
from subscribers import services
from subscribers.access import watchable_channels
from tests.content.test_channels_api import make_channel, make_package
from tests.factories import make_portal, make_streaming_server
from tests.subscribers.test_subscribers_api import make_subscriber


def _world(portal):
    caller = Caller(portal=portal)
    news, sport, kids = (make_channel(portal, n, n.title()) for n in ("news", "sport", "kids"))
    basic = make_package(portal, "basic", [news])
    premium = make_package(portal, "premium", [news, sport])
    trial = make_package(portal, "trial", [kids])
    subscriber = make_subscriber(portal)
    return {"caller": caller, "subscriber": subscriber, "channels": {"news": news, "sport": sport, "kids": kids},
            "packages": {"basic": basic, "premium": premium, "trial": trial}}


def no_packages(w):
    pass


def free_only(w):
    content.add_free_package(w["packages"]["trial"], caller=w["caller"])


def explicit_only(w):
    services.subscribe(w["subscriber"], w["packages"]["premium"], caller=w["caller"])


def both(w):
    free_only(w)
    explicit_only(w)


def in_two_packages_one_removed(w):
    services.subscribe(w["subscriber"], w["packages"]["basic"], caller=w["caller"])
    services.subscribe(w["subscriber"], w["packages"]["premium"], caller=w["caller"])
    services.unsubscribe(w["subscriber"], w["packages"]["premium"], caller=w["caller"])


def disabled(w):
    both(w)
    services.set_disabled(w["subscriber"], True, caller=w["caller"])


def made_free_then_not_free(w):
    free_only(w)
    content.remove_free_package(w["packages"]["trial"], caller=w["caller"])


def channel_removed_from_package(w):
    explicit_only(w)
    content.remove_channel_from_package(w["packages"]["premium"], w["channels"]["sport"], caller=w["caller"])


def other_portals_package(w):
    other = make_portal("elsewhere", streaming_server=make_streaming_server("elsewhere-server"))
    foreign = make_package(other, "premium", [make_channel(other, "sport", "Foreign sport")])
    content.add_free_package(foreign, caller=Caller(portal=other))


CASES = [
    (no_packages, set()),
    (free_only, {"kids"}),
    (explicit_only, {"news", "sport"}),
    (both, {"news", "sport", "kids"}),
    (in_two_packages_one_removed, {"news"}),
    (disabled, set()),
    (made_free_then_not_free, set()),
    (channel_removed_from_package, {"news"}),
    (other_portals_package, set()),
]


@pytest.mark.parametrize(("situation", "expected"), CASES, ids=[case[0].__name__ for case in CASES])
def test_access_rule(portal, situation, expected):
    world = _world(portal)
    situation(world)
    subscriber = world["subscriber"]
    subscriber.refresh_from_db()
    assert {c.name for c in watchable_channels(subscriber)} == expected


def test_watchable_channels_is_one_query_and_lists_each_channel_once(portal, django_assert_num_queries):
    world = _world(portal)
    both(world)
    services.subscribe(world["subscriber"], world["packages"]["basic"], caller=world["caller"])
    with django_assert_num_queries(1):
        names = [c.name for c in watchable_channels(world["subscriber"]).order_by("name")]
    assert names == ["kids", "news", "sport"]
