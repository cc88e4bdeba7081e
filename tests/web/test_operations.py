"""The dashboard and the operations log screen."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import transaction
from django.utils import timezone

from catena_site.ids import encode_id, new_id
from monitoring.operations import Actor, Operation, OperationType, record
from monitoring.views import summarize_payload
from tests.factories import make_manager

from .conftest import page, table


def log(portal, type=OperationType.CREATE_SUBSCRIBER, *, actor=None, subscriber_id=None, package_id=None,
        payload=None, created_at=None) -> Operation:
    """An operation as a service writes it; ``created_at`` moves it in time."""
    with transaction.atomic():
        operation = record(portal, type, actor=actor or Actor.system(), payload=payload or {},
                           subscriber_id=subscriber_id, package_id=package_id)
    if created_at is not None:
        Operation.objects.filter(pk=operation.pk).update(created_at=created_at)
    return operation


def rows(response) -> list[str]:
    return re.findall(r"<tr>.*?</tr>", table(response), re.S)


def test_the_dashboard_counts_managers_and_operations_of_the_last_day(web, portal, managers, other_portal):
    log(portal, created_at=timezone.now() - dt.timedelta(hours=25))
    log(other_portal)
    recent = Operation.objects.filter(portal=portal, created_at__gte=timezone.now() - dt.timedelta(hours=24))
    html = page(web["viewer"].get("/"))
    counts = dict((label.strip(), int(value)) for value, label in re.findall(
        r'<div class="stat-value">(\d+)</div>\s*<div class="stat-label">([^<]+)</div>', html))
    assert counts == {"Channels": 0, "Packages": 0, "Active subscribers": 0, "Blocked subscribers": 0,
                      "Managers": 5, "Operations in the last 24 hours": recent.count()}


def test_the_dashboard_lists_the_most_recent_operations(web, portal, managers):
    for n in range(12):
        log(portal, payload={"name": f"Subscriber {n:02d}"})
    html = table(web["viewer"].get("/"))
    assert "Subscriber 11" in html and "Subscriber 02" in html and "Subscriber 01" not in html


def test_the_log_shows_time_type_actor_ids_and_payload_newest_first(web, portal, managers):
    subscriber_id, package_id = new_id(), new_id()
    web["admin"].post("/managers/new/", {"email": "first@example.com", "password": "Fresh-Pass-42!"})
    log(portal, OperationType.CREATE_PACKAGE_SUBSCRIBER, subscriber_id=subscriber_id, package_id=package_id,
        payload={"packageName": "premium"}, actor=Actor(Actor.API_KEY))
    found = rows(web["viewer"].get("/operations/"))
    assert "Create Package Subscriber" in found[0] and "API key" in found[0]
    assert encode_id(subscriber_id) in found[0] and encode_id(package_id) in found[0]
    assert "packageName: premium" in found[0]
    assert "Create Manager" in found[1] and "admin@example.com" in found[1] and "first@example.com" in found[1]


def test_the_log_filters_by_type(web, portal, managers):
    log(portal, OperationType.DELETE_SUBSCRIBER, payload={"name": "Gone"})
    log(portal, OperationType.CREATE_SUBSCRIBER, payload={"name": "Kept"})
    html = table(web["viewer"].get("/operations/", {"type": "deleteSubscriber"}))
    assert "Gone" in html and "Kept" not in html


def test_the_log_filters_by_subscriber_and_package(web, portal, managers):
    first, second, package = new_id(), new_id(), new_id()
    log(portal, subscriber_id=first, payload={"name": "First"})
    log(portal, subscriber_id=second, payload={"name": "Second"})
    log(portal, package_id=package, payload={"name": "Package op"})
    html = table(web["viewer"].get("/operations/", {"subscriberId": f" {encode_id(first)} "}))
    assert "First" in html and "Second" not in html
    html = table(web["viewer"].get("/operations/", {"packageId": encode_id(package)}))
    assert "Package op" in html and "First" not in html


def test_the_log_filters_by_actor_from_a_list_of_the_portals_managers(web, portal, managers, other_portal):
    admin = managers["admin"]
    log(portal, actor=Actor(Actor.MANAGER, admin.id, admin.email), payload={"name": "By admin"})
    log(portal, payload={"name": "By system"})
    response = web["viewer"].get("/operations/", {"actorId": admin.public_id})
    assert "By admin" in table(response) and "By system" not in table(response)
    html = page(response)
    assert f'<option value="{admin.public_id}" selected>admin@example.com</option>' in html
    assert other_portal.owner.email not in html


def test_the_log_filters_by_days_including_the_last_day(web, portal, managers):
    day = dt.datetime(2025, 3, 10, tzinfo=dt.UTC)
    log(portal, payload={"name": "Before"}, created_at=day - dt.timedelta(minutes=1))
    log(portal, payload={"name": "First day"}, created_at=day)
    log(portal, payload={"name": "Last day"}, created_at=day + dt.timedelta(days=1, hours=23))
    log(portal, payload={"name": "After"}, created_at=day + dt.timedelta(days=2))
    html = table(web["viewer"].get("/operations/", {"from": "2025-03-10", "to": "2025-03-11"}))
    assert "First day" in html and "Last day" in html
    assert "Before" not in html and "After" not in html


@pytest.mark.parametrize("query, message", [({"subscriberId": "nope"}, "Subscriber"),
                                            ({"to": "yesterday"}, "To"),
                                            ({"type": "noSuchType"}, "Type")])
def test_an_invalid_filter_is_explained(query, message, web, portal):
    log(portal, payload={"name": "Hidden"})
    response = web["viewer"].get("/operations/", query)
    html = page(response)
    assert response.status_code == 200
    assert f"<li>{message}:" in html and "Hidden" not in html


def test_the_log_never_shows_another_portals_operations(web, portal, other_portal):
    log(other_portal, payload={"name": "Elsewhere"})
    log(portal, payload={"name": "Here"})
    html = table(web["viewer"].get("/operations/"))
    assert "Here" in html and "Elsewhere" not in html


def test_the_log_pages_newest_first_without_repeating_rows(web, portal):
    for n in range(55):
        log(portal, payload={"name": f"op-{n:02d}"})
    client = web["viewer"]
    first = client.get("/operations/", {"type": "createSubscriber"})
    assert "op-54" in table(first) and "op-05" in table(first) and "op-04" not in table(first)
    next_url = re.search(r'href="(\?[^"]+)" rel="next"', page(first)).group(1).replace("&amp;", "&")
    assert "type=createSubscriber" in next_url
    second = client.get("/operations/" + next_url)
    assert [f"op-{n:02d}" in table(second) for n in (4, 0, 5)] == [True, True, False]
    assert "First page" in page(second)


def test_an_empty_log_says_so(web):
    assert "No operations found" in page(web["viewer"].get("/operations/", {"type": "deleteChannel"}))


def test_a_payload_summary_reads_changes_as_old_to_new():
    summary = summarize_payload({"managerId": "mKl9SW3AAAE.", "email": "a@example.com",
                                 "changes": {"name": {"old": "A", "new": "B"}}})
    assert summary == "managerId: mKl9SW3AAAE.; email: a@example.com; name: A → B"


def test_a_payload_summary_of_a_creation_shows_each_value_once():
    summary = summarize_payload({"email": "a@example.com", "changes": {"email": {"old": None, "new": "a@example.com"},
                                                                       "isAdmin": {"old": None, "new": True}}})
    assert summary == "email: a@example.com; isAdmin: true"


def test_the_operations_of_a_deleted_manager_keep_their_email(web, portal, managers):
    gone = make_manager(portal, "gone@example.com", is_admin=True)
    log(portal, actor=Actor(Actor.MANAGER, gone.id, gone.email), payload={"name": "Old work"})
    web["owner"].post(f"/managers/{gone.public_id}/delete/")
    assert "gone@example.com" in rows(web["viewer"].get("/operations/"))[1]


def test_a_change_made_in_the_screens_records_the_managers_email_in_the_payload(web, portal, managers):
    assert web["admin"].post("/managers/new/", {"email": "first@example.com",
                                                "password": "Fresh-Pass-42!"}).status_code == 302
    operation = Operation.objects.get(type=OperationType.CREATE_MANAGER, payload__email="first@example.com")
    assert operation.payload["managerEmail"] == "admin@example.com"
    # The log's summary leaves it to the "By" column (the full payload shows it)
    row = rows(web["viewer"].get("/operations/"))[0]
    assert "managerEmail" not in row.split("<details")[0] and "&quot;managerEmail&quot;" in row


def test_a_payload_summary_leaves_the_manager_email_to_the_actor_column():
    assert summarize_payload({"packageName": "basic", "managerEmail": "a@example.com"}) == "packageName: basic"
