"""JSON shapes of channels and packages, field for field as the Management API documents them."""

from django.urls import reverse
from rest_framework import serializers

from catena_site.api.fields import IdField
from content.models import TECHNICAL_NAME_PATTERN, Channel, Package


class ChannelSerializer(serializers.ModelSerializer):
    channelId = IdField(source="id", read_only=True)
    portalId = IdField(source="portal_id", read_only=True)
    epgSourceName = serializers.SerializerMethodField()
    epgChannelName = serializers.CharField(source="epg_channel_name")
    packages = serializers.SerializerMethodField()
    logoUrl = serializers.SerializerMethodField()

    class Meta:
        model = Channel
        fields = ["channelId", "portalId", "name", "title", "epgSourceName", "epgChannelName", "packages", "logoUrl"]

    def get_epgSourceName(self, channel) -> str | None:
        return channel.epg_source.name if channel.epg_source_id else None

    def get_packages(self, channel) -> list[str]:
        return [package.name for package in channel.packages.all()]

    def get_logoUrl(self, channel) -> str | None:
        if not channel.logo_etag:
            return None
        return reverse("api:channel-logo", kwargs={"pk": channel.public_id})


class ChannelWriteSerializer(serializers.Serializer):
    """Input of ``POST``/``PUT /channels`` (documentation; the service validates every rule)."""

    name = serializers.RegexField(TECHNICAL_NAME_PATTERN, help_text="Immutable after creation.")
    title = serializers.CharField(max_length=200)
    epgSourceName = serializers.CharField(allow_null=True, required=False)
    epgChannelName = serializers.CharField(allow_blank=True, required=False, max_length=200)
    logo = serializers.CharField(allow_null=True, required=False,
                                 help_text="data:image/png;base64,… replaces the logo; null removes it.")


class PackageSerializer(serializers.ModelSerializer):
    packageId = IdField(source="id", read_only=True)
    portalId = IdField(source="portal_id", read_only=True)
    channels = serializers.SerializerMethodField()

    class Meta:
        model = Package
        fields = ["packageId", "portalId", "name", "description", "channels"]

    def get_channels(self, package) -> list[str]:
        return [channel.name for channel in package.channels.all()]


class PackageWriteSerializer(serializers.Serializer):
    name = serializers.RegexField(TECHNICAL_NAME_PATTERN)
    description = serializers.CharField(allow_blank=True, required=False)


class ChannelPackageSerializer(serializers.Serializer):
    channelId = IdField()
    packageId = IdField()
    portalId = IdField(required=False)
