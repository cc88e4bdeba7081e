"""Model building blocks shared by every app."""

from __future__ import annotations

from django.db import models

from .ids import encode_id, new_id


class PublicModel(models.Model):
    """A model whose primary key is a Snowflake ID, shown to the world in its 12-character form."""

    id = models.BigIntegerField(primary_key=True, default=new_id, editable=False)

    class Meta:
        abstract = True

    @property
    def public_id(self) -> str:
        return encode_id(self.id)


class PortalQuerySet(models.QuerySet):
    """Every portal-owned model's queryset: each request starts from ``for_portal``."""

    def for_portal(self, portal):
        return self.filter(portal=portal)


class PendingInvalidation(models.Model):
    """Playback-cache stamp keys an access change must delete, written in the change's own transaction.

    Deleted once the keys are gone from the shared cache (right after commit, normally). A row that remains
    means the cache could not be reached then: ``catena_site.access_events.drain_pending_invalidations`` retries
    it, from a beat job of the worker every few seconds and from the writing process's next request.
    """

    keys = models.TextField()  # newline-separated
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "catena_pending_invalidation"

    def __str__(self) -> str:
        return self.keys.replace("\n", " ")


class PendingRecheck(models.Model):
    """Part of the scope of a portal's next session re-check: one subscriber or one channel that lost access.

    Written in the transaction of the access change; taken (and deleted) by the portal's re-check job, which
    merges every row waiting for its portal into one run (``catena_site.access_events``). Holds IDs only: the
    infrastructure layer knows no portal, subscriber or channel model.
    """

    portal_id = models.BigIntegerField()
    subscriber_id = models.BigIntegerField(null=True)
    channel_id = models.BigIntegerField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "catena_pending_recheck"
        indexes = [models.Index(fields=["portal_id", "id"], name="catena_recheck_portal_idx"),
                   models.Index(fields=["created_at"], name="catena_recheck_created_idx")]

    def __str__(self) -> str:
        return f"portal {self.portal_id}: subscriber {self.subscriber_id} channel {self.channel_id}"
