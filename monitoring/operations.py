"""The operations log: who changed what, written in the same transaction as the change.

Every app's service layer calls :func:`record`. Operations name other objects only by ID, so they survive
the deletion of what they describe.

The log is also the outbox of the portal's webhooks (operations.md §3): :func:`record` and :func:`record_many`
queue one :class:`Delivery` per operation and subscribed :class:`Webhook` in the same transaction, so an
operation that is rolled back is never delivered and one that is committed is never lost. The portal's active
webhooks are read from the shared cache (one lookup when it has none), invalidated exactly by
``catena_site.access_events.webhooks_changed``. Sending is ``monitoring.webhooks.delivery``'s job, started
after commit by name (:data:`DELIVER_TASK`) and by beat's sweep.
"""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict
from dataclasses import dataclass

from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from catena_site import access_events
from catena_site.ids import encode_id
from catena_site.models import PortalQuerySet, PublicModel
from catena_site.shared_store import CacheErrors

log = logging.getLogger(__name__)

# The Celery task (registered by ``monitoring.tasks``) that sends one webhook's due deliveries, in order.
DELIVER_TASK = "monitoring.tasks.deliver_webhook"
WEBHOOKS_CACHE_TTL = 3600  # seconds; invalidation is exact, this only bounds an invalidation the cache missed


@dataclass(frozen=True)
class Actor:
    """Who performed an operation: the API key, a manager, the system, or a subscriber (self-service)."""

    type: str
    manager_id: int | None = None
    email: str = ""

    API_KEY = "apiKey"
    MANAGER = "manager"
    SYSTEM = "system"
    SUBSCRIBER = "subscriber"

    @classmethod
    def system(cls) -> Actor:
        return cls(cls.SYSTEM)

    def stamped(self, payload: dict | None) -> dict:
        """``payload`` with ``managerEmail`` when a manager acted (the Russian manual, 5.2.11; spec §10): the
        API key, the system and subscribers add nothing."""
        payload = dict(payload or {})
        if self.type == self.MANAGER and self.email:
            payload["managerEmail"] = self.email
        return payload

    def as_json(self) -> dict:
        return {
            "type": self.type,
            "managerId": encode_id(self.manager_id) if self.manager_id else None,
            "email": self.email or None,
        }


class OperationType(models.TextChoices):
    CREATE_SUBSCRIBER = "createSubscriber", _("Create Subscriber")
    AUTO_CREATE_SUBSCRIBER = "autoCreateSubscriber", _("Auto Create Subscriber")
    UPDATE_SUBSCRIBER = "updateSubscriber", _("Update Subscriber")
    DELETE_SUBSCRIBER = "deleteSubscriber", _("Delete Subscriber")
    DISABLE_SUBSCRIBER = "disableSubscriber", _("Disable Subscriber")
    ENABLE_SUBSCRIBER = "enableSubscriber", _("Enable Subscriber")
    RESET_PLAYBACK_TOKEN = "resetPlaybackToken", _("Reset Playback Token")
    RESET_PLAYER_PASSWORD = "resetPlayerPassword", _("Reset Player Password")  # players.md §2
    CREATE_PACKAGE_SUBSCRIBER = "createPackageSubscriber", _("Create Package Subscriber")
    DELETE_PACKAGE_SUBSCRIBER = "deletePackageSubscriber", _("Delete Package Subscriber")
    UPDATE_PACKAGE_SUBSCRIBER = "updatePackageSubscriber", _("Update Package Subscriber")  # lifecycle.md §1: the period changed
    EXPIRE_PACKAGE_SUBSCRIBER = "expirePackageSubscriber", _("Expire Package Subscriber")  # its period ended (actor system)
    ADD_DEVICE = "addDevice", _("Add Device")  # lifecycle.md §2
    REMOVE_DEVICE = "removeDevice", _("Remove Device")
    CREATE_PACKAGE = "createPackage", _("Create Package")
    UPDATE_PACKAGE = "updatePackage", _("Update Package")
    DELETE_PACKAGE = "deletePackage", _("Delete Package")
    CREATE_CHANNEL = "createChannel", _("Create Channel")
    UPDATE_CHANNEL = "updateChannel", _("Update Channel")
    DELETE_CHANNEL = "deleteChannel", _("Delete Channel")
    ADD_CHANNEL_TO_PACKAGE = "addChannelToPackage", _("Add Channel To Package")
    REMOVE_CHANNEL_FROM_PACKAGE = "removeChannelFromPackage", _("Remove Channel From Package")
    CREATE_CATEGORY = "createCategory", _("Create Category")
    UPDATE_CATEGORY = "updateCategory", _("Update Category")
    DELETE_CATEGORY = "deleteCategory", _("Delete Category")
    CREATE_LOCATION = "createLocation", _("Create Location")
    UPDATE_LOCATION = "updateLocation", _("Update Location")
    DELETE_LOCATION = "deleteLocation", _("Delete Location")
    CREATE_EPG_SOURCE = "createEpgSource", _("Create Epg Source")
    UPDATE_EPG_SOURCE = "updateEpgSource", _("Update Epg Source")
    DELETE_EPG_SOURCE = "deleteEpgSource", _("Delete Epg Source")
    UPDATE_PORTAL = "updatePortal", _("Update Portal")
    RESET_API_KEY = "resetApiKey", _("Reset Api Key")
    ADD_FREE_PACKAGE = "addFreePackage", _("Add Free Package")
    REMOVE_FREE_PACKAGE = "removeFreePackage", _("Remove Free Package")
    CREATE_MANAGER = "createManager", _("Create Manager")
    UPDATE_MANAGER = "updateManager", _("Update Manager")
    DELETE_MANAGER = "deleteManager", _("Delete Manager")
    TOKEN_SHARING_SUSPECTED = "tokenSharingSuspected", _("Token Sharing Suspected")
    CREATE_WEBHOOK = "createWebhook", _("Create Webhook")  # operations.md §3 (types of ours: the spec names none)
    UPDATE_WEBHOOK = "updateWebhook", _("Update Webhook")
    DELETE_WEBHOOK = "deleteWebhook", _("Delete Webhook")


class Operation(PublicModel):
    """One recorded change of a portal's state. Never edited or deleted through the API."""

    portal = models.ForeignKey("portals.Portal", on_delete=models.CASCADE, related_name="+")
    type = models.CharField(max_length=40, choices=OperationType.choices)
    subscriber_id = models.BigIntegerField(null=True, blank=True)
    package_id = models.BigIntegerField(null=True, blank=True)
    payload = models.JSONField(default=dict)
    actor_type = models.CharField(max_length=16)
    actor_manager_id = models.BigIntegerField(null=True, blank=True)
    actor_email = models.CharField(max_length=254, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PortalQuerySet.as_manager()

    class Meta:
        app_label = "monitoring"
        indexes = [
            # Newest first is the order of every list; each filter has its own (portal, key, id) path.
            models.Index(fields=["portal", "-id"], name="operation_portal_id"),
            models.Index(fields=["portal", "type", "-id"], name="operation_portal_type_id"),
            models.Index(fields=["portal", "subscriber_id", "-id"], name="operation_portal_subscr_id"),
            models.Index(fields=["portal", "package_id", "-id"], name="operation_portal_package_id"),
            models.Index(fields=["portal", "actor_manager_id", "-id"], name="operation_portal_actor_id"),
            models.Index(fields=["portal", "created_at"], name="operation_portal_created"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.public_id}"

    @property
    def actor(self) -> Actor:
        return Actor(self.actor_type, self.actor_manager_id, self.actor_email)


def record(
    portal,
    type: str,
    *,
    actor: Actor,
    payload: dict | None = None,
    subscriber_id: int | None = None,
    package_id: int | None = None,
) -> Operation:
    """Write one operation row inside the caller's transaction and return it; the payload carries
    ``managerEmail`` when a manager acted.

    Raises ``RuntimeError`` outside a transaction: an operation written on its own could outlive a change
    that was rolled back, or be missing for one that was committed.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("operations must be recorded inside the transaction of the change they describe")
    operation = Operation.objects.create(
        portal=portal,
        type=type,
        subscriber_id=subscriber_id,
        package_id=package_id,
        payload=actor.stamped(payload),
        actor_type=actor.type,
        actor_manager_id=actor.manager_id,
        actor_email=actor.email,
    )
    queue_deliveries([operation])
    return operation


def record_many(operations: list[Operation]) -> None:
    """Write many unsaved operations (built like :func:`record` would) in one bulk insert.

    For bulk changes such as imports; the same rule applies: only inside the change's transaction.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("operations must be recorded inside the transaction of the change they describe")
    Operation.objects.bulk_create(operations, batch_size=2000)
    queue_deliveries(operations)


def build(portal, type: str, *, actor: Actor, payload: dict | None = None, subscriber_id: int | None = None,
          package_id: int | None = None) -> Operation:
    """An unsaved operation row, for :func:`record_many`."""
    now = timezone.now()
    return Operation(portal=portal, type=type, subscriber_id=subscriber_id, package_id=package_id,
                     payload=actor.stamped(payload), actor_type=actor.type, actor_manager_id=actor.manager_id,
                     actor_email=actor.email, created_at=now, updated_at=now)


def changes(old: dict, new: dict) -> dict:
    """``{field: {"old": a, "new": b}}`` for every key whose value differs between two snapshots."""
    return {key: {"old": old.get(key), "new": value} for key, value in new.items() if old.get(key) != value}


# --- The outbox of webhooks (operations.md §3) -------------------------------------------------------------


class Webhook(PublicModel):
    """A URL of the portal's (billing, a CRM…) that receives the portal's operations as signed ``POST``s.

    ``types`` lists the operation types it receives (empty: all). ``secret`` signs every delivery; the API and
    the screens show it once, on creation. ``lease_until``/``lease_token``: the one sender allowed to send this
    webhook's deliveries until then (deliveries go out one at a time, in order); a sender that died lets go
    when its lease runs out.
    """

    portal = models.ForeignKey("portals.Portal", on_delete=models.CASCADE, related_name="+")
    url = models.CharField(max_length=2000)
    types = models.JSONField(default=list)
    secret = models.CharField(max_length=100)
    active = models.BooleanField(default=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PortalQuerySet.as_manager()

    class Meta:
        app_label = "monitoring"
        indexes = [models.Index(fields=["portal", "id"], name="webhook_portal_id")]

    def __str__(self) -> str:
        return self.url

    def receives(self, operation_type: str) -> bool:
        return not self.types or operation_type in self.types


def new_webhook_secret() -> str:
    """A signing secret: 32 random bytes, URL-safe text."""
    return secrets.token_urlsafe(32)


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


UNFINISHED = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)


class Delivery(PublicModel):
    """One operation to send to one webhook; its public ID is the ``X-Catena-Delivery`` header of every attempt.

    Written in the operation's transaction. ``next_at`` is when the next attempt is due; a webhook's deliveries
    are sent in ID order, each one only after the one before it was delivered or failed. The webhook and the
    operation are referenced without a database constraint: an operation recorded while its portal's webhook is
    being deleted must not fail for it (the sender drops deliveries whose webhook is gone), and the operations
    table may be partitioned.
    """

    portal = models.ForeignKey("portals.Portal", on_delete=models.CASCADE, related_name="+", db_index=False)
    webhook = models.ForeignKey(Webhook, on_delete=models.DO_NOTHING, db_constraint=False, related_name="deliveries")
    operation = models.ForeignKey(Operation, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    type = models.CharField(max_length=40)  # the operation's: X-Catena-Event
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_at = models.DateTimeField()
    last_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    retry_from = models.DateTimeField()  # attempts go on until 24 h after this (creation, or "send again")
    created_at = models.DateTimeField()

    objects = PortalQuerySet.as_manager()

    class Meta:
        app_label = "monitoring"
        verbose_name_plural = "deliveries"
        indexes = [
            # The list of a webhook's deliveries, newest first.
            models.Index(fields=["webhook", "-id"], name="delivery_webhook_id"),
            # The head of a webhook's queue, and beat's sweep for due ones: unfinished rows only (small).
            models.Index(fields=["webhook", "id"], condition=Q(status__in=UNFINISHED), name="delivery_queue"),
            models.Index(fields=["next_at"], condition=Q(status__in=UNFINISHED), name="delivery_due"),
        ]

    def __str__(self) -> str:
        return f"{self.type} to webhook {self.webhook_id} ({self.status})"


def _webhooks_list_key(portal_id: int) -> str:
    return f"wh:ls:{portal_id}"


def _active_webhooks(portal_id: int) -> list[tuple[int, list[str]]]:
    return [(pk, list(types)) for pk, types in Webhook.objects.filter(portal_id=portal_id, active=True)
            .order_by("id").values_list("id", "types")]


def subscribed_webhooks(portal_id: int) -> list[tuple[int, list[str]]]:
    """``(webhook ID, types)`` of the portal's active webhooks, from the shared cache (one round trip).

    The cached list carries the stamp (``access_events.webhooks_stamp_key``) it was read under: a webhook change
    deletes the stamp after commit, so a list read before the change — even one stored after it — no longer
    matches and is read again. Without a reachable cache, the database answers.
    """
    cache = access_events.cache()
    stamp_key, list_key = access_events.webhooks_stamp_key(portal_id), _webhooks_list_key(portal_id)
    try:
        found = cache.get_many([stamp_key, list_key])
        stamp, cached = found.get(stamp_key), found.get(list_key)
        if stamp is not None and cached is not None and cached[0] == stamp:
            return cached[1]
        if stamp is None:
            stamp = secrets.token_hex(8)
            if not cache.add(stamp_key, stamp, timeout=WEBHOOKS_CACHE_TTL):
                return _active_webhooks(portal_id)  # another process just stamped: read, do not store
        hooks = _active_webhooks(portal_id)
        cache.set(list_key, (stamp, hooks), timeout=WEBHOOKS_CACHE_TTL)
        return hooks
    except CacheErrors as exc:
        log.warning("webhook list of portal %s not cached (%s); read from the database", portal_id, exc)
        return _active_webhooks(portal_id)


def queue_deliveries(operations: list[Operation]) -> list[Delivery]:
    """Queue a delivery of each operation to each of its portal's active webhooks that receives its type, in the
    current transaction; after commit, ask for them to be sent. Returns the queued deliveries."""
    by_portal: dict[int, list[Operation]] = defaultdict(list)
    for operation in operations:
        by_portal[operation.portal_id].append(operation)
    now = timezone.now()
    deliveries = []
    for portal_id, portal_operations in by_portal.items():
        hooks = subscribed_webhooks(portal_id)
        deliveries += [
            Delivery(portal_id=portal_id, webhook_id=webhook_id, operation_id=operation.id, type=operation.type,
                     next_at=now, retry_from=now, created_at=now)
            for operation in portal_operations
            for webhook_id, types in hooks
            if not types or operation.type in types
        ]
    if deliveries:
        Delivery.objects.bulk_create(deliveries, batch_size=2000)
        webhook_ids = sorted({delivery.webhook_id for delivery in deliveries})
        transaction.on_commit(lambda: _send_soon(webhook_ids), robust=True)
    return deliveries


def _send_soon(webhook_ids: list[int]) -> None:
    """Enqueue the sending of these webhooks' deliveries (if the broker is down, beat's sweep sends them)."""
    for webhook_id in webhook_ids:
        access_events.enqueue(DELIVER_TASK, webhook_id=webhook_id)
