"""Webhook screens: list (in the nav for admins), form showing the secret once, deliveries with status, response
code, error and "send again" (confirmed), deletion (confirmed); other managers get 403, other portals 404."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import TestCase

from monitoring.operations import Actor, Delivery, Operation, Webhook, record
from monitoring.webhooks import services
from portals.auth import Caller
from tests.web.conftest import page, table

PUBLIC_URL = "http://93.184.216.34/catena-webhook"


def make_webhook(portal, **data) -> Webhook:
    with TestCase.captureOnCommitCallbacks(execute=True):
        return services.create_webhook(portal, caller=Caller(portal=portal), data={"url": PUBLIC_URL, **data})


def test_the_nav_shows_webhooks_to_admins_only(web):
    assert 'href="/webhooks/"' in page(web["admin"].get("/"))
    assert 'href="/webhooks/"' not in page(web["viewer"].get("/"))


def test_an_empty_list_says_what_webhooks_are_for(web):
    response = web["owner"].get("/webhooks/")
    assert response.status_code == 200
    assert "No webhooks yet" in page(response)
    assert "billing or CRM" in page(response)


def test_creating_a_webhook_shows_its_secret_once(web, portal):
    response = web["admin"].post("/webhooks/new/", {"url": PUBLIC_URL, "types": ["createPackageSubscriber"],
                                                    "active": "on"})
    assert response.status_code == 201
    webhook = Webhook.objects.get(portal=portal)
    assert webhook.types == ["createPackageSubscriber"] and webhook.active
    assert webhook.secret in page(response)
    assert "not shown again" in page(response)
    listing = web["admin"].get("/webhooks/")
    assert PUBLIC_URL in table(listing) and webhook.secret not in page(listing)
    assert webhook.secret not in page(web["admin"].get(f"/webhooks/{webhook.public_id}/edit/"))


@pytest.mark.parametrize(("url", "reason"), [
    ("ftp://93.184.216.34/hook", "Only http:// and https:// URLs are supported."),
    ("http://10.0.0.8/hook", "non-public address 10.0.0.8"),
    ("http://93.184.216.34/" + "a" * 2000, "Must be at most 2000 characters."),
])
def test_a_refused_url_is_shown_on_the_form(web, url, reason):
    response = web["admin"].post("/webhooks/new/", {"url": url, "active": "on"})
    assert response.status_code == 400
    assert reason in page(response)
    assert not Webhook.objects.exists()


def test_editing_pauses_a_webhook(web, portal):
    webhook = make_webhook(portal)
    response = web["owner"].post(f"/webhooks/{webhook.public_id}/edit/", {"url": PUBLIC_URL})
    assert response.status_code == 302
    webhook.refresh_from_db()
    assert webhook.active is False
    assert "Paused" in table(web["owner"].get("/webhooks/"))


def test_deliveries_show_status_code_and_error_and_can_be_sent_again(web, portal):
    webhook = make_webhook(portal)
    with transaction.atomic():
        record(portal, "createSubscriber", actor=Actor.system())
    delivery = Delivery.objects.get(webhook=webhook)
    Delivery.objects.filter(pk=delivery.pk).update(status="failed", attempts=31, last_code=503,
                                                   last_error="HTTP 503 Service Unavailable")
    response = web["admin"].get(f"/webhooks/{webhook.public_id}/")
    assert response.status_code == 200
    rows = table(response)
    assert "Failed" in rows and "HTTP 503" in rows and "Service Unavailable" in rows and "createSubscriber" in rows
    assert "Failed" not in table(web["admin"].get(f"/webhooks/{webhook.public_id}/?status=delivered"))

    resend_url = f"/webhooks/{webhook.public_id}/deliveries/{delivery.public_id}/resend/"
    assert resend_url in rows
    confirm = web["admin"].get(resend_url)
    assert confirm.status_code == 200 and "Send again" in page(confirm)
    assert Delivery.objects.get(pk=delivery.pk).status == "failed"  # a GET changes nothing
    response = web["admin"].post(resend_url)
    assert response.status_code == 302 and response["Location"] == f"/webhooks/{webhook.public_id}/"
    delivery.refresh_from_db()
    assert delivery.status == "pending"


def test_an_empty_deliveries_list_says_what_will_appear(web, portal):
    webhook = make_webhook(portal)
    assert "No deliveries yet" in page(web["admin"].get(f"/webhooks/{webhook.public_id}/"))


def test_deleting_asks_first(web, portal):
    webhook = make_webhook(portal)
    url = f"/webhooks/{webhook.public_id}/delete/"
    assert "Delete webhook" in page(web["admin"].get(url))
    assert Webhook.objects.exists()
    assert web["admin"].post(url).status_code == 302
    assert not Webhook.objects.exists()
    assert Operation.objects.filter(type="deleteWebhook").count() == 1


@pytest.mark.parametrize("persona", ["content", "subscribers", "viewer"])
def test_other_managers_get_403(web, portal, persona):
    webhook = make_webhook(portal)
    for url in ("/webhooks/", "/webhooks/new/", f"/webhooks/{webhook.public_id}/",
                f"/webhooks/{webhook.public_id}/edit/", f"/webhooks/{webhook.public_id}/delete/"):
        assert web[persona].get(url).status_code == 403
    assert web[persona].post(f"/webhooks/{webhook.public_id}/delete/").status_code == 403
    assert Webhook.objects.exists()


def test_another_portals_webhook_is_404(stranger_web, portal):
    webhook = make_webhook(portal)
    for url in (f"/webhooks/{webhook.public_id}/", f"/webhooks/{webhook.public_id}/edit/",
                f"/webhooks/{webhook.public_id}/delete/"):
        assert stranger_web.get(url).status_code == 404
    assert stranger_web.post(f"/webhooks/{webhook.public_id}/delete/").status_code == 404
    assert PUBLIC_URL not in page(stranger_web.get("/webhooks/"))
