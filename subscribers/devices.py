"""Devices of subscribers (lifecycle.md §2): added by managers, registered on first sight, limited.

The auth check decides from cached facts (``playback_cache``: the subscriber's known device uids, how many,
the limit, the policy, whether a device may register itself), so a known device costs no query. Only a first
sight writes: :func:`see_device` locks the subscriber's row, reads the devices again and applies the limit, so
two devices racing for the last place cannot both get it. Every addition and removal deletes the subscriber's
devices stamp after commit (``access_events.devices_changed``), so the next check sees it.

``lastSeenAt`` is not written by the auth check: the play sessions carry their device, and it is written when a
session start is written (in bulk from the Redis buffer, or with the direct write), at most once per
:data:`LAST_SEEN_INTERVAL` per device.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from catena_site import access_events
from catena_site.errors import Conflict, Forbidden, NotFound
from catena_site.ids import encode_id
from monitoring.operations import Actor, OperationType, record

from .inputs import DeviceInput, DeviceNameInput, normalise_mac
from .models import Device, Subscriber

REFUSE = "refuse"
REPLACE_OLDEST = "replace_oldest"
TOO_MANY_DEVICES = "too_many_devices"  # the limit is reached and the policy refuses new devices
UNKNOWN_DEVICE = "unknown_device"  # the portal registers no device by itself and no manager added this one
LAST_SEEN_INTERVAL = 300  # seconds: lastSeenAt is written at most this often per device
MAX_USER_AGENT = Device._meta.get_field("user_agent").max_length


def device_uid(raw: str | None) -> str | None:
    """The uid a device identity stands for: a MAC address in its normal form (``aa:bb:cc:dd:ee:ff``), any other
    identity as sent; None when there is none."""
    if not raw:
        return None
    return normalise_mac(raw) or raw


def _ip(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(value)) if value else None
    except ValueError:
        return None


def limits_of(subscriber: Subscriber) -> tuple[int | None, str, bool]:
    """``(limit, policy, registration allowed)``: the subscriber's own ``maxDevices`` else the portal's."""
    settings = subscriber.portal.effective_settings
    limit = subscriber.max_devices if subscriber.max_devices is not None else settings["maxDevicesPerSubscriber"]
    return limit, settings["deviceLimitPolicy"], bool(settings["allowDeviceRegistration"])


def _payload(device: Device, subscriber: Subscriber) -> dict:
    return {"deviceId": device.public_id, "subscriberId": subscriber.public_id, "kind": device.kind,
            "uid": device.uid, "mac": device.mac, "name": device.name}


def _record(kind: str, device: Device, subscriber: Subscriber, actor: Actor) -> None:
    record(subscriber.portal, kind, actor=actor, subscriber_id=subscriber.id, payload=_payload(device, subscriber))


def _locked_subscriber(subscriber_id: int) -> Subscriber | None:
    return (Subscriber.objects.select_for_update(of=("self",)).select_related("portal")
            .filter(pk=subscriber_id).first())


def _oldest_first(subscriber: Subscriber):
    return Device.objects.filter(subscriber=subscriber).order_by(F("last_seen_at").asc(nulls_first=True), "id")


def _remove(device: Device, subscriber: Subscriber, actor: Actor) -> None:
    _record(OperationType.REMOVE_DEVICE, device, subscriber, actor)
    device.delete()
    access_events.devices_changed(subscriber.id)


# --- The auth path: a device first seen ----------------------------------------------------------------------


def quick_refusal(rules) -> str | None:
    """The refusal of an unknown device decided from cached :class:`~subscribers.playback_cache.DeviceRules`
    alone (no query), or None when only :func:`see_device` can tell."""
    if rules is None:
        return None
    if not rules.registration:
        return UNKNOWN_DEVICE
    if rules.limit is not None and rules.count >= rules.limit and (rules.policy != REPLACE_OLDEST or not rules.limit):
        return TOO_MANY_DEVICES
    return None


def admit(subscriber_id: int, uid: str, kind: str, *, rules=None, ip: str | None = None, user_agent: str = "",
          now: dt.datetime | None = None) -> str | None:
    """A device the cached facts do not know asks to play: None when it may (it is registered now), else the
    reason (``unknown_device``, ``too_many_devices``)."""
    return quick_refusal(rules) or see_device(subscriber_id, uid, kind, ip=ip, user_agent=user_agent, now=now)


def see_device(subscriber_id: int, uid: str, kind: str, *, ip: str | None = None, user_agent: str = "",
               now: dt.datetime | None = None) -> str | None:
    """Register a device on first sight when the portal allows it and the limit leaves room (or, with
    ``replace_oldest``, after removing the least recently seen devices: ``removeDevice``, actor system).
    Records ``addDevice`` (actor system). None when the device may play, else the reason it may not."""
    now = now or timezone.now()
    with transaction.atomic():
        subscriber = _locked_subscriber(subscriber_id)
        if subscriber is None:
            return UNKNOWN_DEVICE
        if Device.objects.filter(subscriber=subscriber, uid=uid).exists():  # registered meanwhile
            return None
        limit, policy, registration = limits_of(subscriber)
        if not registration:
            return UNKNOWN_DEVICE
        devices = list(_oldest_first(subscriber))
        if limit is not None and len(devices) >= limit:
            if policy != REPLACE_OLDEST or limit == 0:
                return TOO_MANY_DEVICES
            for old in devices[:len(devices) - limit + 1]:
                _remove(old, subscriber, Actor.system())
        device = Device.objects.create(portal_id=subscriber.portal_id, subscriber=subscriber, kind=kind, uid=uid,
                                       last_seen_at=now, last_ip=_ip(ip), user_agent=(user_agent or "")[:MAX_USER_AGENT])
        _record(OperationType.ADD_DEVICE, device, subscriber, Actor.system())
        access_events.devices_changed(subscriber.id)
    return None


def note_seen(sightings: Iterable[tuple[int, str | None, dt.datetime, str | None, str | None]]) -> int:
    """Write ``lastSeenAt`` (with ``lastIp`` and ``userAgent``) of the devices seen in session starts
    ``(subscriber ID, device uid, at, ip, user agent)``, unless written less than :data:`LAST_SEEN_INTERVAL`
    before. Two queries for any number of sightings; the number of devices changed."""
    newest: dict[tuple[int, str], tuple[dt.datetime, str | None, str | None]] = {}
    for subscriber_id, uid, at, ip, user_agent in sightings:
        uid = device_uid(uid)
        if uid and (newest.get((subscriber_id, uid)) is None or newest[(subscriber_id, uid)][0] < at):
            newest[(subscriber_id, uid)] = (at, ip, user_agent)
    if not newest:
        return 0
    condition = Q()
    for subscriber_id, uid in newest:
        condition |= Q(subscriber_id=subscriber_id, uid=uid)
    changed = []
    for device in Device.objects.filter(condition).only("id", "subscriber_id", "uid", "last_seen_at"):
        at, ip, user_agent = newest[(device.subscriber_id, device.uid)]
        if device.last_seen_at is None or (at - device.last_seen_at).total_seconds() >= LAST_SEEN_INTERVAL:
            device.last_seen_at, device.last_ip = at, _ip(ip)
            device.user_agent = (user_agent or "")[:MAX_USER_AGENT]
            changed.append(device)
    Device.objects.bulk_update(changed, ["last_seen_at", "last_ip", "user_agent"])
    return len(changed)


# --- Managers (Management API and screens) -------------------------------------------------------------------


def device_of(portal, device_id: int) -> Device:
    """The portal's device with this ID; another portal's is a 404 like a missing one."""
    device = Device.objects.for_portal(portal).select_related("subscriber", "subscriber__portal").filter(
        pk=device_id).first()
    if device is None:
        raise NotFound("No such device in this portal.")
    return device


def _taken(subscriber: Subscriber, uid: str, kind: str, mac: str) -> Conflict | None:
    if Device.objects.filter(subscriber=subscriber, uid=uid).exists():
        return Conflict(f"The subscriber already has the device '{uid}'.", {"uid": ["The subscriber already has it."]})
    if kind == Device.Kind.STB and Device.objects.filter(portal_id=subscriber.portal_id, kind=Device.Kind.STB,
                                                         mac=mac).exists():
        return Conflict(f"The set-top box {mac} is registered already.", {"mac": ["It is registered already."]})
    return None


def add_device(portal, *, caller, data) -> Device:
    """A manager adds a device (an STB by its MAC, else by uid) to a subscriber of the portal; the limit holds
    (409 when full, whatever the policy). Records ``addDevice``."""
    caller.require("isSubscriberAdmin")
    values = DeviceInput.check(data)
    kind = values["kind"]
    mac = values.get("mac") or ""
    uid = device_uid(values.get("uid")) or mac
    with transaction.atomic():
        if not Subscriber.objects.for_portal(portal).filter(pk=values["subscriberId"]).exists():
            raise NotFound("No such subscriber in this portal.")
        subscriber = _locked_subscriber(values["subscriberId"])
        conflict = _taken(subscriber, uid, kind, mac)
        if conflict is not None:
            raise conflict
        limit, _, _ = limits_of(subscriber)
        if limit is not None and Device.objects.filter(subscriber=subscriber).count() >= limit:
            raise Conflict(f"The subscriber already has {limit} device(s), its limit; remove one first.",
                           {"subscriberId": [f"Already has {limit} device(s), the limit."]})
        try:
            with transaction.atomic():
                device = Device.objects.create(portal_id=subscriber.portal_id, subscriber=subscriber, kind=kind,
                                               uid=uid, mac=mac, name=values.get("name", ""))
        except IntegrityError:
            raise Conflict(f"The device '{uid}' exists already.") from None
        _record(OperationType.ADD_DEVICE, device, subscriber, caller.actor)
        access_events.devices_changed(subscriber.id)
    return device


def rename_device(device: Device, *, caller, data) -> Device:
    """A manager names a device (no operation: the name decides nothing)."""
    caller.require("isSubscriberAdmin")
    values = DeviceNameInput.check(data)
    Device.objects.filter(pk=device.pk).update(name=values["name"])
    device.name = values["name"]
    return device


def remove_device(device: Device, *, caller) -> None:
    """A manager removes a device (``removeDevice``); it is a new device when it plays again."""
    caller.require("isSubscriberAdmin")
    with transaction.atomic():
        subscriber = _locked_subscriber(device.subscriber_id)
        locked = Device.objects.filter(pk=device.pk).first()
        if subscriber is None or locked is None:
            raise NotFound("No such device in this portal.")
        _remove(locked, subscriber, caller.actor)


# --- Subscribers themselves (client API) ----------------------------------------------------------------------


def unregister_own_device(subscriber: Subscriber, device_id: int) -> None:
    """A subscriber removes one of their own devices in an app, when the portal allows it; another subscriber's
    device is a 404 like a missing one. Records ``removeDevice`` (actor subscriber)."""
    if not subscriber.portal.effective_settings["allowDeviceUnregister"]:
        raise Forbidden("This portal does not let subscribers remove their devices.")
    with transaction.atomic():
        locked = _locked_subscriber(subscriber.id)
        device = Device.objects.filter(pk=device_id, subscriber_id=subscriber.id).first()
        if locked is None or device is None:
            raise NotFound("No such device among yours.")
        _remove(device, locked, Actor(Actor.SUBSCRIBER))


def subscriber_for_mac(portal, mac: str) -> Subscriber | None:
    """The subscriber whose registered set-top box has this (normalised) MAC in the portal, or None."""
    device = (Device.objects.for_portal(portal).filter(kind=Device.Kind.STB, mac=mac)
              .select_related("subscriber", "subscriber__portal").first())
    return device.subscriber if device is not None else None


def device_json(device: Device) -> dict:
    """A device as the Management and client APIs answer it."""
    def utc(value):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None

    return {"deviceId": device.public_id, "subscriberId": encode_id(device.subscriber_id),
            "portalId": encode_id(device.portal_id), "kind": device.kind, "uid": device.uid, "mac": device.mac or None,
            "name": device.name, "firstSeenAt": utc(device.first_seen_at), "lastSeenAt": utc(device.last_seen_at),
            "lastIp": device.last_ip, "userAgent": device.user_agent}
