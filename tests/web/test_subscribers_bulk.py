"""Bulk actions on the subscriber list: selected rows or every subscriber matching the filter."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest

from catena_site.errors import Forbidden, NotFound
from monitoring.operations import Operation, OperationType
from portals.auth import Caller
from subscribers import services
from subscribers.models import Subscriber, Subscription
from tests.content.test_channels_api import make_package
from tests.factories import make_manager
from tests.subscribers.test_subscribers_api import make_subscriber

from .conftest import page


@pytest.fixture
def crowd(portal):
    """Six subscribers: three named "Promo" (one already has "weekend"), three others."""
    weekend = make_package(portal, "weekend")
    people = [make_subscriber(portal, f"Promo {n}", "1", f"5550100{n}") for n in range(3)]
    people += [make_subscriber(portal, f"Other {n}", "1", f"5550200{n}") for n in range(3)]
    services.subscribe(people[0], weekend, caller=Caller(portal=portal))
    return {"weekend": weekend, "people": people}


def holders(package) -> set[str]:
    return set(Subscription.objects.filter(package=package).values_list("subscriber__name", flat=True))


def test_adding_a_package_to_selected_subscribers_confirms_the_count_first(web, crowd):
    weekend, people = crowd["weekend"], crowd["people"]
    client = web["subscribers"]
    chosen = {"action": "subscribe", "package": weekend.public_id,
              "ids": [people[0].public_id, people[1].public_id, people[3].public_id]}
    confirmation = client.post("/subscribers/bulk/", chosen)
    assert confirmation.status_code == 200
    html = page(confirmation)
    summary = re.search(r'data-testid="bulk-summary">(.*?)</p>', html, re.S).group(1)
    assert "<strong>2</strong> subscribers will get package" in summary and "1 already has it" in summary
    assert holders(weekend) == {"Promo 0"}  # nothing changed yet
    response = client.post("/subscribers/bulk/", {**chosen, "confirm": "1"})
    assert response.status_code == 302 and response["Location"] == "/subscribers/"
    assert holders(weekend) == {"Promo 0", "Promo 1", "Other 0"}
    assert "2 subscribers now have package weekend." in page(client.get("/subscribers/"))
    assert Operation.objects.filter(type=OperationType.CREATE_PACKAGE_SUBSCRIBER).count() == 3


def test_all_matching_the_filter_then_removing(web, crowd):
    weekend = crowd["weekend"]
    client = web["subscribers"]
    listing = page(client.get("/subscribers/", {"search": "promo"}))
    assert 'data-testid="matching-count">3<' in listing
    query = re.search(r'name="query" value="([^"]*)"', listing).group(1)
    assert query == "search=promo"
    add = {"action": "subscribe", "package": weekend.public_id, "all_matching": "1", "query": query}
    html = page(client.post("/subscribers/bulk/", add))
    assert "all subscribers matching the filter: <strong>3</strong> subscribers" in html
    assert "<strong>2</strong> subscribers will get package" in html
    response = client.post("/subscribers/bulk/", {**add, "confirm": "1"})
    assert response["Location"] == "/subscribers/?search=promo"
    assert holders(weekend) == {"Promo 0", "Promo 1", "Promo 2"}
    # The weekend is over: remove it from everyone who has it.
    remove = {"action": "unsubscribe", "package": weekend.public_id, "all_matching": "1", "query": ""}
    html = page(client.post("/subscribers/bulk/", remove))
    assert "<strong>3</strong> subscribers will lose package" in html and "3 do not have it" in html
    client.post("/subscribers/bulk/", {**remove, "confirm": "1"})
    assert holders(weekend) == set()
    assert "3 subscribers no longer have package weekend." in page(client.get("/subscribers/"))


def test_nothing_selected_or_no_package_is_explained(web, crowd):
    client = web["subscribers"]
    response = client.post("/subscribers/bulk/", {"action": "subscribe", "package": crowd["weekend"].public_id})
    assert response.status_code == 302
    assert "Select subscribers first" in page(client.get("/subscribers/"))
    client.post("/subscribers/bulk/", {"action": "subscribe", "ids": crowd["people"][1].public_id})
    assert "Choose the package" in page(client.get("/subscribers/"))
    assert holders(crowd["weekend"]) == {"Promo 0"}


def test_every_missing_choice_of_a_bulk_action_is_explained_at_once(web, crowd):
    client = web["subscribers"]
    before = Operation.objects.count()
    for data in ({"confirm": "1"}, {"action": "delete", "package": "nope", "ids": ["nope"], "confirm": "1"}):
        response = client.post("/subscribers/bulk/", data)
        assert response.status_code == 302 and response["Location"] == "/subscribers/"
        html = page(client.get("/subscribers/"))
        assert "Choose an action: add a package or remove a package." in html
        assert "Choose the package to add or remove." in html
        assert ("Select subscribers first, or all subscribers matching the filter." if "ids" not in data
                else "The selection is not valid; select the subscribers again.") in html
    assert holders(crowd["weekend"]) == {"Promo 0"} and Operation.objects.count() == before


def test_bulk_services_skip_those_already_in_the_target_state(portal, crowd):
    weekend, people = crowd["weekend"], crowd["people"]
    caller = Caller(portal=portal)
    assert services.bulk_subscribe(portal, [p.id for p in people], weekend, caller=caller) == 5
    assert services.bulk_subscribe(portal, [p.id for p in people], weekend, caller=caller) == 0
    promo = Subscriber.objects.filter(name__startswith="Promo")
    assert services.bulk_unsubscribe(portal, promo, weekend, caller=caller) == 3
    assert holders(weekend) == {"Other 0", "Other 1", "Other 2"}


def test_bulk_services_stay_in_the_portal_and_check_the_permission(portal, other_portal, crowd):
    stranger = make_subscriber(other_portal, "Stranger", "1", "5550300")
    weekend = crowd["weekend"]
    assert services.bulk_subscribe(portal, [stranger.id], weekend, caller=Caller(portal=portal)) == 0
    with pytest.raises(NotFound):
        services.bulk_subscribe(other_portal, [stranger.id], weekend, caller=Caller(portal=other_portal))
    viewer = make_manager(portal, "bulk-viewer@example.com")
    with pytest.raises(Forbidden):
        services.bulk_subscribe(portal, [], weekend, caller=Caller(portal=portal, manager=viewer))


def test_a_failure_midway_changes_nothing(portal, crowd, monkeypatch):
    weekend, people = crowd["weekend"], crowd["people"]
    calls = []
    real = services.subscribe

    def failing(subscriber, package, *, caller):
        calls.append(subscriber.id)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return real(subscriber, package, caller=caller)

    monkeypatch.setattr(services, "subscribe", failing)
    with pytest.raises(RuntimeError):
        services.bulk_subscribe(portal, [p.id for p in people], weekend, caller=Caller(portal=portal))
    assert holders(weekend) == {"Promo 0"}


def test_the_confirmation_keeps_the_selection_in_hidden_fields(web, crowd):
    weekend, people = crowd["weekend"], crowd["people"]
    html = page(web["owner"].post("/subscribers/bulk/", {"action": "subscribe", "package": weekend.public_id,
                                                         "ids": [people[2].public_id, people[4].public_id],
                                                         "query": urlencode({"search": "x"})}))
    assert html.count('name="ids"') == 2 and 'name="confirm" value="1"' in html
    assert 'name="query" value="search=x"' in html
