"""Reads of channels and packages shared by the API and the screens (no N+1, no logo blobs in lists)."""

from django.db.models import Count, Prefetch, Q

from .models import Category, Channel, ChannelCategory, ChannelLocation, Location, Package

# The order of every channel list unless asked otherwise: by number (channels without one last), then title.
CHANNEL_ORDER = ("number_order", "title", "id")


def channels_for(portal):
    """The portal's channels with their EPG source and package names loaded, without logo bytes."""
    return (
        Channel.objects.for_portal(portal)
        .select_related("epg_source")
        .defer("logo")
        .prefetch_related(
            Prefetch("packages", queryset=Package.objects.only("id", "name").order_by("id")),
            Prefetch("category_links", queryset=ChannelCategory.objects.select_related("category")
                     .order_by("position", "id")),
            Prefetch("location_links", queryset=ChannelLocation.objects.select_related("location")
                     .order_by("position", "id")),
        )
    )


def packages_for(portal):
    """The portal's packages with their channel names and a channel count."""
    return (
        Package.objects.for_portal(portal)
        .select_related("free_link")
        .annotate(channel_count=Count("channel_links", distinct=True))
        .prefetch_related(Prefetch("channels", queryset=Channel.objects.only("id", "name").order_by("id")))
    )


def package_choices(portal):
    """The portal's packages for a select (filters, "add package"), by name: IDs and names only."""
    return Package.objects.for_portal(portal).order_by("name").only("id", "name")


def packages_named(portal, text: str) -> list[int]:
    """The portal's packages named ``text`` (any case): what a package filter typed as a name stands for."""
    return list(Package.objects.for_portal(portal).filter(name__iexact=text.strip()).values_list("id", flat=True))


def channels_named(portal, text: str) -> list[int]:
    """The portal's channels whose technical name or title is ``text`` (any case)."""
    text = text.strip()
    return list(Channel.objects.for_portal(portal).filter(Q(name__iexact=text) | Q(title__iexact=text))
                .values_list("id", flat=True))


def category_choices(portal):
    """The portal's categories for a select (the channel list's filter), in display order."""
    return Category.objects.for_portal(portal).order_by("position", "id").only("id", "name", "title")


def categories_named(portal, text: str) -> list[int]:
    """The portal's categories whose technical name or title is ``text`` (any case)."""
    text = text.strip()
    return list(Category.objects.for_portal(portal).filter(Q(name__iexact=text) | Q(title__iexact=text))
                .values_list("id", flat=True))


def location_choices(portal):
    """The portal's locations for a select (the channel list's filter), by title."""
    return Location.objects.for_portal(portal).order_by("title", "id").only("id", "name", "title")


def locations_named(portal, text: str) -> list[int]:
    """The portal's locations whose technical name or title is ``text`` (any case)."""
    text = text.strip()
    return list(Location.objects.for_portal(portal).filter(Q(name__iexact=text) | Q(title__iexact=text))
                .values_list("id", flat=True))
