"""Reads of subscribers shared by the API and the screens."""

from django.db.models import Prefetch

from .models import Subscriber, Subscription


def subscribers_for(portal):
    """The portal's subscribers with their subscriptions' package IDs loaded in one extra query."""
    return Subscriber.objects.for_portal(portal).prefetch_related(
        Prefetch("subscriptions", queryset=Subscription.objects.only("id", "subscriber_id", "package_id").order_by("id"))
    )
