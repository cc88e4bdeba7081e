"""Categories (how players group channels) and locations (where a restricted channel may be watched)."""

from __future__ import annotations

from django.db import models

from catena_site.models import PortalQuerySet, PublicModel

MAX_NETWORKS = 1000


class Category(PublicModel):
    """A group of channels shown together by players (``group-title``); ``position`` orders the categories,
    ``name`` is immutable like a channel's."""

    portal = models.ForeignKey("portals.Portal", on_delete=models.CASCADE, related_name="categories")
    name = models.CharField(max_length=20)
    title = models.CharField(max_length=100)
    position = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PortalQuerySet.as_manager()

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["portal", "name"], name="category_name_unique_in_portal")]
        indexes = [models.Index(fields=["portal", "position", "id"], name="category_portal_position")]

    def __str__(self) -> str:
        return self.name


class Location(PublicModel):
    """Where a restricted channel may be watched: a viewer is in the location when its address is in one of
    ``networks`` (CIDRs, stored normalised) or its country is one of ``countries`` (ISO 3166-1 alpha-2)."""

    portal = models.ForeignKey("portals.Portal", on_delete=models.CASCADE, related_name="locations")
    name = models.CharField(max_length=20)
    title = models.CharField(max_length=100)
    countries = models.JSONField(default=list, blank=True)
    networks = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PortalQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["portal", "name"], name="location_name_unique_in_portal")]

    def __str__(self) -> str:
        return self.name


class ChannelCategory(models.Model):
    """A channel's place in a category; ``position`` keeps the order the channel's categories were given in."""

    channel = models.ForeignKey("content.Channel", on_delete=models.CASCADE, related_name="category_links")
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="channel_links")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["channel", "category"], name="channel_category_unique")]
        indexes = [models.Index(fields=["category", "channel"], name="channel_category_by_category")]

    def __str__(self) -> str:
        return f"{self.channel_id} in {self.category_id}"


class ChannelLocation(models.Model):
    """A location a restricted channel may be watched from (a channel without any plays anywhere)."""

    channel = models.ForeignKey("content.Channel", on_delete=models.CASCADE, related_name="location_links")
    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="channel_links")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["channel", "location"], name="channel_location_unique")]
        indexes = [models.Index(fields=["location", "channel"], name="channel_location_by_location")]

    def __str__(self) -> str:
        return f"{self.channel_id} at {self.location_id}"
