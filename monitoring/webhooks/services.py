"""Every change of webhooks: create, change, delete, and "send again" of a delivery.

Admins only (``isAdmin``: the portal's integrations, like its API key). Each function is one transaction that
records its operation — ``createWebhook``, ``updateWebhook``, ``deleteWebhook`` (types of ours: the spec names
none), never with the secret — *before* it writes the webhook, so that the operation's own outbox lookup reads
the webhooks as they were committed; after commit the portal's cached webhook list is invalidated
(``access_events.webhooks_changed``).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from catena_site import access_events
from monitoring.operations import (
    DELIVER_TASK,
    UNFINISHED,
    Delivery,
    DeliveryStatus,
    OperationType,
    Webhook,
    changes,
    new_webhook_secret,
    record,
)

from .inputs import WebhookInput

PERMISSION = "isAdmin"


def snapshot(webhook: Webhook) -> dict:
    """What an operation says about a webhook (never its secret)."""
    return {"url": webhook.url, "types": list(webhook.types), "active": webhook.active}


def create_webhook(portal, *, caller, data: dict) -> Webhook:
    """A new webhook with a fresh secret (the caller shows it once); receives the operations recorded after
    this commits. Records ``createWebhook``."""
    caller.require(PERMISSION, "Managing webhooks")
    values = WebhookInput.check(data)
    webhook = Webhook(portal=portal, url=values["url"], types=values.get("types", []),
                      active=values.get("active", True), secret=new_webhook_secret())
    with transaction.atomic():
        record(portal, OperationType.CREATE_WEBHOOK, actor=caller.actor,
               payload={"webhookId": webhook.public_id, **snapshot(webhook)})
        webhook.save(force_insert=True)
        access_events.webhooks_changed(portal.id)
    return webhook


def update_webhook(webhook: Webhook, *, caller, data: dict) -> Webhook:
    """Change the URL, types or ``active`` of a webhook (the keys given). Deliveries already queued keep going to
    it (to the new URL). Records ``updateWebhook`` with the changes; a change of nothing records nothing."""
    caller.require(PERMISSION, "Managing webhooks")
    values = WebhookInput.check(data, partial=True)
    with transaction.atomic():
        webhook = Webhook.objects.select_for_update().select_related("portal").get(pk=webhook.pk)
        before = snapshot(webhook)
        for name, value in values.items():
            setattr(webhook, name, value)
        diff = changes(before, snapshot(webhook))
        if not diff:
            return webhook
        record(webhook.portal, OperationType.UPDATE_WEBHOOK, actor=caller.actor,
               payload={"webhookId": webhook.public_id, "url": webhook.url, "changes": diff})
        webhook.save(update_fields=[*diff, "updated_at"])
        access_events.webhooks_changed(webhook.portal_id)
    return webhook


def delete_webhook(webhook: Webhook, *, caller) -> None:
    """Delete a webhook and its deliveries (sent or not). Records ``deleteWebhook``."""
    caller.require(PERMISSION, "Managing webhooks")
    with transaction.atomic():
        record(webhook.portal, OperationType.DELETE_WEBHOOK, actor=caller.actor,
               payload={"webhookId": webhook.public_id, **snapshot(webhook)})
        Webhook.objects.filter(pk=webhook.pk).delete()
        Delivery.objects.filter(webhook_id=webhook.pk).delete()
        access_events.webhooks_changed(webhook.portal_id)


def resend(delivery: Delivery, *, caller) -> Delivery:
    """"Send again": a delivered or failed delivery is queued again, due now, with the same ID (the receiver
    can tell it is the same delivery) and a fresh 24-hour retry window. It goes out before the webhook's later
    deliveries still waiting. One still pending or being sent is simply made due now. Records nothing: the
    portal's state does not change."""
    caller.require(PERMISSION, "Managing webhooks")
    now = timezone.now()
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
        if delivery.status in UNFINISHED:
            delivery.next_at = now
            delivery.save(update_fields=["next_at"])
        else:
            delivery.status = DeliveryStatus.PENDING
            delivery.next_at = now
            delivery.retry_from = now
            delivery.save(update_fields=["status", "next_at", "retry_from"])
        webhook_id = delivery.webhook_id
        transaction.on_commit(lambda: access_events.enqueue(DELIVER_TASK, webhook_id=webhook_id), robust=True)
    return delivery
