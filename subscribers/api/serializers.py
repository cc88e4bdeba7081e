"""JSON shapes of subscribers and subscriptions, field for field as the Management API documents them."""

from rest_framework import serializers

from catena_site.api.fields import IdField
from catena_site.ids import encode_id
from subscribers.models import Subscriber
from subscribers.selectors import sharing_suspicion


class SubscriberSerializer(serializers.ModelSerializer):
    """``playback_token`` is null for callers who may not see tokens."""

    subscriberId = IdField(source="id", read_only=True)
    portalId = IdField(source="portal_id", read_only=True)
    phoneCountryCode = serializers.CharField(source="phone_country_code")
    playback_token = serializers.SerializerMethodField()
    packages = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)
    lastActivityAt = serializers.DateTimeField(source="last_activity_at", read_only=True)
    suspectedSharing = serializers.SerializerMethodField()
    sharingIps = serializers.SerializerMethodField()

    class Meta:
        model = Subscriber
        fields = ["subscriberId", "portalId", "name", "phoneCountryCode", "phone", "playback_token", "packages",
                  "disabled", "createdAt", "updatedAt", "lastActivityAt", "suspectedSharing", "sharingIps"]

    def get_suspectedSharing(self, subscriber) -> bool:
        return sharing_suspicion(subscriber) is not None

    def get_sharingIps(self, subscriber) -> list[str]:
        suspicion = sharing_suspicion(subscriber)
        return list(suspicion.ips) if suspicion is not None else []

    def get_playback_token(self, subscriber) -> str | None:
        caller = self.context.get("caller")
        return subscriber.playback_token if caller is not None and caller.can_see_playback_tokens else None

    def get_packages(self, subscriber) -> list[str]:
        return [encode_id(s.package_id) for s in subscriber.subscriptions.all()]


class SubscriberWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    phoneCountryCode = serializers.RegexField(r"^[0-9]{1,4}$")
    phone = serializers.RegexField(r"^[0-9]{4,15}$")


class SubscriptionSerializer(serializers.Serializer):
    subscriberId = IdField()
    packageId = IdField()
    portalId = IdField(required=False)
