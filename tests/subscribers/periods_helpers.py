"""Subscriptions with periods for the tests of filters, screens, reminders and extensions."""

from __future__ import annotations

import datetime as dt

from portals.auth import Caller
from subscribers import services
from subscribers.models import Subscription


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def subscribe_for(subscriber, package, *, starts_at=None, expires_at=None) -> Subscription:
    """Subscribe through the service, then give the subscription its period."""
    subscription = services.subscribe(subscriber, package, caller=Caller(portal=subscriber.portal))
    if starts_at is not None or expires_at is not None:
        Subscription.objects.filter(pk=subscription.pk).update(starts_at=starts_at, expires_at=expires_at)
        subscription.refresh_from_db()
    return subscription
