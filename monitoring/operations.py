"""The operations log: who changed what, written in the same transaction as the change.

Every app's service layer calls :func:`record`. Operations name other objects only by ID, so they survive
the deletion of what they describe.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models, transaction
from django.utils import timezone

from catena_site.ids import encode_id
from catena_site.models import PortalQuerySet, PublicModel


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
    CREATE_SUBSCRIBER = "createSubscriber"
    AUTO_CREATE_SUBSCRIBER = "autoCreateSubscriber"
    UPDATE_SUBSCRIBER = "updateSubscriber"
    DELETE_SUBSCRIBER = "deleteSubscriber"
    DISABLE_SUBSCRIBER = "disableSubscriber"
    ENABLE_SUBSCRIBER = "enableSubscriber"
    RESET_PLAYBACK_TOKEN = "resetPlaybackToken"
    RESET_PLAYER_PASSWORD = "resetPlayerPassword"  # players.md §2
    CREATE_PACKAGE_SUBSCRIBER = "createPackageSubscriber"
    DELETE_PACKAGE_SUBSCRIBER = "deletePackageSubscriber"
    UPDATE_PACKAGE_SUBSCRIBER = "updatePackageSubscriber"  # lifecycle.md §1: the period changed
    EXPIRE_PACKAGE_SUBSCRIBER = "expirePackageSubscriber"  # its period ended (actor system)
    ADD_DEVICE = "addDevice"  # lifecycle.md §2
    REMOVE_DEVICE = "removeDevice"
    CREATE_PACKAGE = "createPackage"
    UPDATE_PACKAGE = "updatePackage"
    DELETE_PACKAGE = "deletePackage"
    CREATE_CHANNEL = "createChannel"
    UPDATE_CHANNEL = "updateChannel"
    DELETE_CHANNEL = "deleteChannel"
    ADD_CHANNEL_TO_PACKAGE = "addChannelToPackage"
    REMOVE_CHANNEL_FROM_PACKAGE = "removeChannelFromPackage"
    CREATE_CATEGORY = "createCategory"
    UPDATE_CATEGORY = "updateCategory"
    DELETE_CATEGORY = "deleteCategory"
    CREATE_LOCATION = "createLocation"
    UPDATE_LOCATION = "updateLocation"
    DELETE_LOCATION = "deleteLocation"
    CREATE_EPG_SOURCE = "createEpgSource"
    UPDATE_EPG_SOURCE = "updateEpgSource"
    DELETE_EPG_SOURCE = "deleteEpgSource"
    UPDATE_PORTAL = "updatePortal"
    RESET_API_KEY = "resetApiKey"
    ADD_FREE_PACKAGE = "addFreePackage"
    REMOVE_FREE_PACKAGE = "removeFreePackage"
    CREATE_MANAGER = "createManager"
    UPDATE_MANAGER = "updateManager"
    DELETE_MANAGER = "deleteManager"
    TOKEN_SHARING_SUSPECTED = "tokenSharingSuspected"


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
    return Operation.objects.create(
        portal=portal,
        type=type,
        subscriber_id=subscriber_id,
        package_id=package_id,
        payload=actor.stamped(payload),
        actor_type=actor.type,
        actor_manager_id=actor.manager_id,
        actor_email=actor.email,
    )


def record_many(operations: list[Operation]) -> None:
    """Write many unsaved operations (built like :func:`record` would) in one bulk insert.

    For bulk changes such as imports; the same rule applies: only inside the change's transaction.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("operations must be recorded inside the transaction of the change they describe")
    Operation.objects.bulk_create(operations, batch_size=2000)


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
