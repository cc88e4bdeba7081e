"""The access rule, in one place.

A subscriber may watch a channel iff the subscriber is not disabled and the channel is in at least one
package that the subscriber explicitly subscribes to, with the subscription in force now
(``starts_at`` ≤ now < ``expires_at``, either end open when null), or that is one of the portal's free packages.
"""

from __future__ import annotations

import datetime as dt
import hmac

from django.db.models import Min, Q
from django.utils import timezone

from content import restrictions
from content.models import Channel, ChannelLocation, FreePackage, Location, Package, PackageChannel
from portals.models import DEFAULT_PORTAL_SETTINGS, Portal

from .models import Subscriber, Subscription


def in_force_filter(now: dt.datetime) -> Q:
    """Subscriptions in force at ``now``: ``starts_at`` ≤ now < ``expires_at`` (an open end when null)."""
    return ((Q(starts_at__isnull=True) | Q(starts_at__lte=now))
            & (Q(expires_at__isnull=True) | Q(expires_at__gt=now)))


def in_force(starts_at: dt.datetime | None, expires_at: dt.datetime | None, now: dt.datetime | None = None) -> bool:
    """Whether a subscription with this period is in force at ``now`` (:func:`in_force_filter`, for loaded values)."""
    now = now or timezone.now()
    return (starts_at is None or starts_at <= now) and (expires_at is None or now < expires_at)


def granting_packages(subscriber, now: dt.datetime | None = None):
    """Packages that give this subscriber access at ``now``: subscribed with the subscription in force, or free
    in its portal.

    Written as two indexed semi-joins: an OR across joined subscriptions would multiply every package by
    all of its subscribers before filtering (tens of milliseconds per check at 10k subscribers).
    """
    subscribed = Subscription.objects.filter(in_force_filter(now or timezone.now()), subscriber_id=subscriber.id)
    return Package.objects.filter(portal_id=subscriber.portal_id).filter(
        Q(id__in=subscribed.values("package_id"))
        | Q(id__in=FreePackage.objects.filter(portal_id=subscriber.portal_id).values("package_id"))
    )


def granting_links(subscriber, now: dt.datetime | None = None):
    """Channel-package links of packages that give this subscriber access."""
    return PackageChannel.objects.filter(package__in=granting_packages(subscriber, now))


def watchable_channels(subscriber, now: dt.datetime | None = None):
    """Every channel the subscriber may watch at ``now``, each once, in one query (empty when disabled)."""
    if subscriber.disabled:
        return Channel.objects.none()
    return Channel.objects.filter(portal_id=subscriber.portal_id,
                                  id__in=granting_links(subscriber, now).values("channel_id"))


# --- Facts of a playback decision (streaming auth) ------------------------------------------------------------
# The streaming server asks "may this token play this stream name?". The answer is the rule above, applied to
# facts that subscribers.playback_cache caches; each function below reads one fact with one indexed query.


def subscriber_for_token(token: str) -> tuple[int, int, bool] | None:
    """``(subscriber_id, portal_id, disabled)`` of the token's subscriber, or None (unique index on the token)."""
    return Subscriber.objects.filter(playback_token=token).values_list("id", "portal_id", "disabled").first()


# Compared with when no subscriber has the login, so an unknown login costs the same comparison as a known one.
_NO_PASSWORD = b"\x00" * 32


def player_password_matches(stored: str | None, given) -> bool:
    """Whether ``given`` is the player password ``stored`` (None: the login is unknown), compared in constant time —
    against a dummy when the login is unknown, so the answer's timing tells nothing about which logins exist."""
    expected = stored.encode("utf-8", "surrogatepass") if stored else _NO_PASSWORD
    offered = given.encode("utf-8", "surrogatepass") if isinstance(given, str) else b""
    return hmac.compare_digest(offered, expected) and stored is not None


def subscriber_for_player(portal, login: str, password: str) -> Subscriber | None:
    """The subscriber of ``portal`` (a Portal or its ID) whose player ``login`` and ``password`` these are
    (players.md §2), or None. The login is looked up by the unique index on (portal, login); the password is
    compared by :func:`player_password_matches`. Disabled subscribers are returned too: what they may do is the
    access rule's call (the Xtream API answers them ``status: "Disabled"``)."""
    portal_id = getattr(portal, "pk", portal)
    found = None
    if isinstance(login, str) and login and "\x00" not in login:
        found = Subscriber.objects.filter(portal_id=portal_id, login=login).first()
    return found if player_password_matches(found.player_password if found else None, password) else None


def portal_facts(portal_id: int) -> tuple[int | None, int | None]:
    """The portal's ``maxSessionsPerSubscriber`` (None: unlimited) and its streaming server's ID, by primary key."""
    portal = Portal.objects.filter(pk=portal_id).only("id", "settings", "streaming_server_id").first()
    if portal is None:
        return None, None
    return portal.effective_settings.get("maxSessionsPerSubscriber"), portal.streaming_server_id


def granting_package_ids(subscriber, now: dt.datetime | None = None) -> list[int]:
    """IDs of the packages that give the subscriber access at ``now``: subscribed (in force), or free."""
    return list(granting_packages(subscriber, now).values_list("id", flat=True))


def watchable_channel_names(subscriber, now: dt.datetime | None = None) -> dict[str, int]:
    """``{channel name: channel id}`` of every channel the subscriber may watch (:func:`watchable_channels`)."""
    return dict(watchable_channels(subscriber, now).values_list("name", "id"))


def period_facts(subscriber_id: int, now: dt.datetime) -> tuple[dt.datetime | None, bool]:
    """``(next change, any expired)`` of the subscriber's subscriptions at ``now``, in one query: the first
    instant after ``now`` at which one of them starts or ends (None: never), and whether one has ended."""
    found = Subscription.objects.filter(subscriber_id=subscriber_id).aggregate(
        starts=Min("starts_at", filter=Q(starts_at__gt=now)), ends=Min("expires_at", filter=Q(expires_at__gt=now)),
        ended=Min("expires_at", filter=Q(expires_at__lte=now)))
    changes = [instant for instant in (found["starts"], found["ends"]) if instant is not None]
    return (min(changes) if changes else None), found["ended"] is not None


def package_channel_names(portal_id: int, package_ids: list[int]) -> dict[str, int]:
    """``{name: id}`` of the portal's channels in these packages."""
    links = PackageChannel.objects.filter(package_id__in=package_ids).values("channel_id")
    return dict(Channel.objects.filter(portal_id=portal_id, id__in=links).values_list("name", "id"))


def expired_package_ids(subscriber_id: int, now: dt.datetime) -> list[int]:
    """Packages of the subscriber's subscriptions that have ended at ``now``."""
    return list(Subscription.objects.filter(subscriber_id=subscriber_id, expires_at__lte=now)
                .values_list("package_id", flat=True))


def watchable_channel_facts(subscriber, now: dt.datetime | None = None
                            ) -> tuple[dict[str, int], dict[str, str], frozenset[str]]:
    """:func:`watchable_channel_names`, for those of them with location restrictions ``{name: restriction text}``
    (``content.restrictions``), and the names of those that keep an archive (``archive_days`` > 0, players.md
    §1): one query, and a second one for the locations only when some of the channels are restricted (each
    distinct set of locations is encoded once)."""
    rows = watchable_channels(subscriber, now).values_list("name", "id", "archive_days", "location_links__location_id")
    channels: dict[str, int] = {}
    located: dict[str, list[int]] = {}
    archive: set[str] = set()
    for name, channel_id, archive_days, location_id in rows:
        channels[name] = channel_id
        if archive_days:
            archive.add(name)
        if location_id is not None:
            located.setdefault(name, []).append(location_id)
    return channels, _restriction_texts(located), frozenset(archive)


def _restriction_texts(located: dict) -> dict:
    """``{name: restriction text}`` (``content.restrictions``) of channels restricted to these location IDs: one
    query, none when nothing is restricted; each distinct set of locations is encoded once."""
    if not located:
        return {}
    ids = {location_id for found in located.values() for location_id in found}
    places = {pk: (countries, networks) for pk, countries, networks
              in Location.objects.filter(id__in=ids).values_list("id", "countries", "networks")}
    texts: dict[tuple[int, ...], str] = {}
    restricted = {}
    for name, found in located.items():
        key = tuple(sorted(found))
        if key not in texts:
            texts[key] = restrictions.encode(places[pk] for pk in key if pk in places)
        restricted[name] = texts[key]
    return restricted


def channel_restrictions(channel_ids) -> dict[int, str]:
    """``{channel id: restriction text}`` of those of these channels that have location restrictions."""
    located: dict[int, list[int]] = {}
    for channel_id, location_id in ChannelLocation.objects.filter(channel_id__in=list(channel_ids)).values_list(
            "channel_id", "location_id"):
        located.setdefault(channel_id, []).append(location_id)
    return _restriction_texts(located)


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


# --- Anonymous viewing (lifecycle.md §3): the free channels of portals with ``allowAnonymous`` -----------------


def anonymous_portal_ids(server_id: int | None, *, portal_id: int | None = None) -> list[int]:
    """IDs of the portals bound to this streaming server (or the one portal ``portal_id``) that allow anonymous
    viewing (one query)."""
    portals = Portal.objects.filter(settings__allowAnonymous=True)
    portals = portals.filter(pk=portal_id) if portal_id is not None else portals.filter(streaming_server_id=server_id)
    return list(portals.order_by("id").values_list("id", flat=True))


def free_package_ids(portal_ids: list[int]) -> list[int]:
    """IDs of the free packages of these portals."""
    return list(FreePackage.objects.filter(portal_id__in=portal_ids).values_list("package_id", flat=True))


def free_channels_by_name(portal_ids: list[int]) -> dict[str, tuple[int, int, bool]]:
    """``{channel name: (portal id, channel id, keeps an archive)}`` of the channels of these portals' free
    packages (one query; a name is unique on a streaming server, so portals of one server never collide)."""
    if not portal_ids:
        return {}
    links = PackageChannel.objects.filter(package__free_link__portal_id__in=portal_ids)
    return {name: (portal, channel, archive_days > 0) for channel, portal, name, archive_days in
            Channel.objects.filter(portal_id__in=portal_ids, id__in=links.values("channel_id"))
            .values_list("id", "portal_id", "name", "archive_days")}
