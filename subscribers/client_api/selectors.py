"""What a subscriber's apps show: their channels with now/next, packages, and the programme guide.

Each function runs a constant number of queries whatever the number of channels.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Prefetch
from django.utils import timezone

from content.epg.selectors import channel_guides, now_and_next_of_channels
from content.models import Category, ChannelCategory, FreePackage, Program
from content.selectors import CHANNEL_ORDER
from subscribers.access import granting_links, granting_packages, watchable_channels

LOOKAHEAD = dt.timedelta(hours=12)


def channels_of(subscriber):
    """Every channel the subscriber may watch, each once, ordered by title (logo bytes not loaded): the guide's
    channels, which numbers and categories leave as they were (lists and playlists use ``catalog_of``)."""
    return watchable_channels(subscriber).defer("logo").order_by("title", "id")


def catalog_of(subscriber):
    """Every channel the subscriber may watch, each once, in the order of the management lists (by number,
    channels without one last, then by title), with its categories in the channel's order loaded in one more
    query (``channel.category_links.all()``, each link's ``category`` selected)."""
    links = ChannelCategory.objects.select_related("category").only(
        "id", "channel_id", "position", "category__id", "category__name", "category__title").order_by("position", "id")
    return (watchable_channels(subscriber).defer("logo").order_by(*CHANNEL_ORDER)
            .prefetch_related(Prefetch("category_links", queryset=links)))


def categories_of(subscriber):
    """The portal's categories that hold at least one channel the subscriber may watch, each once, in display
    order (``position``): what a TV app groups the subscriber's channels by."""
    return (Category.objects.filter(portal_id=subscriber.portal_id,
                                    id__in=ChannelCategory.objects.filter(channel__in=watchable_channels(subscriber))
                                    .values("category_id"))
            .order_by("position", "id"))


def now_and_next_for(channels, at: dt.datetime | None = None) -> dict[int, tuple[Program | None, Program | None]]:
    """``{channel id: (on air at ``at``, the following programme)}`` for many channels in one query.

    ``content.epg.selectors``' rule (covering the moment, latest start wins) on each channel's merged, shifted
    guide; the next programme is looked for within ``LOOKAHEAD``.
    """
    at = at or timezone.now()
    guides = {channel.id: channel_guides(channel) for channel in channels}
    on_air = now_and_next_of_channels({key: value for key, value in guides.items() if value is not None}, at,
                                      lookahead=LOOKAHEAD)
    return {channel.id: on_air.get(channel.id, (None, None)) for channel in channels}


def packages_of(subscriber) -> list[dict]:
    """The subscriber's explicit packages and the portal's free ones, each once, with ``free``."""
    free_ids = set(FreePackage.objects.filter(portal_id=subscriber.portal_id).values_list("package_id", flat=True))
    packages = granting_packages(subscriber).order_by("name")
    return [{"package": package, "free": package.id in free_ids} for package in packages]


def group_titles(subscriber, channel_ids) -> dict[int, str]:
    """A group title per channel for playlists: the name of the first (by name) package that grants it."""
    links = (granting_links(subscriber).filter(channel_id__in=channel_ids)
             .order_by("package__name").values_list("channel_id", "package__name"))
    titles: dict[int, str] = {}
    for channel_id, name in links:
        titles.setdefault(channel_id, name)
    return titles
