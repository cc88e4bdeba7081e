"""Channels (with logos), packages, their composition and free packages."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from catena_site.models import PortalQuerySet, PublicModel

from .epg import EpgSource

TECHNICAL_NAME_PATTERN = r"^[a-zA-Z0-9_-]{2,20}$"
PACKAGE_DESCRIPTION_MAX_LENGTH = 2000
CHANNEL_DESCRIPTION_MAX_LENGTH = 2000
MAX_CHANNEL_NUMBER = 99999
NO_NUMBER_ORDER = MAX_CHANNEL_NUMBER + 1  # ``number_order`` of a channel without a number: after every number
MAX_ARCHIVE_DAYS = 365


class AspectRatio(models.TextChoices):
    NONE = "", _("Not set")
    FOUR_THREE = "4:3", "4:3"
    SIXTEEN_NINE = "16:9", "16:9"


class Quality(models.TextChoices):
    HD = "HD", "HD"
    SD = "SD", "SD"


class Channel(PublicModel):
    """A TV channel; ``name`` is the stream name on the streaming server and never changes.

    ``epg_source_name`` is the EPG source the channel names (``epgSourceName``), which may not exist yet;
    ``epg_source`` is that source once it exists. The services keep the two in step: a source created or
    renamed to the name links the channels naming it, a renamed source renames their reference, a deleted one
    clears both. Further sources of its guide, in priority order after that first one, are its
    ``epg_extra_sources`` (``epgSources`` in the API is the pair followed by them), kept in step the same way.
    """

    portal = models.ForeignKey("portals.Portal", on_delete=models.CASCADE, related_name="channels")
    name = models.CharField(max_length=20)
    title = models.CharField(max_length=200)
    epg_source_name = models.CharField(max_length=64, blank=True)
    epg_source = models.ForeignKey(EpgSource, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="channels")
    epg_channel_name = models.CharField(max_length=200, blank=True)
    # Shifts every programme of the channel's guide when it is read (never stored shifted): a change needs no
    # re-import, and channels sharing one EPG channel may each have their own shift.
    epg_offset_minutes = models.SmallIntegerField(default=0)
    # The further sources of the guide after the pair above, in priority order: ``[source name, EPG channel
    # name, source id or None]`` each (the name rules of the pair). On the row, so that every guide read has
    # them without another query.
    epg_extra_sources = models.JSONField(default=list, blank=True)
    logo = models.BinaryField(null=True, blank=True)
    logo_content_type = models.CharField(max_length=40, blank=True)
    logo_etag = models.CharField(max_length=64, blank=True)
    number = models.PositiveIntegerField(null=True, blank=True)
    # ``number``, or NO_NUMBER_ORDER without one: lists sort by it (numbers first, then the rest by title) on a
    # column that is never null, so a keyset page cursor needs no null handling.
    number_order = models.PositiveIntegerField(default=NO_NUMBER_ORDER)
    description = models.TextField(blank=True, max_length=CHANNEL_DESCRIPTION_MAX_LENGTH)
    language = models.CharField(max_length=5, blank=True)
    aspect_ratio = models.CharField(max_length=4, blank=True, choices=AspectRatio.choices, default=AspectRatio.NONE)
    audio_only = models.BooleanField(default=False)
    quality = models.CharField(max_length=2, choices=Quality.choices, default=Quality.HD)
    is_public = models.BooleanField(default=True)
    is_exclusive = models.BooleanField(default=False)
    archive_days = models.PositiveSmallIntegerField(default=0)
    categories = models.ManyToManyField("content.Category", through="content.ChannelCategory",
                                        related_name="channels")
    location_restrictions = models.ManyToManyField("content.Location", through="content.ChannelLocation",
                                                   related_name="channels")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PortalQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["portal", "name"], name="channel_name_unique_in_portal"),
            models.UniqueConstraint(fields=["portal", "number"], name="channel_number_unique_in_portal"),
        ]
        indexes = [
            models.Index(fields=["portal", "title"], name="channel_portal_title"),
            models.Index(fields=["portal", "number_order", "title", "id"], name="channel_portal_number_order"),
            # The channels a source created or renamed to a name links.
            models.Index(fields=["portal", "epg_source_name"], name="channel_portal_epg_source_name"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def has_logo(self) -> bool:
        return bool(self.logo_etag)

    @property
    def epg_sources(self) -> list[dict]:
        """``epgSources``: the EPG pair (when it names a source) followed by the further sources, as the API
        shows them."""
        first = ([{"epgSourceName": self.epg_source_name, "epgChannelName": self.epg_channel_name}]
                 if self.epg_source_name else [])
        return first + [{"epgSourceName": name, "epgChannelName": epg_channel}
                        for name, epg_channel, _ in self.epg_extra_sources]


class Package(PublicModel):
    """A bundle of channels sold (or given free) to subscribers."""

    portal = models.ForeignKey("portals.Portal", on_delete=models.CASCADE, related_name="packages")
    name = models.CharField(max_length=20)
    description = models.TextField(blank=True, max_length=PACKAGE_DESCRIPTION_MAX_LENGTH)
    channels = models.ManyToManyField(Channel, through="PackageChannel", related_name="packages")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PortalQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["portal", "name"], name="package_name_unique_in_portal")]

    def __str__(self) -> str:
        return self.name


class PackageChannel(models.Model):
    """A channel's membership in a package."""

    package = models.ForeignKey(Package, on_delete=models.CASCADE, related_name="channel_links")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="package_links")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["package", "channel"], name="package_channel_unique")]
        indexes = [models.Index(fields=["channel", "package"], name="package_channel_by_channel")]

    def __str__(self) -> str:
        return f"{self.channel_id} in {self.package_id}"


class FreePackage(models.Model):
    """A package every subscriber of the portal may watch without subscribing (``freePackages``)."""

    portal = models.ForeignKey("portals.Portal", on_delete=models.CASCADE, related_name="free_package_links")
    package = models.OneToOneField(Package, on_delete=models.CASCADE, related_name="free_link")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"free {self.package_id}"
