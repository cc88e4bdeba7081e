"""JSON shapes of channels and packages, field for field as the Management API documents them (their input
shapes are in ``content.inputs``)."""

from django.urls import reverse
from rest_framework import serializers

from catena_site.api.fields import IdField
from content.models import Channel, Package


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
        """The name the channel refers to its EPG source by, whether or not a source has it yet."""
        return channel.epg_source_name or None

    def get_packages(self, channel) -> list[str]:
        return [package.name for package in channel.packages.all()]

    def get_logoUrl(self, channel) -> str | None:
        if not channel.logo_etag:
            return None
        return reverse("api:channel-logo", kwargs={"pk": channel.public_id})


class PackageSerializer(serializers.ModelSerializer):
    packageId = IdField(source="id", read_only=True)
    portalId = IdField(source="portal_id", read_only=True)
    channels = serializers.SerializerMethodField()

    class Meta:
        model = Package
        fields = ["packageId", "portalId", "name", "description", "channels"]

    def get_channels(self, package) -> list[str]:
        return [channel.name for channel in package.channels.all()]
