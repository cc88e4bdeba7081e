"""JSON shapes of portals and managers, field for field as the Management API documents them."""

from __future__ import annotations

from rest_framework import serializers

from catena_site.api.fields import IdField
from catena_site.ids import encode_id
from portals.models import Manager, Portal
from portals.services import portal_branding, portal_settings


class BrandingSerializer(serializers.Serializer):
    logo = serializers.CharField(allow_null=True, required=False, help_text="https:// URL or data:image/…;base64,")
    title = serializers.CharField(allow_blank=True, required=False, max_length=200)
    description = serializers.CharField(allow_blank=True, allow_null=True, required=False)


class PortalSettingsSerializer(serializers.Serializer):
    """``settings`` as ``GET /portal`` shows them: every setting, defaults filled in."""

    autoCreateSubscribers = serializers.BooleanField()
    maxSessionsPerSubscriber = serializers.IntegerField(allow_null=True, min_value=1, max_value=1000)
    smsTemplate = serializers.CharField(allow_null=True)
    streamBaseUrl = serializers.CharField(allow_null=True)
    require2fa = serializers.BooleanField()
    icareusApi = serializers.BooleanField()
    defaultArchiveDays = serializers.IntegerField(allow_null=True, min_value=1, max_value=365)
    expiryReminderDays = serializers.IntegerField(allow_null=True, min_value=1, max_value=90)
    expiryReminderTemplate = serializers.CharField(allow_null=True)
    allowDeviceRegistration = serializers.BooleanField()
    allowDeviceUnregister = serializers.BooleanField()
    maxDevicesPerSubscriber = serializers.IntegerField(allow_null=True, min_value=1, max_value=1000)
    deviceLimitPolicy = serializers.ChoiceField(choices=["refuse", "replace_oldest"])
    allowAnonymous = serializers.BooleanField()
    xtreamApi = serializers.BooleanField()
    timeZone = serializers.CharField()


class FlagsSerializer(serializers.Serializer):
    canManage = serializers.BooleanField()
    canManageSubscribers = serializers.BooleanField()
    canManageContent = serializers.BooleanField()


def free_package_ids(portal: Portal) -> list[str]:
    """IDs of the portal's free packages (the relation is declared on the content side)."""
    links = portal.free_package_links.order_by("id").values_list("package_id", flat=True)
    return [encode_id(pk) for pk in links]


class PortalSerializer(serializers.Serializer):
    """``GET /portal``; ``apiKey`` is null for callers who may not see it, ``flags`` describe the caller."""

    portalId = IdField(source="id", read_only=True)
    name = serializers.CharField()
    domain = serializers.CharField()
    freePackages = serializers.SerializerMethodField()
    branding = serializers.SerializerMethodField()
    apiKey = serializers.SerializerMethodField()
    ownerId = IdField(source="owner_id", read_only=True, allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")
    flags = serializers.SerializerMethodField()
    settings = serializers.SerializerMethodField()

    def get_freePackages(self, portal) -> list[str]:
        return free_package_ids(portal)

    def get_branding(self, portal) -> BrandingSerializer:
        return portal_branding(portal)

    def get_apiKey(self, portal) -> str | None:
        return portal.api_key if self.context["caller"].can_see_api_key else None

    def get_flags(self, portal) -> FlagsSerializer:
        return self.context["caller"].flags

    def get_settings(self, portal) -> PortalSettingsSerializer:
        return portal_settings(portal)


class ManagerSerializer(serializers.ModelSerializer):
    """A manager as the API shows it; ``password`` is write-only and never returned."""

    managerId = IdField(source="id", read_only=True)
    portalId = IdField(source="portal_id", read_only=True)
    isAdmin = serializers.BooleanField(source="is_admin", required=False)
    isContentAdmin = serializers.BooleanField(source="is_content_admin", required=False)
    isSubscriberAdmin = serializers.BooleanField(source="is_subscriber_admin", required=False)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)
    lastLoginAt = serializers.DateTimeField(source="last_login_at", read_only=True, allow_null=True)

    class Meta:
        model = Manager
        fields = ["managerId", "portalId", "email", "name", "isAdmin", "isContentAdmin", "isSubscriberAdmin",
                  "createdAt", "updatedAt", "lastLoginAt"]


class LoginPortalSerializer(serializers.Serializer):
    portalId = serializers.CharField()
    portalName = serializers.CharField()
    sessionId = serializers.CharField()


class LoginResponseSerializer(serializers.Serializer):
    portals = LoginPortalSerializer(many=True)
