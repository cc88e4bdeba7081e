"""Subscriptions with periods for the tests of filters, screens, reminders and extensions."""

from __future__ import annotations

import datetime as dt

from portals.auth import Caller
from subscribers import services
from subscribers.models import Subscription


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def subscribe_for(subscriber, package, *, starts_at=None, expires_at=None) -> Subscription:
    """Subscribe through the service, for the period given."""
    return services.subscribe(subscriber, package, caller=Caller(portal=subscriber.portal), starts_at=starts_at,
                              expires_at=expires_at)
