"""Reads of channels and packages shared by the API and the screens (no N+1, no logo blobs in lists)."""

from django.db.models import Count, Prefetch

from .models import Channel, Package


def channels_for(portal):
    """The portal's channels with their EPG source and package names loaded, without logo bytes."""
    return (
        Channel.objects.for_portal(portal)
        .select_related("epg_source")
        .defer("logo", "logo_thumbnail")
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
