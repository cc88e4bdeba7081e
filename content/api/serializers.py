"""JSON shapes of channels and packages, field for field as the Management API documents them (their input
shapes are in ``content.inputs``)."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catena_site.api.fields import IdField
from catena_site.ids import encode_id
from content.inputs import EpgSourceEntry
from content.models import LOGO_WIDTHS, Category, Channel, Location, LogoSize, Package


def logo_urls(channel: Channel) -> dict[str, str] | None:
    """The paths of the channel's logo renditions by size (``logoUrls``), or None when it has no logo. Every
    path answers: a rendition is stored with its logo, or the original is served for that size."""
    if not channel.logo_etag:
        return None
    return {size: reverse("api:channel-logo-rendition", kwargs={"pk": channel.public_id, "size": size})
            for size in LogoSize.values}


class LogoUrlsSerializer(serializers.Serializer):
    """``logoUrls``: the path of each rendition of the logo (the original where it is not wider)."""

    small = serializers.CharField(help_text=f"{LOGO_WIDTHS[LogoSize.SMALL]} pixels wide")
    medium = serializers.CharField(help_text=f"{LOGO_WIDTHS[LogoSize.MEDIUM]} pixels wide")
    large = serializers.CharField(help_text=f"{LOGO_WIDTHS[LogoSize.LARGE]} pixels wide")


class ChannelSerializer(serializers.ModelSerializer):
    channelId = IdField(source="id", read_only=True)
    portalId = IdField(source="portal_id", read_only=True)
    epgSourceName = serializers.SerializerMethodField()
    epgChannelName = serializers.CharField(source="epg_channel_name")
    packages = serializers.SerializerMethodField()
    logoUrl = serializers.SerializerMethodField()
    logoUrls = serializers.SerializerMethodField()
    aspectRatio = serializers.CharField(source="aspect_ratio")
    audioOnly = serializers.BooleanField(source="audio_only")
    isPublic = serializers.BooleanField(source="is_public")
    isExclusive = serializers.BooleanField(source="is_exclusive")
    categories = serializers.SerializerMethodField()
    locationRestrictions = serializers.SerializerMethodField()
    archiveDays = serializers.IntegerField(source="archive_days")
    epgSources = serializers.SerializerMethodField()
    epgOffsetMinutes = serializers.IntegerField(source="epg_offset_minutes")

    class Meta:
        model = Channel
        fields = ["channelId", "portalId", "name", "title", "epgSourceName", "epgChannelName", "epgSources",
                  "epgOffsetMinutes", "packages", "logoUrl",
                  "logoUrls", "number", "description", "language", "aspectRatio", "audioOnly", "quality", "isPublic",
                  "isExclusive", "categories", "locationRestrictions", "archiveDays"]

    def get_epgSourceName(self, channel) -> str | None:
        """The name the channel refers to its EPG source by, whether or not a source has it yet."""
        return channel.epg_source_name or None

    @extend_schema_field(EpgSourceEntry(many=True))
    def get_epgSources(self, channel) -> list[dict]:
        """The sources of the channel's guide in priority order; the first is epgSourceName/epgChannelName."""
        return channel.epg_sources

    def get_packages(self, channel) -> list[str]:
        return [package.name for package in channel.packages.all()]

    def get_categories(self, channel) -> list[str]:
        """Category IDs in the channel's order (``content.selectors.channels_for`` prefetches the links)."""
        return [encode_id(link.category_id) for link in channel.category_links.all()]

    def get_locationRestrictions(self, channel) -> list[str]:
        return [encode_id(link.location_id) for link in channel.location_links.all()]

    def get_logoUrl(self, channel) -> str | None:
        if not channel.logo_etag:
            return None
        return reverse("api:channel-logo", kwargs={"pk": channel.public_id})

    @extend_schema_field(LogoUrlsSerializer(allow_null=True))
    def get_logoUrls(self, channel) -> dict[str, str] | None:
        return logo_urls(channel)


class PackageSerializer(serializers.ModelSerializer):
    packageId = IdField(source="id", read_only=True)
    portalId = IdField(source="portal_id", read_only=True)
    channels = serializers.SerializerMethodField()
    paid = serializers.SerializerMethodField(help_text="Not one of the portal's free packages (read-only)")

    class Meta:
        model = Package
        fields = ["packageId", "portalId", "name", "description", "channels", "paid"]

    def get_channels(self, package) -> list[str]:
        return [channel.name for channel in package.channels.all()]

    def get_paid(self, package) -> bool:
        """IPTVPORTAL's ``paid`` (lifecycle.md §3); ``selectors.packages_for`` joins the free link."""
        return not hasattr(package, "free_link")


class CategorySerializer(serializers.ModelSerializer):
    categoryId = IdField(source="id", read_only=True)
    portalId = IdField(source="portal_id", read_only=True)

    class Meta:
        model = Category
        fields = ["categoryId", "portalId", "name", "title", "position"]


class LocationSerializer(serializers.ModelSerializer):
    locationId = IdField(source="id", read_only=True)
    portalId = IdField(source="portal_id", read_only=True)
    countries = serializers.ListField(child=serializers.CharField())
    networks = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = Location
        fields = ["locationId", "portalId", "name", "title", "countries", "networks"]
