import datetime as dt

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from catena_site.ids import encode_id, new_id
from monitoring.operations import Actor, Operation, record
from tests.conftest import API

OPERATION_KEYS = {"operationId", "type", "portalId", "subscriberId", "packageId", "createdAt", "updatedAt",
                  "payload", "actor"}


def _record(portal, type="createSubscriber", **kwargs):
    with transaction.atomic():
        return record(portal, type, actor=Actor.system(), **kwargs)


def test_operations_are_listed_newest_first_with_documented_fields(clients, managers, portal):
    response = clients["viewer"].get(f"{API}/operations")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"operations", "next"}
    assert [op["type"] for op in body["operations"]] == ["createManager"] * 4
    assert [op["payload"]["email"] for op in body["operations"]] == [
        "viewer@example.com", "subs@example.com", "content@example.com", "admin@example.com"]
    first = body["operations"][0]
    assert set(first) == OPERATION_KEYS
    assert first["portalId"] == portal.public_id
    assert first["actor"] == {"type": "apiKey", "managerId": None, "email": None}


def test_actor_names_the_manager(clients, managers, portal):
    clients["admin"].put(f"{API}/portal", {"branding": {"title": "New"}}, format="json")
    operation = clients["admin"].get(f"{API}/operations?type=updatePortal").json()["operations"][0]
    assert operation["actor"] == {"type": "manager", "managerId": managers["admin"].public_id,
                                  "email": "admin@example.com"}


def test_filters_by_repeatable_type_subscriber_and_package(api, portal):
    s1, s2, s3, p1 = new_id(), new_id(), new_id(), new_id()
    a = _record(portal, "createSubscriber", subscriber_id=s1)
    b = _record(portal, "deleteSubscriber", subscriber_id=s2)
    c = _record(portal, "createPackageSubscriber", subscriber_id=s3, package_id=p1)

    def ids(query):
        response = api.get(f"{API}/operations?{query}")
        assert response.status_code == 200, response.json()
        return [op["operationId"] for op in response.json()["operations"]]

    assert ids("type=createSubscriber&type=deleteSubscriber") == [b.public_id, a.public_id]
    assert ids(f"subscriberId={encode_id(s1)}&subscriberId={encode_id(s3)}") == [c.public_id, a.public_id]
    assert ids(f"packageId={encode_id(p1)}") == [c.public_id]
    assert ids(f"packageId={encode_id(p1)}&type=createSubscriber") == []


def test_filters_by_creation_date_or_datetime(api, portal):
    with time_machine.travel(dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC), tick=False):
        early = _record(portal)
    with time_machine.travel(dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC), tick=False):
        late = _record(portal)

    def ids(query):
        response = api.get(f"{API}/operations?{query}")
        assert response.status_code == 200, response.json()
        return [op["operationId"] for op in response.json()["operations"]]

    assert ids("created_at_gte=2026-03-02") == [late.public_id]
    assert ids("created_at_lt=2026-03-02") == [early.public_id]
    assert ids("created_at_gte=2026-03-01T23:00:00Z&created_at_lt=2026-03-02T09:59:59Z") == [early.public_id]
    assert ids("created_at_gte=2026-03-02T12:00:00%2B03:00") == [late.public_id]  # 09:00 UTC


@pytest.mark.parametrize("query", ["type=noSuchType", "subscriberId=abc", "packageId=aKl9SW3AAAF.",
                                   "created_at_gte=yesterday", "limit=0", "limit=1001", "limit=x", "cursor=%%%"])
def test_invalid_filters_are_400_naming_the_parameter(api, portal, query):
    response = api.get(f"{API}/operations?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()["errors"]


def test_pages_never_repeat_or_skip_rows_when_rows_are_added_between_requests(api, portal):
    for _ in range(5):
        _record(portal)
    page1 = api.get(f"{API}/operations?limit=2").json()
    assert len(page1["operations"]) == 2 and page1["next"]
    newer = _record(portal)  # arrives between requests: belongs before page 1, so it must not show up
    seen = [op["operationId"] for op in page1["operations"]]
    cursor = page1["next"]
    while cursor:
        page = api.get(f"{API}/operations?limit=2&cursor={cursor}").json()
        seen += [op["operationId"] for op in page["operations"]]
        cursor = page["next"]
    expected = [op.public_id for op in Operation.objects.filter(portal=portal).exclude(pk=newer.pk).order_by("-id")]
    assert seen == expected


def test_one_operation_by_id_and_other_portals_get_404(api, stranger, portal):
    operation = _record(portal, payload={"name": "x"})
    response = api.get(f"{API}/operations/{operation.public_id}")
    assert response.status_code == 200
    assert response.json()["payload"] == {"name": "x"}
    assert stranger.get(f"{API}/operations/{operation.public_id}").status_code == 404
    assert stranger.get(f"{API}/operations").json()["operations"] == []


def test_operations_cannot_be_edited_or_deleted(api, portal):
    operation = _record(portal)
    assert api.delete(f"{API}/operations/{operation.public_id}").status_code == 405
    assert api.put(f"{API}/operations/{operation.public_id}", {}, format="json").status_code == 405
    assert api.post(f"{API}/operations", {}, format="json").status_code == 405
    assert Operation.objects.filter(pk=operation.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_record_refuses_to_write_outside_a_transaction(portal):
    with pytest.raises(RuntimeError):
        record(portal, "createSubscriber", actor=Actor.system())
    assert not Operation.objects.exists()


def test_a_failed_change_leaves_no_operation_behind(api, managers, portal):
    before = Operation.objects.count()
    response = api.post(f"{API}/managers", {"email": "admin@example.com", "password": "Str0ng-Passw0rd!"},
                        format="json")
    assert response.status_code == 409
    assert Operation.objects.count() == before


def test_operations_list_runs_a_constant_number_of_queries(api, portal, django_assert_max_num_queries):
    for _ in range(30):
        _record(portal)
    with django_assert_max_num_queries(3):
        assert len(api.get(f"{API}/operations?limit=25").json()["operations"]) == 25


def test_timestamps_are_utc_with_z(api, portal):
    with time_machine.travel(timezone.now(), tick=False):
        _record(portal)
    created = api.get(f"{API}/operations").json()["operations"][0]["createdAt"]
    assert created.endswith("Z") and "+" not in created


def _manual_calls(client) -> dict[str, dict]:
    """The manual's calls in its order, made by ``client``: a package, a channel in it, a subscriber subscribed
    to it, a manager, and a portal change. Returns the payload of each operation they recorded, by type."""
    package = client.post(f"{API}/packages", {"name": "basic"}, format="json").json()
    channel = client.post(f"{API}/channels", {"name": "news", "title": "News"}, format="json").json()
    assert client.post(f"{API}/channels-packages", {"channelId": channel["channelId"],
                                                    "packageId": package["packageId"]},
                       format="json").status_code == 201
    subscriber = client.post(f"{API}/subscribers", {"name": "Ann", "phoneCountryCode": "1", "phone": "5550001"},
                             format="json").json()
    assert client.post(f"{API}/packages-subscribers", {"subscriberId": subscriber["subscriberId"],
                                                       "packageId": package["packageId"]},
                       format="json").status_code == 200
    assert client.post(f"{API}/managers", {"email": "new@example.com", "password": "Fresh-Pass-42", "name": "New"},
                       format="json").status_code == 201
    assert client.put(f"{API}/portal", {"branding": {"title": "New title"}}, format="json").status_code == 200
    payloads: dict[str, dict] = {}
    for operation in client.get(f"{API}/operations").json()["operations"]:  # newest first
        payloads.setdefault(operation["type"], operation["payload"])
    return payloads, package, subscriber


MANUAL_TYPES = {"createPackage", "createChannel", "addChannelToPackage", "createSubscriber",
                "createPackageSubscriber", "createManager", "updatePortal"}


def test_every_operation_a_manager_performed_carries_manager_email(portal):
    from tests.conftest import api_client
    from tests.factories import session_token

    payloads, package, subscriber = _manual_calls(api_client(session_token(portal.owner)))
    assert MANUAL_TYPES <= set(payloads)
    email = portal.owner.email
    for type in MANUAL_TYPES:
        assert payloads[type]["managerEmail"] == email, type
    # beside the documented payload, as the Russian manual shows it (5.2.11)
    assert payloads["createPackageSubscriber"] == {"packageId": package["packageId"],
                                                   "subscriberId": subscriber["subscriberId"],
                                                   "packageName": "basic", "managerEmail": email}


def test_each_manager_is_named_by_their_own_email(clients, managers):
    clients["admin"].put(f"{API}/portal", {"branding": {"title": "By admin"}}, format="json")
    clients["content"].post(f"{API}/packages", {"name": "by-content"}, format="json")
    operations = clients["viewer"].get(f"{API}/operations?type=updatePortal&type=createPackage").json()["operations"]
    assert [(op["type"], op["payload"]["managerEmail"], op["actor"]["email"]) for op in operations] == [
        ("createPackage", "content@example.com", "content@example.com"),
        ("updatePortal", "admin@example.com", "admin@example.com")]


def test_operations_of_the_api_key_and_the_system_carry_no_manager_email(api, portal):
    payloads, _, _ = _manual_calls(api)
    assert MANUAL_TYPES <= set(payloads)
    assert not [type for type, payload in payloads.items() if "managerEmail" in payload]
    system = _record(portal, "tokenSharingSuspected", payload={"ips": ["192.0.2.1"]})
    assert api.get(f"{API}/operations/{system.public_id}").json()["payload"] == {"ips": ["192.0.2.1"]}


def test_a_refused_change_records_nothing_for_the_manager_either(clients):
    before = clients["viewer"].get(f"{API}/operations").json()["operations"]
    assert clients["viewer"].post(f"{API}/packages", {"name": "nope"}, format="json").status_code == 403
    assert clients["viewer"].get(f"{API}/operations").json()["operations"] == before
