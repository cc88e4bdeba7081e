"""Every change of channels, packages, their composition and free packages.

One function per change: it checks the caller's permission and the invariants, writes the change and its
operation row in one transaction.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from catena_site import access_events
from catena_site.errors import Conflict, NotFound
from catena_site.ids import encode_id
from monitoring.operations import OperationType, changes, record
from portals.models import Portal, StreamingServer

from .inputs import ChannelInput, ChannelPackageInput, PackageInput
from .logos import NO_LOGO, store_renditions
from .models import (
    Channel,
    EpgSource,
    FreePackage,
    Package,
    PackageChannel,
)


def duplicate_name(what: str, name: str) -> Conflict:
    """The documented 409 for a name already taken in the portal: ``what`` is "a channel", "a package" or
    "an EPG source"; the field's reason keeps the spec's phrase "must be unique"."""
    return Conflict(f"{what[0].upper()}{what[1:]} named {name} already exists.",
                    {"name": [f"Name must be unique: {what} named {name} already exists."]})


def name_taken_on_server_message(name: str) -> str:
    return f"A channel named {name} already exists on this streaming server."


def name_taken_on_server(name: str) -> Conflict:
    """The 409 for a stream name another portal on the same streaming server uses (that portal unnamed)."""
    message = name_taken_on_server_message(name)
    return Conflict(message, {"name": [message]})


def lock_streaming_server(portal) -> int:
    """Lock the portal's row, then its streaming server's row, until the transaction ends; the server's ID.

    Every change that adds a stream name to a server (a channel created, a portal moved) takes these locks
    in this order, so two of them cannot both find a name free on the same server (on SQLite, every
    transaction takes the database's write lock at its start: the same effect).
    """
    server_id = Portal.objects.select_for_update().filter(pk=portal.pk).values_list("streaming_server_id",
                                                                                   flat=True).get()
    StreamingServer.objects.select_for_update().filter(pk=server_id).values_list("id", flat=True).get()
    return server_id


def stream_names_taken(portal, server_id: int, names) -> set[str]:
    """Which of ``names`` a channel of another portal on streaming server ``server_id`` already uses."""
    return set(Channel.objects.filter(portal__streaming_server_id=server_id, name__in=list(names))
               .exclude(portal_id=portal.pk).values_list("name", flat=True))


# --- Channels ---------------------------------------------------------------------------------------------


def channel_snapshot(channel: Channel) -> dict:
    return {
        "title": channel.title,
        "epgSourceName": channel.epg_source_name or None,
        "epgChannelName": channel.epg_channel_name,
        "logo": channel.logo_etag or None,
    }


def lock_portal(portal) -> None:
    """Lock the portal's row until the transaction ends.

    A channel naming an EPG source and a source taking that name both take it first, so that one of them
    always sees the other: the channel finds the source, or the source finds the channel (on SQLite every
    transaction takes the database's write lock at its start: the same effect).
    """
    Portal.objects.select_for_update().filter(pk=portal.pk).values_list("id", flat=True).get()


def channel_values(checked: dict) -> dict:
    """Model field values from a checked ``ChannelInput``: a logo becomes its stored fields (or none), and its
    renditions under ``renditions`` (for ``store_renditions``, not a field)."""
    values = dict(checked)
    if "logo" in values:
        logo = values.pop("logo")
        values.update(NO_LOGO if logo is None else logo)
    return values


def link_epg_source(portal, values: dict) -> None:
    """Add the source a channel names (None while no source has that name) to its field values; call it with
    the portal locked (:func:`lock_portal`)."""
    if "epg_source_name" in values:
        name = values["epg_source_name"]
        values["epg_source"] = EpgSource.objects.for_portal(portal).filter(name=name).first() if name else None


def create_channel(portal, *, caller, data: dict) -> Channel:
    """Create a channel; a name taken in the portal, or by another portal on the same streaming server (the
    stream names the server asks about), is a 409. It is linked to the EPG source it names if that exists
    (else as soon as a source of that name does). Records ``createChannel``."""
    caller.require("isContentAdmin")
    values = channel_values(ChannelInput.check(data, portal=portal))
    with transaction.atomic():
        server_id = lock_streaming_server(portal)
        if Channel.objects.for_portal(portal).filter(name=values["name"]).exists():
            raise duplicate_name("a channel", values["name"])
        if stream_names_taken(portal, server_id, [values["name"]]):
            raise name_taken_on_server(values["name"])
        link_epg_source(portal, values)
        renditions = values.pop("renditions", [])
        try:
            with transaction.atomic():
                channel = Channel.objects.create(portal=portal, **values)
        except IntegrityError:
            raise duplicate_name("a channel", values["name"]) from None
        if renditions:
            store_renditions(channel, renditions)
        record(portal, OperationType.CREATE_CHANNEL, actor=caller.actor,
               payload={"channelId": channel.public_id, "name": channel.name,
                        "changes": changes({}, channel_snapshot(channel))})
        access_events.channels_changed(portal.id)
    return channel


def update_channel(channel: Channel, *, caller, data: dict) -> Channel:
    """Change a channel's title, EPG fields or logo (never its name). Records ``updateChannel``."""
    caller.require("isContentAdmin")
    values = channel_values(ChannelInput.check(data, partial=True, portal=channel.portal, channel=channel))
    values.pop("name", None)
    renditions = values.pop("renditions", None)
    with transaction.atomic():
        if "epg_source_name" in values:
            lock_portal(channel.portal)
        channel = Channel.objects.select_for_update(of=("self",)).select_related("portal").get(pk=channel.pk)
        link_epg_source(channel.portal, values)
        before = channel_snapshot(channel)
        for field, value in values.items():
            setattr(channel, field, value)
        diff = changes(before, channel_snapshot(channel))
        if diff:
            channel.save()
            if renditions is not None:
                store_renditions(channel, renditions)
            record(channel.portal, OperationType.UPDATE_CHANNEL, actor=caller.actor,
                   payload={"channelId": channel.public_id, "name": channel.name, "changes": diff})
    return channel


def delete_channel(channel: Channel, *, caller) -> list[str]:
    """Delete a channel, which leaves every package it was in; return those packages' names."""
    caller.require("isContentAdmin")
    with transaction.atomic():
        channel = Channel.objects.select_for_update().get(pk=channel.pk)
        packages = list(channel.packages.order_by("id").values_list("name", flat=True))
        record(channel.portal, OperationType.DELETE_CHANNEL, actor=caller.actor,
               payload={"channelId": channel.public_id, "name": channel.name, "packages": packages})
        access_events.packages_changed(*channel.package_links.values_list("package_id", flat=True))
        access_events.channels_changed(channel.portal_id)
        access_events.recheck_sessions(channel.portal_id, channel_ids=[channel.id])
        channel.delete()
    return packages


# --- Packages ---------------------------------------------------------------------------------------------


def _name_taken(portal, name: str, exclude: int | None = None) -> bool:
    return Package.objects.for_portal(portal).filter(name=name).exclude(pk=exclude).exists()


def create_package(portal, *, caller, data: dict) -> Package:
    """Create a package; a taken name is a 409. Records ``createPackage``."""
    caller.require("isContentAdmin")
    values = PackageInput.check(data, portal=portal)
    with transaction.atomic():
        if _name_taken(portal, values["name"]):
            raise duplicate_name("a package", values["name"])
        try:
            with transaction.atomic():
                package = Package.objects.create(portal=portal, **values)
        except IntegrityError:
            raise duplicate_name("a package", values["name"]) from None
        record(portal, OperationType.CREATE_PACKAGE, actor=caller.actor, package_id=package.id,
               payload={"packageId": package.public_id, "packageName": package.name})
    return package


def update_package(package: Package, *, caller, data: dict) -> Package:
    """Rename or describe a package. Records ``updatePackage`` with old → new."""
    caller.require("isContentAdmin")
    values = PackageInput.check(data, partial=True, portal=package.portal, package=package)
    with transaction.atomic():
        package = Package.objects.select_for_update(of=("self",)).select_related("portal").get(pk=package.pk)
        if "name" in values and values["name"] != package.name and _name_taken(package.portal, values["name"], package.pk):
            raise duplicate_name("a package", values["name"])
        before = {"name": package.name, "description": package.description}
        for field, value in values.items():
            setattr(package, field, value)
        diff = changes(before, {"name": package.name, "description": package.description})
        if diff:
            package.save()
            record(package.portal, OperationType.UPDATE_PACKAGE, actor=caller.actor, package_id=package.id,
                   payload={"packageId": package.public_id, "name": package.name, "changes": diff})
    return package


def package_usage(package: Package) -> tuple[int, bool]:
    """How many subscribers hold the package, and whether it is free.

    Subscriptions are read through the reverse relation the subscribers app declares (``content`` does not
    import ``subscribers``).
    """
    return package.subscriptions.count(), FreePackage.objects.filter(package=package).exists()


def delete_package(package: Package, *, caller, force: bool = False) -> dict:
    """Delete a package; while it has subscribers or is free that is a 409 unless ``force``.

    With ``force`` each subscription ends with its own ``deletePackageSubscriber`` operation and the
    package leaves the free list (``removeFreePackage``). Channels are kept. Returns what was ended.
    """
    caller.require("isContentAdmin")
    with transaction.atomic():
        package = Package.objects.select_for_update(of=("self",)).select_related("portal").get(pk=package.pk)
        portal = package.portal
        subscribers, free = package_usage(package)
        if (subscribers or free) and not force:
            reasons = []
            if subscribers:
                reasons.append(f"it has {subscribers} subscriber{'s' if subscribers != 1 else ''}")
            if free:
                reasons.append("it is a free package")
            raise Conflict(f"Package '{package.name}' cannot be deleted: {' and '.join(reasons)}. "
                           "Use force=true to delete it anyway.")
        if subscribers:
            for subscription in package.subscriptions.order_by("id"):
                record(portal, OperationType.DELETE_PACKAGE_SUBSCRIBER, actor=caller.actor,
                       subscriber_id=subscription.subscriber_id, package_id=package.id,
                       payload={"packageId": package.public_id, "subscriberId": encode_id(subscription.subscriber_id),
                                "packageName": package.name})
        if free:
            record(portal, OperationType.REMOVE_FREE_PACKAGE, actor=caller.actor, package_id=package.id,
                   payload={"packageId": package.public_id, "packageName": package.name})
        record(portal, OperationType.DELETE_PACKAGE, actor=caller.actor, package_id=package.id,
               payload={"packageId": package.public_id, "packageName": package.name})
        access_events.packages_changed(package.id)
        if free:
            access_events.portal_changed(portal.id)
        access_events.recheck_sessions(portal.id, channel_ids=package.channel_links.values_list("channel_id", flat=True))
        package.delete()
    return {"subscriptionsEnded": subscribers, "wasFree": free}


# --- Composition and free packages --------------------------------------------------------------------------


def channel_package_of(portal, data) -> tuple[Channel, Package]:
    """The channel and the package a ``/channels-packages`` body names (``ChannelPackageInput``): ``Invalid`` with
    every field's error at once, ``NotFound`` for an ID that is not one of ``portal``'s."""
    values = ChannelPackageInput.check(data, portal=portal)
    channel = Channel.objects.for_portal(portal).defer("logo").filter(pk=values["channelId"]).first()
    if channel is None:
        raise NotFound("No such channel in this portal.")
    package = Package.objects.for_portal(portal).select_related("portal").filter(pk=values["packageId"]).first()
    if package is None:
        raise NotFound("No such package in this portal.")
    return channel, package


def add_channel_to_package(package: Package, channel: Channel, *, caller) -> None:
    """Link a channel to a package of the same portal; an existing link is a 409."""
    caller.require("isContentAdmin")
    if package.portal_id != channel.portal_id:
        raise NotFound("Not found.")
    with transaction.atomic():
        if PackageChannel.objects.filter(package=package, channel=channel).exists():
            raise Conflict(f"Channel '{channel.name}' is already in package '{package.name}'.")
        try:
            with transaction.atomic():
                PackageChannel.objects.create(package=package, channel=channel)
        except IntegrityError:
            raise Conflict(f"Channel '{channel.name}' is already in package '{package.name}'.") from None
        record(package.portal, OperationType.ADD_CHANNEL_TO_PACKAGE, actor=caller.actor, package_id=package.id,
               payload={"channelId": channel.public_id, "packageId": package.public_id,
                        "channelName": channel.name, "packageName": package.name})
        access_events.packages_changed(package.id)


def remove_channel_from_package(package: Package, channel: Channel, *, caller) -> None:
    """Unlink a channel from a package; a missing link is a 404."""
    caller.require("isContentAdmin")
    with transaction.atomic():
        deleted, _ = PackageChannel.objects.filter(package=package, channel=channel).delete()
        if not deleted:
            raise NotFound(f"Channel '{channel.name}' is not in package '{package.name}'.")
        record(package.portal, OperationType.REMOVE_CHANNEL_FROM_PACKAGE, actor=caller.actor,
               package_id=package.id,
               payload={"channelId": channel.public_id, "packageId": package.public_id,
                        "channelName": channel.name, "packageName": package.name})
        access_events.packages_changed(package.id)
        access_events.recheck_sessions(package.portal_id, channel_ids=[channel.id])


def add_free_package(package: Package, *, caller) -> None:
    """Make a package free for every subscriber of its portal; twice is a 409."""
    caller.require("isAdmin")
    with transaction.atomic():
        if FreePackage.objects.filter(package=package).exists():
            raise Conflict(f"Package '{package.name}' is already free.")
        try:
            with transaction.atomic():
                FreePackage.objects.create(portal_id=package.portal_id, package=package)
        except IntegrityError:
            raise Conflict(f"Package '{package.name}' is already free.") from None
        record(package.portal, OperationType.ADD_FREE_PACKAGE, actor=caller.actor, package_id=package.id,
               payload={"packageId": package.public_id, "packageName": package.name})
        access_events.portal_changed(package.portal_id)


def remove_free_package(package: Package, *, caller) -> None:
    """Stop giving a package for free; a package that is not free is a 404."""
    caller.require("isAdmin")
    with transaction.atomic():
        deleted, _ = FreePackage.objects.filter(package=package).delete()
        if not deleted:
            raise NotFound(f"Package '{package.name}' is not a free package.")
        record(package.portal, OperationType.REMOVE_FREE_PACKAGE, actor=caller.actor, package_id=package.id,
               payload={"packageId": package.public_id, "packageName": package.name})
        access_events.portal_changed(package.portal_id)
        access_events.recheck_sessions(package.portal_id,
                                       channel_ids=package.channel_links.values_list("channel_id", flat=True))
