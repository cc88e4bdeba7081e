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
