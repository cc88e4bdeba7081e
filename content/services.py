"""Every change of channels, packages, their composition and free packages.

One function per change: it checks the caller's permission and the invariants, writes the change and its
operation row in one transaction.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from catena_site import access_events
from catena_site.errors import Conflict, Invalid, NotFound
from catena_site.ids import encode_id
from monitoring.operations import OperationType, changes, record
from portals.models import Portal, StreamingServer

from .inputs import CategoryInput, ChannelInput, ChannelPackageInput, LocationInput, PackageInput
from .logos import NO_LOGO, store_renditions
from .models import (
    NO_NUMBER_ORDER,
    Category,
    Channel,
    ChannelCategory,
    ChannelLocation,
    EpgSource,
    FreePackage,
    Location,
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


# Catalog fields: API name → model field, compared one by one in the operations' ``changes``.
CATALOG_FIELDS = {
    "number": "number", "description": "description", "language": "language", "aspectRatio": "aspect_ratio",
    "audioOnly": "audio_only", "quality": "quality", "isPublic": "is_public", "isExclusive": "is_exclusive",
    "archiveDays": "archive_days",
}
# Lists of related objects a channel names: model field → (API name, link model, link's field).
CHANNEL_LISTS = {
    "categories": ("categories", ChannelCategory, "category"),
    "location_restrictions": ("locationRestrictions", ChannelLocation, "location"),
}


def channel_snapshot(channel: Channel, lists: dict | None = None) -> dict:
    """The channel's fields as the operations log compares them; ``lists`` (model field → names) are the
    categories and locations when known, else read from the database."""
    if lists is None:
        lists = {field: linked_names(channel, field) for field in CHANNEL_LISTS} if channel.pk else {}
    snapshot = {
        "title": channel.title,
        "epgSourceName": channel.epg_source_name or None,
        "epgChannelName": channel.epg_channel_name,
        "epgSources": channel.epg_sources,
        "epgOffsetMinutes": channel.epg_offset_minutes,
        "logo": channel.logo_etag or None,
        **{api: getattr(channel, field) for api, field in CATALOG_FIELDS.items()},
    }
    for field, names in lists.items():
        snapshot[CHANNEL_LISTS[field][0]] = names
    return snapshot


def linked_names(channel: Channel, field: str) -> list[str]:
    """The names of the channel's categories or locations (``field``), in the channel's order."""
    _, link_model, end = CHANNEL_LISTS[field]
    return list(link_model.objects.filter(channel=channel).order_by("position", "id")
                .values_list(f"{end}__name", flat=True))


def set_linked(channel: Channel, lists: dict) -> None:
    """Replace the channel's categories and/or locations by ``lists`` (model field → objects, in order).

    The objects are locked and looked up again first: one deleted since the input was checked is a 400 naming
    it, never a foreign-key error."""
    for field, objects in lists.items():
        api_name, link_model, end = CHANNEL_LISTS[field]
        target = link_model._meta.get_field(end).related_model
        present = set(target.objects.select_for_update().filter(pk__in=[obj.pk for obj in objects])
                      .values_list("pk", flat=True))
        gone = [obj.public_id for obj in objects if obj.pk not in present]
        if gone:
            raise Invalid.field(api_name, f"No {end} {gone[0]} in this portal (it was just deleted).")
        link_model.objects.filter(channel=channel).delete()
        link_model.objects.bulk_create(
            [link_model(channel=channel, position=position, **{end: obj}) for position, obj in enumerate(objects)])


def restrictions_changed(portal_id: int, channel_ids) -> None:
    """The location restrictions of these channels changed (their own list, or what a location they name
    covers): every cached playback decision that can watch one of them recomputes (it holds the stamps of the
    channel's packages), and their active sessions are re-checked with each session's address and country."""
    channel_ids = sorted(set(channel_ids))
    if not channel_ids:
        return
    access_events.packages_changed(*PackageChannel.objects.filter(channel_id__in=channel_ids)
                                   .values_list("package_id", flat=True).distinct())
    access_events.recheck_sessions(portal_id, channel_ids=channel_ids)


def archive_changed(channel: Channel, before_days: int) -> None:
    """The channel's ``archiveDays`` changed from ``before_days``. Playback decisions only know whether it keeps an
    archive at all (an archive request for one without is ``no_archive``, players.md §1), so only a change to or
    from 0 touches them: every cached decision that can watch it recomputes (it holds the stamps of the
    channel's packages), and when the archive is gone its active archive sessions are re-checked."""
    if bool(before_days) == bool(channel.archive_days):
        return
    access_events.packages_changed(*PackageChannel.objects.filter(channel_id=channel.id)
                                   .values_list("package_id", flat=True).distinct())
    if not channel.archive_days:
        access_events.recheck_sessions(channel.portal_id, channel_ids=[channel.id])


def number_taken(channel: Channel | None, portal, number: int | None) -> None:
    """Refuse (409 naming ``number``) a channel number another channel of the portal has."""
    if number is None:
        return
    holder = (Channel.objects.for_portal(portal).filter(number=number)
              .exclude(pk=channel.pk if channel else None).only("name").first())
    if holder is not None:
        raise number_conflict(number, holder.name)


def number_conflict(number: int, holder: str) -> Conflict:
    message = f"Channel number {number} is taken by {holder}."
    return Conflict(message, {"number": [f"number is taken by {holder}"]})


def lock_portal(portal) -> None:
    """Lock the portal's row until the transaction ends.

    A channel naming an EPG source and a source taking that name both take it first, so that one of them
    always sees the other: the channel finds the source, or the source finds the channel (on SQLite every
    transaction takes the database's write lock at its start: the same effect).
    """
    Portal.objects.select_for_update().filter(pk=portal.pk).values_list("id", flat=True).get()


def channel_values(checked: dict) -> tuple[dict, dict]:
    """Model field values from a checked ``ChannelInput`` (a logo becomes its stored fields or none, and its
    renditions go under ``renditions`` for ``store_renditions``; a number also gives its sort key), and the
    related lists given (model field → objects)."""
    values = dict(checked)
    if "logo" in values:
        logo = values.pop("logo")
        values.update(NO_LOGO if logo is None else logo)
    if "number" in values:
        values["number_order"] = NO_NUMBER_ORDER if values["number"] is None else values["number"]
    if "epg_sources" in values:  # the first entry is the pair; the rest are the further sources
        entries = values.pop("epg_sources") or [{"epg_source_name": "", "epg_channel_name": ""}]
        values["epg_source_name"], values["epg_channel_name"] = (entries[0]["epg_source_name"],
                                                                 entries[0]["epg_channel_name"])
        values["epg_extra_sources"] = [[entry["epg_source_name"], entry["epg_channel_name"], None]
                                       for entry in entries[1:]]
    lists = {field: values.pop(field) for field in CHANNEL_LISTS if field in values}
    return values, lists


def link_epg_source(portal, values: dict) -> None:
    """Add the sources a channel names (None while no source has that name) to its field values; call it with
    the portal locked (:func:`lock_portal`)."""
    names = ([values["epg_source_name"]] if values.get("epg_source_name") else []) + [
        name for name, _, _ in values.get("epg_extra_sources", ())]
    sources = {source.name: source for source in EpgSource.objects.for_portal(portal).filter(name__in=names)} \
        if names else {}
    if "epg_source_name" in values:
        values["epg_source"] = sources.get(values["epg_source_name"])
    if "epg_extra_sources" in values:
        values["epg_extra_sources"] = [[name, epg_channel, sources[name].id if name in sources else None]
                                       for name, epg_channel, _ in values["epg_extra_sources"]]


def promote_first_extra(channel: Channel) -> None:
    """Keep ``epgSources``' first entry the pair: when the pair names no source while further sources remain,
    the first of them becomes the pair."""
    if not channel.epg_source_name and channel.epg_extra_sources:
        channel.epg_source_name, channel.epg_channel_name, channel.epg_source_id = channel.epg_extra_sources[0]
        channel.epg_extra_sources = channel.epg_extra_sources[1:]


def create_channel(portal, *, caller, data: dict) -> Channel:
    """Create a channel; a name taken in the portal, or by another portal on the same streaming server (the
    stream names the server asks about), is a 409. It is linked to the EPG source it names if that exists
    (else as soon as a source of that name does). Records ``createChannel``."""
    caller.require("isContentAdmin")
    values, lists = channel_values(ChannelInput.check(data, portal=portal))
    with transaction.atomic():
        server_id = lock_streaming_server(portal)
        if Channel.objects.for_portal(portal).filter(name=values["name"]).exists():
            raise duplicate_name("a channel", values["name"])
        if stream_names_taken(portal, server_id, [values["name"]]):
            raise name_taken_on_server(values["name"])
        number_taken(None, portal, values.get("number"))
        link_epg_source(portal, values)
        renditions = values.pop("renditions", [])
        try:
            with transaction.atomic():
                channel = Channel.objects.create(portal=portal, **values)
        except IntegrityError:
            raise duplicate_name("a channel", values["name"]) from None
        if renditions:
            store_renditions(channel, renditions)
        set_linked(channel, lists)
        names = {field: [obj.name for obj in lists.get(field, [])] for field in CHANNEL_LISTS}
        record(portal, OperationType.CREATE_CHANNEL, actor=caller.actor,
               payload={"channelId": channel.public_id, "name": channel.name,
                        "changes": changes({}, channel_snapshot(channel, names))})
        access_events.channels_changed(portal.id)
    return channel


def update_channel(channel: Channel, *, caller, data: dict) -> Channel:
    """Change a channel's title, EPG fields, logo or catalog fields (never its name); a number another channel
    has is a 409. Records ``updateChannel`` with what changed."""
    caller.require("isContentAdmin")
    values, lists = channel_values(ChannelInput.check(data, partial=True, portal=channel.portal, channel=channel))
    values.pop("name", None)
    renditions = values.pop("renditions", None)
    with transaction.atomic():
        if "epg_source_name" in values or "epg_extra_sources" in values or "number" in values:
            lock_portal(channel.portal)
        channel = Channel.objects.select_for_update(of=("self",)).select_related("portal").get(pk=channel.pk)
        if "number" in values and values["number"] != channel.number:
            number_taken(channel, channel.portal, values["number"])
        link_epg_source(channel.portal, values)
        before = channel_snapshot(channel)
        for field, value in values.items():
            setattr(channel, field, value)
        promote_first_extra(channel)
        after_lists = {field: [obj.name for obj in objects] for field, objects in lists.items()}
        diff = changes(before, channel_snapshot(channel, {**{f: before[CHANNEL_LISTS[f][0]] for f in CHANNEL_LISTS},
                                                         **after_lists}))
        if diff:
            channel.save()
            if renditions is not None:
                store_renditions(channel, renditions)
            set_linked(channel, lists)
            record(channel.portal, OperationType.UPDATE_CHANNEL, actor=caller.actor,
                   payload={"channelId": channel.public_id, "name": channel.name, "changes": diff})
            if "locationRestrictions" in diff:  # categories do not affect playback: nothing to invalidate for them
                restrictions_changed(channel.portal_id, [channel.id])
            if "archiveDays" in diff:
                archive_changed(channel, before["archiveDays"])
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


# --- Categories -------------------------------------------------------------------------------------------


def category_snapshot(category: Category) -> dict:
    return {"title": category.title, "position": category.position}


def create_category(portal, *, caller, data: dict) -> Category:
    """Create a category (after the last one unless ``position`` is given); a taken name is a 409. Records
    ``createCategory``."""
    caller.require("isContentAdmin")
    values = CategoryInput.check(data, portal=portal)
    with transaction.atomic():
        lock_portal(portal)
        categories = Category.objects.for_portal(portal)
        if categories.filter(name=values["name"]).exists():
            raise duplicate_name("a category", values["name"])
        if "position" not in values:
            last = categories.order_by("-position").values_list("position", flat=True).first()
            values["position"] = 0 if last is None else last + 1
        category = Category.objects.create(portal=portal, **values)
        record(portal, OperationType.CREATE_CATEGORY, actor=caller.actor,
               payload={"categoryId": category.public_id, "name": category.name,
                        "changes": changes({}, category_snapshot(category))})
    return category


def update_category(category: Category, *, caller, data: dict) -> Category:
    """Change a category's title or position (never its name). Records ``updateCategory`` with what changed."""
    caller.require("isContentAdmin")
    values = CategoryInput.check(data, partial=True, portal=category.portal, category=category)
    values.pop("name", None)
    with transaction.atomic():
        category = Category.objects.select_for_update(of=("self",)).select_related("portal").get(pk=category.pk)
        before = category_snapshot(category)
        for field, value in values.items():
            setattr(category, field, value)
        diff = changes(before, category_snapshot(category))
        if diff:
            category.save()
            record(category.portal, OperationType.UPDATE_CATEGORY, actor=caller.actor,
                   payload={"categoryId": category.public_id, "name": category.name, "changes": diff})
    return category


def move_category(category: Category, *, caller, up: bool) -> Category:
    """Swap a category's place with its neighbour above (``up``) or below; at either end nothing changes.
    Both keep distinct positions afterwards, so the order is total; records ``updateCategory`` for each."""
    caller.require("isContentAdmin")
    with transaction.atomic():
        lock_portal(category.portal)
        ordered = list(Category.objects.for_portal(category.portal).order_by("position", "id"))
        index = next(i for i, other in enumerate(ordered) if other.pk == category.pk)
        neighbour = index - 1 if up else index + 1
        if not 0 <= neighbour < len(ordered):
            return ordered[index]
        ordered[index], ordered[neighbour] = ordered[neighbour], ordered[index]
        for position, item in enumerate(ordered):
            if item.position != position:
                update_category(item, caller=caller, data={"position": position})
    return Category.objects.get(pk=category.pk)


def delete_category(category: Category, *, caller) -> list[str]:
    """Delete a category, which leaves every channel it had; return those channels' names. Records
    ``deleteCategory``."""
    caller.require("isContentAdmin")
    with transaction.atomic():
        category = Category.objects.select_for_update(of=("self",)).select_related("portal").get(pk=category.pk)
        channels = list(Channel.objects.filter(category_links__category=category).order_by("name")
                        .values_list("name", flat=True))
        record(category.portal, OperationType.DELETE_CATEGORY, actor=caller.actor,
               payload={"categoryId": category.public_id, "name": category.name, "channels": channels})
        category.delete()
    return channels


# --- Locations --------------------------------------------------------------------------------------------


def location_snapshot(location: Location) -> dict:
    return {"title": location.title, "countries": location.countries, "networks": location.networks}


def create_location(portal, *, caller, data: dict) -> Location:
    """Create a location; a taken name is a 409. Records ``createLocation``."""
    caller.require("isContentAdmin")
    values = LocationInput.check(data, portal=portal)
    with transaction.atomic():
        lock_portal(portal)
        if Location.objects.for_portal(portal).filter(name=values["name"]).exists():
            raise duplicate_name("a location", values["name"])
        location = Location.objects.create(portal=portal, **values)
        record(portal, OperationType.CREATE_LOCATION, actor=caller.actor,
               payload={"locationId": location.public_id, "name": location.name,
                        "changes": changes({}, location_snapshot(location))})
    return location


def update_location(location: Location, *, caller, data: dict) -> Location:
    """Change a location's title, countries or networks (never its name). Records ``updateLocation``."""
    caller.require("isContentAdmin")
    values = LocationInput.check(data, partial=True, portal=location.portal, location=location)
    values.pop("name", None)
    with transaction.atomic():
        location = Location.objects.select_for_update(of=("self",)).select_related("portal").get(pk=location.pk)
        before = location_snapshot(location)
        for field, value in values.items():
            setattr(location, field, value)
        diff = changes(before, location_snapshot(location))
        if diff:
            location.save()
            record(location.portal, OperationType.UPDATE_LOCATION, actor=caller.actor,
                   payload={"locationId": location.public_id, "name": location.name, "changes": diff})
            if "countries" in diff or "networks" in diff:
                restrictions_changed(location.portal_id, location.channel_links.values_list("channel_id", flat=True))
    return location


def delete_location(location: Location, *, caller, force: bool = False) -> list[str]:
    """Delete a location; while channels are restricted to it that is a 409 unless ``force`` (then they lose
    it; a channel left with no location plays anywhere). Returns those channels' names; records
    ``deleteLocation``."""
    caller.require("isContentAdmin")
    with transaction.atomic():
        location = Location.objects.select_for_update(of=("self",)).select_related("portal").get(pk=location.pk)
        channels = list(Channel.objects.filter(location_links__location=location).order_by("name")
                        .values_list("name", flat=True))
        if channels and not force:
            count = len(channels)
            raise Conflict(f"Location '{location.name}' cannot be deleted: {count} channel{'s' if count != 1 else ''} "
                           f"{'are' if count != 1 else 'is'} restricted to it ({', '.join(channels[:10])}). "
                           "Use force=true to delete it anyway.")
        record(location.portal, OperationType.DELETE_LOCATION, actor=caller.actor,
               payload={"locationId": location.public_id, "name": location.name, "channels": channels})
        restrictions_changed(location.portal_id, location.channel_links.values_list("channel_id", flat=True))
        location.delete()
    return channels
