"""Reads of channels and packages shared by the API and the screens (no N+1, no logo blobs in lists)."""

from django.db.models import Count, Prefetch, Q

from .models import Channel, Package


def channels_for(portal):
    """The portal's channels with their EPG source and package names loaded, without logo bytes."""
    return (
        Channel.objects.for_portal(portal)
        .select_related("epg_source")
        .defer("logo")
        .prefetch_related(Prefetch("packages", queryset=Package.objects.only("id", "name").order_by("id")))
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
