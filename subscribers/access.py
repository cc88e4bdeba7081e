"""The access rule, in one place.

A subscriber may watch a channel iff the subscriber is not disabled and the channel is in at least one
package that the subscriber explicitly subscribes to or that is one of the portal's free packages.
"""

from __future__ import annotations

from django.db.models import Q

from content.models import Channel, FreePackage, Package, PackageChannel
from portals.models import DEFAULT_PORTAL_SETTINGS, Portal

from .models import Subscriber, Subscription


def granting_packages(subscriber):
    """Packages that give this subscriber access: explicitly subscribed, or free in its portal.

    Written as two indexed semi-joins: an OR across joined subscriptions would multiply every package by
    all of its subscribers before filtering (tens of milliseconds per check at 10k subscribers).
    """
    return Package.objects.filter(portal_id=subscriber.portal_id).filter(
        Q(id__in=Subscription.objects.filter(subscriber_id=subscriber.id).values("package_id"))
        | Q(id__in=FreePackage.objects.filter(portal_id=subscriber.portal_id).values("package_id"))
    )


def granting_links(subscriber):
    """Channel-package links of packages that give this subscriber access."""
    return PackageChannel.objects.filter(package__in=granting_packages(subscriber))


def watchable_channels(subscriber):
    """Every channel the subscriber may watch, each once, in one query (empty when disabled)."""
    if subscriber.disabled:
        return Channel.objects.none()
    return Channel.objects.filter(portal_id=subscriber.portal_id,
                                  id__in=granting_links(subscriber).values("channel_id"))


# --- Facts of a playback decision (streaming auth) ------------------------------------------------------------
# The streaming server asks "may this token play this stream name?". The answer is the rule above, applied to
# facts that subscribers.playback_cache caches; each function below reads one fact with one indexed query.


def subscriber_for_token(token: str) -> tuple[int, int, bool] | None:
    """``(subscriber_id, portal_id, disabled)`` of the token's subscriber, or None (unique index on the token)."""
    return Subscriber.objects.filter(playback_token=token).values_list("id", "portal_id", "disabled").first()


def portal_facts(portal_id: int) -> tuple[int | None, int | None]:
    """The portal's ``maxSessionsPerSubscriber`` (None: unlimited) and its streaming server's ID, by primary key."""
    portal = Portal.objects.filter(pk=portal_id).only("id", "settings", "streaming_server_id").first()
    if portal is None:
        return None, None
    return portal.effective_settings.get("maxSessionsPerSubscriber"), portal.streaming_server_id


def granting_package_ids(subscriber) -> list[int]:
    """IDs of the packages that give the subscriber access: explicitly subscribed, or free in its portal."""
    return list(granting_packages(subscriber).values_list("id", flat=True))


def watchable_channel_names(subscriber) -> dict[str, int]:
    """``{channel name: channel id}`` of every channel the subscriber may watch (:func:`watchable_channels`)."""
    return dict(watchable_channels(subscriber).values_list("name", "id"))


def channel_id_by_name(portal_id: int, name: str) -> int | None:
    """The ID of the portal's channel with this technical name, or None (unique index on portal + name)."""
    return Channel.objects.filter(portal_id=portal_id, name=name).values_list("id", flat=True).first()


def device_facts(subscriber_id: int) -> tuple[list[str], int | None, str, bool]:
    """``(known device uids, device limit, limit policy, registration allowed)`` of a subscriber (lifecycle.md §2):
    the limit is the subscriber's own ``maxDevices``, else the portal's ``maxDevicesPerSubscriber``. One query:
    the subscriber joined with its portal and its devices (a row per device)."""
    rows = list(Subscriber.objects.filter(pk=subscriber_id).values_list("max_devices", "portal__settings",
                                                                        "devices__uid"))
    if not rows:
        return [], None, "refuse", False
    uids = [uid for _, _, uid in rows if uid is not None]
    own_limit, stored, _ = rows[0]
    settings = {**DEFAULT_PORTAL_SETTINGS, **(stored or {})}
    limit = own_limit if own_limit is not None else settings["maxDevicesPerSubscriber"]
    return uids, limit, settings["deviceLimitPolicy"], bool(settings["allowDeviceRegistration"])
