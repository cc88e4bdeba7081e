"""Webhooks in a real browser: add one (the secret shown once), see its delivery arrive at a real receiver,
send it again after a confirmation (same delivery ID), and delete the webhook after another."""

from __future__ import annotations

import pytest
from django.db import transaction

from catena_site.celery import app as celery_app
from monitoring import tasks  # noqa: F401  (registers the delivery tasks, so that eager mode runs them here)
from monitoring.operations import Actor, Delivery, Webhook, record
from portals.models import Portal
from tests.webhooks.receiver import Receiver

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def receiver(settings, monkeypatch):
    settings.EPG_ALLOW_PRIVATE_URLS = True  # the receiver listens on 127.0.0.1
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)  # a delivery is sent at its commit
    server = Receiver()
    yield server
    server.close()


def test_add_a_webhook_see_its_delivery_send_it_again_and_delete_it(owner_page, receiver):
    page = owner_page
    page.click("nav >> text=Webhooks")
    page.wait_for_selector("text=No webhooks yet")

    page.click("a:has-text('Add webhook')")
    page.fill("input[name=url]", "ftp://example.com/hook")
    page.click("button:has-text('Add webhook')")
    page.wait_for_selector(".form-field.has-error:has(input[name=url]) .field-errors")
    assert not Webhook.objects.exists()
    page.fill("input[name=url]", receiver.url)
    page.click("button:has-text('Add webhook')")
    page.wait_for_selector("text=Webhook added")
    webhook = Webhook.objects.get()
    assert page.text_content("[data-testid=webhook-secret]") == webhook.secret
    page.click("a:has-text('Done')")
    assert page.locator("[data-testid=webhook-row]").count() == 1
    assert webhook.secret not in page.content()

    portal = Portal.objects.get(name="main-portal")
    with transaction.atomic():
        record(portal, "createSubscriber", actor=Actor.system(), payload={})
    assert receiver.wait_for(1)
    [first] = receiver.received
    assert first.signature_is_valid(webhook.secret)

    page.click("[data-testid=webhook-row] >> a:has-text('Deliveries')")
    row = page.locator("[data-testid=delivery-row]")
    assert row.count() == 1
    assert "Delivered" in row.text_content() and "HTTP 200" in row.text_content()

    row.locator("a:has-text('Send again')").click()
    page.wait_for_selector("text=the receiver may get it twice")
    page.click("button:has-text('Send again')")
    page.wait_for_selector("text=will be sent again now")
    assert receiver.wait_for(2)
    assert receiver.received[1].delivery_id == first.delivery_id
    assert Delivery.objects.get().attempts == 2

    page.click("nav >> text=Webhooks")
    page.click("[data-testid=webhook-row] >> a:has-text('Delete')")
    page.wait_for_selector("text=Its deliveries, sent or waiting, are deleted with it.")
    page.click("button:has-text('Delete webhook')")
    page.wait_for_selector("text=No webhooks yet")
    assert not Webhook.objects.exists() and not Delivery.objects.exists()
