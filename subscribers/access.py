"""The access rule, in one place.

A subscriber may watch a channel iff the subscriber is not disabled and the channel is in at least one
package that the subscriber explicitly subscribes to or that is one of the portal's free packages.
"""

from __future__ import annotations

from django.db.models import Q

from content.models import Channel, PackageChannel


def _granting_links(subscriber):
    """Channel-package links of packages that give this subscriber access."""
    return PackageChannel.objects.filter(
        Q(package__subscriptions__subscriber_id=subscriber.id)
        | Q(package__free_link__isnull=False, package__portal_id=subscriber.portal_id)
    )


def watchable_channels(subscriber):
    """Every channel the subscriber may watch, each once, in one query (empty when disabled)."""
    if subscriber.disabled:
        return Channel.objects.none()
    return Channel.objects.filter(portal_id=subscriber.portal_id,
                                  id__in=_granting_links(subscriber).values("channel_id"))


def can_watch(subscriber, channel) -> bool:
    """The access rule for one channel, in one query."""
    if subscriber.disabled or channel.portal_id != subscriber.portal_id:
        return False
    return _granting_links(subscriber).filter(channel_id=channel.id).exists()
