"""``/webhooks`` of the Management API (operations.md §3): the documented JSON, admins only, bad input, tenancy."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import TestCase

from monitoring.operations import Actor, Delivery, Operation, Webhook, record
from tests.conftest import API

WEBHOOK_KEYS = {"webhookId", "url", "types", "secret", "active", "createdAt"}
DELIVERY_KEYS = {"deliveryId", "webhookId", "operationId", "type", "status", "attempts", "nextAt", "lastCode",
                 "lastError", "lastAttemptAt", "deliveredAt", "createdAt"}
PUBLIC_URL = "http://93.184.216.34/catena-webhook"  # a public address: no DNS needed


def create(client, **body):
    """POST /webhooks, with its after-commit work done (the cached webhook list invalidated), as in production."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(f"{API}/webhooks", {"url": PUBLIC_URL, **body}, format="json")


def test_creating_a_webhook_answers_201_with_its_secret_once(api, portal):
    response = create(api, types=["createPackageSubscriber", "deletePackageSubscriber"])
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == WEBHOOK_KEYS
    assert body["url"] == PUBLIC_URL
    assert body["types"] == ["createPackageSubscriber", "deletePackageSubscriber"]
    assert body["active"] is True
    assert len(body["secret"]) >= 40
    webhook = Webhook.objects.get(portal=portal)
    assert webhook.public_id == body["webhookId"] and webhook.secret == body["secret"]

    shown = api.get(f"{API}/webhooks/{body['webhookId']}").json()
    assert shown == {**body, "secret": None}
    assert api.get(f"{API}/webhooks").json() == {"webhooks": [{**body, "secret": None}], "next": None}


def test_types_default_to_every_type_and_active_to_true(api):
    body = create(api).json()
    assert body["types"] == [] and body["active"] is True


def test_changes_and_deletion_are_recorded_without_the_secret(api, portal):
    webhook = create(api).json()
    url = f"{API}/webhooks/{webhook['webhookId']}"
    response = api.put(url, {"active": False, "types": ["createSubscriber"]}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json() == {**webhook, "secret": None, "active": False, "types": ["createSubscriber"]}
    assert api.delete(url).json() == {"deleted": webhook["webhookId"]}
    assert api.get(url).status_code == 404
    operations = list(Operation.objects.filter(portal=portal, type__endswith="Webhook").order_by("id"))
    assert [op.type for op in operations] == ["createWebhook", "updateWebhook", "deleteWebhook"]
    assert operations[0].payload == {"webhookId": webhook["webhookId"], "url": PUBLIC_URL, "types": [], "active": True}
    assert operations[1].payload["changes"] == {"types": {"old": [], "new": ["createSubscriber"]},
                                                "active": {"old": True, "new": False}}
    assert all(webhook["secret"] not in str(op.payload) for op in operations)


@pytest.mark.parametrize(("body", "field", "reason"), [
    ({"url": "ftp://93.184.216.34/hook"}, "url", "Only http:// and https:// URLs are supported."),
    ({"url": "http://93.184.216.34/" + "a" * 2000}, "url", "Must be at most 2000 characters."),
    ({"url": "http://127.0.0.1:8000/hook"}, "url", "non-public address 127.0.0.1"),
    ({"url": "http://10.1.2.3/hook"}, "url", "non-public address 10.1.2.3"),
    ({"url": "http://169.254.169.254/latest/meta-data"}, "url", "non-public address 169.254.169.254"),
    ({"url": "http://[::1]/hook"}, "url", "non-public address ::1"),
    ({"url": "http://localhost/hook"}, "url", "non-public address"),
    ({"url": PUBLIC_URL, "types": ["createSubscriber", "stealEverything"]}, "types",
     "'stealEverything' is not an operation type."),
    ({"url": PUBLIC_URL, "types": "createSubscriber"}, "types", "Must be a list."),
    ({"url": PUBLIC_URL, "active": "yes"}, "active", "Must be true or false."),
    ({}, "url", "This field is required."),
])
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(api, portal, body, field, reason):
    response = api.post(f"{API}/webhooks", body, format="json")
    assert response.status_code == 400, response.json()
    errors = response.json()["errors"]
    assert set(errors) == {field}
    assert reason in errors[field][0]
    assert not Webhook.objects.exists()
    assert not Operation.objects.filter(type="createWebhook").exists()


def test_private_addresses_are_accepted_when_epg_allow_private_urls_is_set(api, settings):
    settings.EPG_ALLOW_PRIVATE_URLS = True
    assert create(api, url="http://127.0.0.1:9/hook").status_code == 201


def test_an_update_is_checked_like_a_creation(api):
    webhook = create(api).json()
    response = api.put(f"{API}/webhooks/{webhook['webhookId']}", {"url": "http://192.168.0.10/x"}, format="json")
    assert response.status_code == 400
    assert "non-public address 192.168.0.10" in response.json()["errors"]["url"][0]
    assert Webhook.objects.get().url == PUBLIC_URL


@pytest.mark.parametrize("persona", ["api_key", "owner", "admin"])
def test_admins_manage_webhooks(clients, persona):
    response = create(clients[persona])
    assert response.status_code == 201
    webhook_id = response.json()["webhookId"]
    assert clients[persona].get(f"{API}/webhooks").status_code == 200
    assert clients[persona].get(f"{API}/webhooks/{webhook_id}/deliveries").status_code == 200
    assert clients[persona].delete(f"{API}/webhooks/{webhook_id}").status_code == 201


@pytest.mark.parametrize("persona", ["content", "subscribers", "viewer"])
def test_other_managers_may_not_even_read_webhooks(clients, api, persona):
    webhook_id = create(api).json()["webhookId"]
    client = clients[persona]
    for response in (client.get(f"{API}/webhooks"), client.get(f"{API}/webhooks/{webhook_id}"),
                     create(client), client.put(f"{API}/webhooks/{webhook_id}", {"active": False}, format="json"),
                     client.delete(f"{API}/webhooks/{webhook_id}"),
                     client.get(f"{API}/webhooks/{webhook_id}/deliveries")):
        assert response.status_code == 403
        assert response.json()["message"] == "Managing webhooks requires the Admin permission (isAdmin)."
    assert Webhook.objects.get().active is True


def test_without_a_token_it_is_a_401(anonymous):
    assert anonymous.get(f"{API}/webhooks").status_code == 401


def test_another_portals_webhooks_and_deliveries_are_404(api, stranger, portal):
    webhook_id = create(api).json()["webhookId"]
    with transaction.atomic():
        operation = record(portal, "createSubscriber", actor=Actor.system())
    delivery = Delivery.objects.get(operation=operation)
    assert stranger.get(f"{API}/webhooks").json() == {"webhooks": [], "next": None}
    for response in (stranger.get(f"{API}/webhooks/{webhook_id}"),
                     stranger.put(f"{API}/webhooks/{webhook_id}", {"active": False}, format="json"),
                     stranger.delete(f"{API}/webhooks/{webhook_id}"),
                     stranger.get(f"{API}/webhooks/{webhook_id}/deliveries"),
                     stranger.post(f"{API}/webhooks/{webhook_id}/deliveries/{delivery.public_id}/resend")):
        assert response.status_code == 404
    assert api.get(f"{API}/webhooks/not-an-id").status_code == 404
    assert Webhook.objects.get().active is True


def test_deliveries_are_listed_newest_first_with_documented_fields_and_paginated(api, portal):
    webhook_id = create(api, types=["createSubscriber"]).json()["webhookId"]
    with transaction.atomic():
        operations = [record(portal, "createSubscriber", actor=Actor.system()) for _ in range(3)]
        record(portal, "deleteSubscriber", actor=Actor.system())  # not a type it receives
    page = api.get(f"{API}/webhooks/{webhook_id}/deliveries?limit=2").json()
    assert set(page) == {"deliveries", "next"} and page["next"]
    first = page["deliveries"][0]
    assert set(first) == DELIVERY_KEYS
    assert first["operationId"] == operations[2].public_id
    assert first["webhookId"] == webhook_id
    assert (first["type"], first["status"], first["attempts"], first["lastCode"], first["lastError"],
            first["deliveredAt"]) == ("createSubscriber", "pending", 0, None, None, None)
    rest = api.get(f"{API}/webhooks/{webhook_id}/deliveries?limit=2&cursor={page['next']}").json()
    assert [d["operationId"] for d in page["deliveries"] + rest["deliveries"]] == [
        op.public_id for op in reversed(operations)]
    assert rest["next"] is None
    assert api.get(f"{API}/webhooks/{webhook_id}/deliveries?status=delivered").json()["deliveries"] == []
    assert api.get(f"{API}/webhooks/{webhook_id}/deliveries?status=lost").status_code == 400


def test_the_deliveries_list_costs_the_same_queries_for_many_rows(api, portal, django_assert_max_num_queries):
    webhook_id = create(api).json()["webhookId"]
    with transaction.atomic():
        for _ in range(30):
            record(portal, "createSubscriber", actor=Actor.system())
    with django_assert_max_num_queries(6):
        assert len(api.get(f"{API}/webhooks/{webhook_id}/deliveries").json()["deliveries"]) == 30
