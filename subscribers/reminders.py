"""Expiry reminders by SMS (lifecycle.md §1): one message per subscription, never twice.

A daily beat job (``subscribers.send-expiry-reminders``) looks, in every portal whose ``expiryReminderDays``
is set, for subscriptions in force whose ``expires_at`` falls within that many days from the run, of subscribers
who are not blocked. Each is claimed with a conditional UPDATE (``reminded_at`` still empty and the period
still the one seen), so two runs at once, or a run repeated, send it once; changing the period
(``change_period``) clears ``reminded_at``, so the new period gets its own reminder. The message goes through
the portal's SMS backend after commit, and counts against the number's SMS limit (``sms_login.NUMBER_LIMIT``,
shared with login codes): a number over its limit is skipped and tried again on the next run. Each reminder
sent is stored (``ExpiryReminder``) and listed on the subscriber card.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.utils import timezone

from catena_site.errors import RateLimited
from catena_site.throttle import Counter, take
from portals.models import DEFAULT_EXPIRY_REMINDER_TEMPLATE, Portal

from .access import in_force_filter
from .models import ExpiryReminder, Subscription
from .sms_login import NUMBER_LIMIT

log = logging.getLogger("catena.sms")


def reminder_text(portal, package_name: str, expires_at: dt.datetime) -> str:
    """The portal's reminder template (or the default) with ``{title}``, ``{package}`` and ``{date}``
    (the end's day in UTC, ``YYYY-MM-DD``) filled in."""
    template = portal.effective_settings.get("expiryReminderTemplate") or DEFAULT_EXPIRY_REMINDER_TEMPLATE
    day = expires_at.astimezone(dt.UTC).strftime("%Y-%m-%d")
    return (template.replace("{title}", portal.display_title).replace("{package}", package_name)
            .replace("{date}", day))


def due_reminders(portal, days: int, now: dt.datetime):
    """The portal's subscriptions a run at ``now`` reminds: in force, ending within ``days``, not reminded
    yet, of subscribers who are not blocked."""
    return (Subscription.objects.filter(in_force_filter(now), subscriber__portal=portal, subscriber__disabled=False,
                                        reminded_at__isnull=True, expires_at__lte=now + dt.timedelta(days=days))
            .select_related("subscriber", "package").order_by("expires_at", "id"))


def send_expiry_reminders(now: dt.datetime | None = None) -> int:
    """Send every reminder due now in every portal that has reminders on; how many were sent."""
    now = now or timezone.now()
    sent = 0
    for portal in Portal.objects.order_by("id"):
        days = portal.effective_settings.get("expiryReminderDays")
        if days:
            sent += sum(_remind(portal, subscription, now) for subscription in due_reminders(portal, days, now))
    return sent


def _remind(portal, subscription: Subscription, now: dt.datetime) -> bool:
    """Claim one subscription's reminder and send it after commit; False when another run had it or the
    number is over its SMS limit (tried again next run)."""
    subscriber = subscription.subscriber
    try:
        counted = take(Counter.of(NUMBER_LIMIT, subscriber.full_phone))
    except RateLimited:
        log.warning("Expiry reminder to %s (portal %s) postponed: too many SMS to this number",
                    subscriber.international_phone, portal.public_id)
        return False
    with transaction.atomic():
        claimed = Subscription.objects.filter(pk=subscription.pk, reminded_at__isnull=True,
                                              expires_at=subscription.expires_at).update(reminded_at=now)
        if claimed:
            text = reminder_text(portal, subscription.package.name, subscription.expires_at)
            ExpiryReminder.objects.create(subscriber=subscriber, package=subscription.package,
                                          package_name=subscription.package.name,
                                          expires_at=subscription.expires_at, sent_at=now,
                                          phone=subscriber.international_phone, text=text)
            transaction.on_commit(lambda: _send(subscriber.international_phone, text, portal.public_id))
    if not claimed:
        for counter in counted:
            counter.undo()
    return bool(claimed)


def _send(to: str, text: str, portal_id: str) -> None:
    from .sms import get_backend

    get_backend().send(to, text, portal_id)
