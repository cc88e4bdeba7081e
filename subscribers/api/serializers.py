"""JSON shapes of subscribers and subscriptions, field for field as the Management API documents them."""

from datetime import UTC
from types import SimpleNamespace

from django.utils import timezone
from rest_framework import serializers

from catena_site.api.fields import IdField
from catena_site.api.pagination import as_datetime
from catena_site.ids import encode_id
from subscribers.access import in_force
from subscribers.devices import device_json
from subscribers.models import Subscriber
from subscribers.selectors import sharing_suspicion


def _utc(value) -> str | None:
    """A time (a datetime or a list page's ``TimeValue``) as ``DATETIME_FORMAT`` writes it: ISO 8601 in UTC with
    ``Z``, whole seconds."""
    if value is None:
        return None
    if isinstance(value, int):  # already UTC
        return as_datetime(value).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# What a list page reads of each subscriber (``values_list``), in this order: the list order's (the ID) first. The
# times are read as ``TimeValue``; the suspicion's columns come through its (outer) join.
SUBSCRIBER_COLUMNS = ("id", "portal_id", "name", "phone_country_code", "phone", "login", "playback_token",
                      "player_password", "disabled", "created", "updated", "last_activity", "max_devices",
                      "sharing_suspicion__id", "sharing_suspicion__token_digest", "sharing_suspicion__ips")
SUBSCRIBER_TIMES = {"created": "created_at", "updated": "updated_at", "last_activity": "last_activity_at"}


class SubscriberRow:
    """A subscriber of a list page as :func:`subscriber_body` reads it, from its ``SUBSCRIBER_COLUMNS`` values
    (no model instance: a page of them and their suspicions cost more than the page's SQL)."""

    __slots__ = ("id", "portal_id", "name", "phone_country_code", "phone", "login", "playback_token",
                 "player_password", "disabled", "created_at", "updated_at", "last_activity_at", "max_devices",
                 "sharing_suspicion")

    def __init__(self, row: tuple):
        (self.id, self.portal_id, self.name, self.phone_country_code, self.phone, self.login, self.playback_token,
         self.player_password, self.disabled, self.created_at, self.updated_at, self.last_activity_at,
         self.max_devices, suspicion_id, token_digest, ips) = row
        self.sharing_suspicion = (SimpleNamespace(token_digest=token_digest, ips=ips)
                                  if suspicion_id is not None else None)


def subscriber_body(subscriber, caller, subscriptions: list[tuple] | None = None, now=None) -> dict:
    """The subscriber object of the API (``SubscriberSerializer`` documents it), written by hand.

    ``subscriptions`` are ``(package ID, starts_at, expires_at)`` of the subscriber's subscriptions in subscription
    order when the caller loaded them apart (the list does, for a whole page in one query); without them they come
    from the prefetched ``subscriber.subscriptions``. ``packages`` names those in force now; ``subscriptions`` all
    of them with their periods (in force at ``now``, by default the present). ``playback_token`` and
    ``playerPassword`` are null for callers who may not see tokens.
    """
    if subscriptions is None:
        subscriptions = [(s.package_id, s.starts_at, s.expires_at) for s in subscriber.subscriptions.all()]
    now = now or timezone.now()
    periods = [{"packageId": encode_id(package_id), "startsAt": _utc(starts_at), "expiresAt": _utc(expires_at),
                "active": in_force(starts_at, expires_at, now)}
               for package_id, starts_at, expires_at in subscriptions]
    suspicion = sharing_suspicion(subscriber)
    show_token = caller is not None and caller.can_see_playback_tokens
    return {
        "subscriberId": encode_id(subscriber.id),
        "portalId": encode_id(subscriber.portal_id),
        "name": subscriber.name,
        "phoneCountryCode": subscriber.phone_country_code,
        "phone": subscriber.phone,
        "login": subscriber.login,
        "playback_token": subscriber.playback_token if show_token else None,
        "playerPassword": subscriber.player_password if show_token else None,
        "packages": [period["packageId"] for period in periods if period["active"]],
        "disabled": subscriber.disabled,
        "createdAt": _utc(subscriber.created_at),
        "updatedAt": _utc(subscriber.updated_at),
        "lastActivityAt": _utc(subscriber.last_activity_at),
        "suspectedSharing": suspicion is not None,
        "sharingIps": list(suspicion.ips) if suspicion is not None else [],
        "subscriptions": periods,
        "maxDevices": subscriber.max_devices,
    }


class SubscriptionPeriodItem(serializers.Serializer):
    """One subscription of a subscriber: its package, its period (null: open) and whether it is in force now
    (``startsAt`` ≤ now < ``expiresAt``)."""

    packageId = IdField(read_only=True)
    startsAt = serializers.DateTimeField(read_only=True, allow_null=True)
    expiresAt = serializers.DateTimeField(read_only=True, allow_null=True)
    active = serializers.BooleanField(read_only=True)


class SubscriberSerializer(serializers.ModelSerializer):
    """``playback_token`` and ``playerPassword`` are null for callers who may not see tokens. ``login`` and
    ``playerPassword`` are what IPTV players log in with (the Xtream Codes API); ``login`` is the full phone
    number's digits unless set."""

    # The declared fields only document the object (the OpenAPI schema; the docstring is its description);
    # ``subscriber_body`` writes it, key for key in the same order and formats. Lists of 100–1000 subscribers
    # are common, and ModelSerializer's per-field machinery (~55 µs a row) and its garbage would dominate the
    # response time (performance.md). Nothing is written through this class: the services check writes with
    # ``subscribers.inputs.SubscriberInput``.

    subscriberId = IdField(source="id", read_only=True)
    portalId = IdField(source="portal_id", read_only=True)
    phoneCountryCode = serializers.CharField(source="phone_country_code")
    login = serializers.CharField()
    playback_token = serializers.CharField(read_only=True, allow_null=True)
    playerPassword = serializers.CharField(source="player_password", read_only=True, allow_null=True)
    packages = serializers.ListField(child=serializers.CharField(), read_only=True)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)
    lastActivityAt = serializers.DateTimeField(source="last_activity_at", read_only=True, allow_null=True)
    suspectedSharing = serializers.BooleanField(read_only=True)
    sharingIps = serializers.ListField(child=serializers.CharField(), read_only=True)
    subscriptions = SubscriptionPeriodItem(many=True, read_only=True)
    maxDevices = serializers.IntegerField(source="max_devices", allow_null=True, read_only=True)

    class Meta:
        model = Subscriber
        fields = ["subscriberId", "portalId", "name", "phoneCountryCode", "phone", "login", "playback_token",
                  "playerPassword", "packages", "disabled", "createdAt", "updatedAt", "lastActivityAt",
                  "suspectedSharing", "sharingIps", "subscriptions", "maxDevices"]

    def to_representation(self, subscriber) -> dict:
        return subscriber_body(subscriber, self.context.get("caller"))


class SubscriptionSerializer(serializers.Serializer):
    """A subscription as the API answers it (its input is ``subscribers.inputs.SubscriptionInput``)."""

    subscriberId = IdField(read_only=True)
    packageId = IdField(read_only=True)
    portalId = IdField(read_only=True)


def period_body(subscription, now=None) -> dict:
    """A subscription's period as the API writes it: ``startsAt``, ``expiresAt`` (null: open) and ``active`` (in
    force now: ``startsAt`` ≤ now < ``expiresAt``)."""
    return {"startsAt": _utc(subscription.starts_at), "expiresAt": _utc(subscription.expires_at),
            "active": in_force(subscription.starts_at, subscription.expires_at, now)}


class SubscriptionPeriodSerializer(SubscriptionSerializer):
    """A subscription and its period, as ``PUT /packages-subscribers`` answers it."""

    startsAt = serializers.DateTimeField(read_only=True, allow_null=True)
    expiresAt = serializers.DateTimeField(read_only=True, allow_null=True)
    active = serializers.BooleanField(read_only=True)


class DeviceSerializer(serializers.Serializer):
    """A subscriber's device (lifecycle.md §2); written by ``subscribers.devices.device_json``. ``uid`` identifies
    it (the auth check's device_id, or an STB's MAC); ``mac`` is set for set-top boxes only."""

    deviceId = IdField(read_only=True)
    subscriberId = IdField(read_only=True)
    portalId = IdField(read_only=True)
    kind = serializers.ChoiceField(choices=["app", "player", "stb"], read_only=True)
    uid = serializers.CharField(read_only=True)
    mac = serializers.CharField(read_only=True, allow_null=True)
    name = serializers.CharField(read_only=True)
    firstSeenAt = serializers.DateTimeField(read_only=True)
    lastSeenAt = serializers.DateTimeField(read_only=True, allow_null=True)
    lastIp = serializers.CharField(read_only=True, allow_null=True)
    userAgent = serializers.CharField(read_only=True)

    def to_representation(self, device) -> dict:
        return device_json(device)
