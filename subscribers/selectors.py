"""Reads of subscribers shared by the API and the screens."""

from django.db import connection
from django.db.models import Prefetch, Q

from catena_site.access_events import token_digest
from catena_site.api.pagination import as_datetime

from .access import in_force
from .models import Subscriber, Subscription


def soonest_expiry(subscriber, now):
    """The soonest end among the subscriber's subscriptions in force at ``now`` (None when none of them ends),
    from the prefetched ``subscriptions``."""
    ends = [s.expires_at for s in subscriber.subscriptions.all() if s.expires_at is not None and in_force(s.starts_at, s.expires_at, now)]
    return min(ends, default=None)


def subscription_state(subscription, now) -> str:
    """``"active"`` (in force at ``now``), ``"expired"`` (its period ended) or ``"scheduled"`` (not started)."""
    if subscription.expires_at is not None and subscription.expires_at <= now:
        return "expired"
    if subscription.starts_at is not None and subscription.starts_at > now:
        return "scheduled"
    return "active"


def subscribers_for(portal):
    """The portal's subscribers with their subscriptions' package IDs and periods (one extra query) and any suspicion of
    token sharing (declared by monitoring on its side) loaded."""
    return Subscriber.objects.for_portal(portal).select_related("sharing_suspicion").prefetch_related(
        Prefetch("subscriptions", queryset=Subscription.objects.only(
            "id", "subscriber_id", "package_id", "starts_at", "expires_at").order_by("id"))
    )


def suspicion_holds(suspicion, subscriber) -> bool:
    """Whether a token-sharing ``suspicion`` (monitoring's row, or None) still holds for ``subscriber``: it does
    while its ``token_digest`` is the digest of the subscriber's *current* playback token (a reset ends it).

    The one statement of the rule; monitoring, which declares the suspicion's table, asks it here.
    """
    return suspicion is not None and suspicion.token_digest == token_digest(subscriber.playback_token)


def sharing_suspicion(subscriber):
    """The suspicion that the subscriber's *current* playback token is shared, or None.

    A suspicion recorded for an earlier token (before a reset) no longer counts.
    """
    suspicion = getattr(subscriber, "sharing_suspicion", None)
    return suspicion if suspicion_holds(suspicion, subscriber) else None


def subscribers_named(portal, text: str) -> list[int]:
    """The portal's subscribers a filter typed as text stands for: the name (any case), or the phone number
    (its digits, with or without the country code)."""
    text = text.strip()
    condition = Q(name__iexact=text)
    digits = "".join(ch for ch in text if ch.isdigit())
    if digits and len(digits) == len(text.lstrip("+").replace(" ", "").replace("-", "")):
        condition |= Q(full_phone=digits) | Q(phone=digits)
    return list(Subscriber.objects.for_portal(portal).filter(condition).values_list("id", flat=True)[:100])


# A page's subscriptions on PostgreSQL: one parameter for all the IDs and the times as integer microseconds (the
# ORM's ``IN`` of 100 parameters and its time zone loader cost four times the query; bench/lists.py).
_PERIODS_SQL = ("SELECT subscriber_id, package_id, (extract(epoch from starts_at) * 1000000)::bigint, "
                "(extract(epoch from expires_at) * 1000000)::bigint FROM subscribers_subscription "
                "WHERE subscriber_id = ANY(%s) ORDER BY id")


def periods_by_subscriber(subscriber_ids: list[int]) -> dict[int, list[tuple]]:
    """``(package ID, starts_at, expires_at)`` of each subscriber's subscriptions in subscription order, in one
    query (a list page's)."""
    found: dict[int, list[tuple]] = {subscriber_id: [] for subscriber_id in subscriber_ids}
    if not found:
        return found
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_PERIODS_SQL, [list(found)])
            rows = cursor.fetchall()
    else:
        rows = (Subscription.objects.filter(subscriber_id__in=found).order_by("id")
                .values_list("subscriber_id", "package_id", "starts_at", "expires_at"))
    for subscriber_id, package_id, starts_at, expires_at in rows:
        found[subscriber_id].append((package_id, as_datetime(starts_at), as_datetime(expires_at)))
    return found
