"""Every change of subscribers and subscriptions: one function per change, one transaction, one operation."""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from catena_site import access_events
from catena_site.errors import Conflict, NotFound
from content.models import Package
from monitoring.operations import Actor, OperationType, changes, record

from .inputs import (
    SubscriberInput,
    SubscriptionInput,
    SubscriptionPeriodInput,
    check_period,
    check_player_password,
    full_number,
)
from .models import Subscriber, Subscription, new_playback_token, new_player_password


def _taken(portal, exclude: int | None, **value) -> bool:
    """Whether another subscriber of the portal (not ``exclude``) has this ``full_phone`` or ``login``."""
    return Subscriber.objects.for_portal(portal).filter(**value).exclude(pk=exclude).exists()


def duplicate_phone_message(full_phone: str) -> str:
    """The refusal of a number another subscriber of the portal has (the API's 409, a CSV import's line)."""
    return f"A subscriber with phone +{full_phone} already exists."


def _duplicate_phone(full_phone: str) -> Conflict:
    message = duplicate_phone_message(full_phone)
    return Conflict(message, {"phone": [message]})


def duplicate_login_message(login: str) -> str:
    """The refusal of a player login another subscriber of the portal has (the API's 409, a CSV import's line)."""
    return f"A subscriber with login {login} already exists."


def _duplicate_login(login: str) -> Conflict:
    message = duplicate_login_message(login)
    return Conflict(message, {"login": [message]})


def free_login(portal, full_phone: str) -> str:
    """The login a subscriber created without a manager (first SMS login) gets: its full phone number, or, when
    another subscriber has chosen that as its login, the number with the first free suffix ``-2``, ``-3``…
    (nobody is there to pick another, and the login can be changed later)."""
    taken = set(Subscriber.objects.for_portal(portal).filter(login__startswith=full_phone)
                .values_list("login", flat=True))
    login, suffix = full_phone, 1
    while login in taken:
        suffix += 1
        login = f"{full_phone}-{suffix}"
    return login


def _check_unique(portal, values: dict, pk: int | None = None) -> None:
    """409 naming ``phone`` or ``login`` when another subscriber of the portal (not ``pk``) has the number or the
    login of ``values``. The phone is checked first: a taken number is usually also the taken default login of
    the same subscriber, and one reason is enough."""
    number = values.get("full_phone")
    if number is not None and _taken(portal, pk, full_phone=number):
        raise _duplicate_phone(number)
    login = values.get("login")
    if login is not None and _taken(portal, pk, login=login):
        raise _duplicate_login(login)


def _save_unique(subscriber: Subscriber, values: dict, **kwargs) -> None:
    """Save under a savepoint: a unique constraint broken by a concurrent write is the same 409 as the checks'."""
    try:
        with transaction.atomic():
            subscriber.save(**kwargs)
    except IntegrityError:
        _check_unique(subscriber.portal, values, None if kwargs.get("force_insert") else subscriber.pk)
        raise


def clean_subscriber(data, *, subscriber: Subscriber | None = None) -> dict:
    """Subscriber input (API names) checked by ``SubscriberInput`` — every field's error at once, ``Invalid`` —
    as model field values, with ``full_phone`` whenever the number changes. An update (``subscriber`` given)
    checks only the fields sent and completes the number from the subscriber's.

    ``login`` is always set on a create, and on an update whenever it changes: absent on a create or null, it is
    the full phone number; on an update changing the number, a login still equal to the old number follows it.
    """
    values = SubscriberInput.check(data, partial=subscriber is not None)
    if "phone_country_code" in values or "phone" in values:
        values.setdefault("phone_country_code", subscriber.phone_country_code if subscriber else "")
        values.setdefault("phone", subscriber.phone if subscriber else "")
        values["full_phone"] = full_number(values["phone_country_code"], values["phone"])
    full_phone = values.get("full_phone", subscriber.full_phone if subscriber else None)
    if values.get("login") is None and ("login" in values or subscriber is None):
        values["login"] = full_phone
    elif "login" not in values and subscriber.login == subscriber.full_phone != full_phone:
        values["login"] = full_phone
    return values


def create_subscriber(portal, *, caller, data: dict) -> Subscriber:
    """Create a subscriber with a fresh playback token and player password. Records ``createSubscriber`` (with
    ``login`` when it is not the full phone number)."""
    caller.require("isSubscriberAdmin")
    values = clean_subscriber(data)
    with transaction.atomic():
        _check_unique(portal, values)
        subscriber = Subscriber(portal=portal, **values)
        _save_unique(subscriber, values, force_insert=True)
        payload = {"name": subscriber.name, "phone": subscriber.international_phone}
        if subscriber.login != subscriber.full_phone:
            payload["login"] = subscriber.login
        if subscriber.max_devices is not None:
            payload["maxDevices"] = subscriber.max_devices
        record(portal, OperationType.CREATE_SUBSCRIBER, actor=caller.actor, subscriber_id=subscriber.id,
               payload=payload)
        access_events.token_changed(subscriber.playback_token)
    return subscriber


def _snapshot(subscriber: Subscriber) -> dict:
    return {"name": subscriber.name, "phoneCountryCode": subscriber.phone_country_code, "phone": subscriber.phone,
            "maxDevices": subscriber.max_devices, "login": subscriber.login}


def update_subscriber(subscriber: Subscriber, *, caller, data: dict) -> Subscriber:
    """Change name, phone, device limit or login (old → new in ``updateSubscriber``; never the token or the
    player password). A login equal to the old full phone number follows a new number (:func:`clean_subscriber`)."""
    caller.require("isSubscriberAdmin")
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update(of=("self",)).select_related("portal").get(pk=subscriber.pk)
        values = clean_subscriber(data, subscriber=subscriber)
        _check_unique(subscriber.portal, values, subscriber.pk)
        before = _snapshot(subscriber)
        for field, value in values.items():
            setattr(subscriber, field, value)
        diff = changes(before, _snapshot(subscriber))
        if diff:
            _save_unique(subscriber, values)
            record(subscriber.portal, OperationType.UPDATE_SUBSCRIBER, actor=caller.actor,
                   subscriber_id=subscriber.id, payload=diff)
            access_events.token_changed(subscriber.playback_token)
            if "maxDevices" in diff:
                access_events.devices_changed(subscriber.id)
    return subscriber


def delete_subscriber(subscriber: Subscriber, *, caller) -> None:
    """Delete a subscriber: one ``deletePackageSubscriber`` per subscription, then ``deleteSubscriber``.

    Operations (and play-session history) name the subscriber by ID only, so they survive.
    """
    caller.require("isSubscriberAdmin")
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update(of=("self",)).select_related("portal").get(pk=subscriber.pk)
        for subscription in subscriber.subscriptions.select_related("package").order_by("id"):
            _record_subscription(OperationType.DELETE_PACKAGE_SUBSCRIBER, subscription, caller)
        record(subscriber.portal, OperationType.DELETE_SUBSCRIBER, actor=caller.actor, subscriber_id=subscriber.id,
               payload={"name": subscriber.name, "phone": subscriber.international_phone})
        access_events.token_changed(subscriber.playback_token)
        access_events.subscriber_changed(subscriber.id)
        access_events.recheck_sessions(subscriber.portal_id, subscriber_ids=[subscriber.id])
        subscriber.delete()


def set_disabled(subscriber: Subscriber, disabled: bool, *, caller) -> Subscriber:
    """Block or unblock a subscriber (``disableSubscriber``/``enableSubscriber``); subscriptions are kept."""
    caller.require("isSubscriberAdmin")
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update(of=("self",)).select_related("portal").get(pk=subscriber.pk)
        if subscriber.disabled != disabled:
            subscriber.disabled = disabled
            subscriber.save(update_fields=["disabled", "updated_at"])
            kind = OperationType.DISABLE_SUBSCRIBER if disabled else OperationType.ENABLE_SUBSCRIBER
            record(subscriber.portal, kind, actor=caller.actor, subscriber_id=subscriber.id, payload={})
            access_events.token_changed(subscriber.playback_token)
            if disabled:
                access_events.recheck_sessions(subscriber.portal_id, subscriber_ids=[subscriber.id])
    return subscriber


def reset_playback_token(subscriber: Subscriber, *, caller) -> Subscriber:
    """Issue a new playback token; the old one is refused from the moment this commits."""
    caller.require("isSubscriberAdmin")
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update(of=("self",)).select_related("portal").get(pk=subscriber.pk)
        old_token = subscriber.playback_token
        subscriber.playback_token = new_playback_token()
        subscriber.save(update_fields=["playback_token", "updated_at"])
        access_events.token_changed(old_token, subscriber.playback_token)
        access_events.recheck_sessions(subscriber.portal_id, subscriber_ids=[subscriber.id])
        record(subscriber.portal, OperationType.RESET_PLAYBACK_TOKEN, actor=caller.actor,
               subscriber_id=subscriber.id, payload={"playback_token": {"old": "<hidden>", "new": "<hidden>"}})
    return subscriber


def reset_player_password(subscriber: Subscriber, *, caller, password: str | None = None) -> Subscriber:
    """Give the subscriber a new player password (players.md §2): ``password`` when given (6–32 letters, digits or
    URL-safe signs, else ``Invalid`` naming ``playerPassword``), otherwise a generated one. Records
    ``resetPlayerPassword`` without the password; the same password again changes and records nothing.

    The Xtream API reads the password from the subscriber's row on every request, so the old one is refused from
    the moment this commits; ``token_changed`` also drops the cached facts of the subscriber's token, so a cache of
    player credentials kept under the token's stamp cannot outlive the change.
    """
    caller.require("isSubscriberAdmin")
    new = check_player_password(password) if password is not None else new_player_password()
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update(of=("self",)).select_related("portal").get(pk=subscriber.pk)
        if subscriber.player_password == new:
            return subscriber
        subscriber.player_password = new
        subscriber.save(update_fields=["player_password", "updated_at"])
        access_events.token_changed(subscriber.playback_token)
        record(subscriber.portal, OperationType.RESET_PLAYER_PASSWORD, actor=caller.actor,
               subscriber_id=subscriber.id,
               payload={"playerPassword": {"old": "<hidden>", "new": "<hidden>"}, "generated": password is None})
    return subscriber


def _utc(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def _record_subscription(kind: str, subscription: Subscription, caller=None, *, actor: Actor | None = None,
                         extra: dict | None = None) -> None:
    package = subscription.package
    record(package.portal, kind, actor=actor or caller.actor, subscriber_id=subscription.subscriber_id,
           package_id=package.id,
           payload={"packageId": package.public_id, "subscriberId": subscription.subscriber.public_id,
                    "packageName": package.name, **(extra or {})})


def _load(portal, values: dict) -> tuple[Subscriber, Package]:
    subscriber = Subscriber.objects.for_portal(portal).filter(pk=values["subscriberId"]).first()
    if subscriber is None:
        raise NotFound("No such subscriber in this portal.")
    package = Package.objects.for_portal(portal).select_related("portal").filter(pk=values["packageId"]).first()
    if package is None:
        raise NotFound("No such package in this portal.")
    return subscriber, package


def subscription_of(portal, data) -> tuple[Subscriber, Package]:
    """The subscriber and the package a ``/packages-subscribers`` body names (``SubscriptionInput``): ``Invalid``
    with every field's error at once, ``NotFound`` for an ID that is not one of ``portal``'s."""
    return _load(portal, SubscriptionInput.check(data, portal=portal))


def subscription_and_period(portal, data) -> tuple[Subscriber, Package, dict]:
    """:func:`subscription_of` for a body that may carry a period (``SubscriptionPeriodInput``): also the ends it
    sends, as ``{"starts_at": …, "expires_at": …}`` (only the keys sent; None is an open end)."""
    values = SubscriptionPeriodInput.check(data, portal=portal)
    period = {key: values[key] for key in ("starts_at", "expires_at") if key in values}
    return (*_load(portal, values), period)


def subscribe(subscriber: Subscriber, package, *, caller, starts_at: dt.datetime | None = None,
              expires_at: dt.datetime | None = None) -> Subscription:
    """Subscribe to a package of the same portal, for the period ``starts_at`` ≤ now < ``expires_at`` (None: an
    open end). An existing subscription is a 409 whatever the period asked (``PUT /packages-subscribers``, i.e.
    :func:`change_period`, changes a period). ``createPackageSubscriber`` carries the ends that were given."""
    caller.require("isSubscriberAdmin")
    if package.portal_id != subscriber.portal_id:
        raise NotFound("Not found.")
    check_period(starts_at, expires_at)
    with transaction.atomic():
        if Subscription.objects.filter(subscriber=subscriber, package=package).exists():
            raise Conflict(f"The subscriber already has package '{package.name}'.")
        try:
            with transaction.atomic():
                subscription = Subscription.objects.create(subscriber=subscriber, package=package,
                                                           starts_at=starts_at, expires_at=expires_at)
        except IntegrityError:
            raise Conflict(f"The subscriber already has package '{package.name}'.") from None
        extra = {"startsAt": _utc(starts_at)} if starts_at is not None else {}
        if expires_at is not None:
            extra["expiresAt"] = _utc(expires_at)
        _record_subscription(OperationType.CREATE_PACKAGE_SUBSCRIBER, subscription, caller, extra=extra)
        access_events.subscriber_changed(subscriber.id)
    return subscription


def change_period(subscription: Subscription, *, starts_at: dt.datetime | None, expires_at: dt.datetime | None,
                  actor: Actor) -> Subscription:
    """Set a subscription's period to ``starts_at`` ≤ now < ``expires_at`` (None: an open end), in one
    transaction. The callers check permissions (``isSubscriberAdmin``); the period's rules are checked here
    (``Invalid`` naming ``startsAt``/``expiresAt``).

    When the period differs from the stored one: records ``updatePackageSubscriber`` (``startsAt``/``expiresAt``
    old → new, only those that changed), invalidates the subscriber's cached playback facts and re-checks its
    play sessions (a shorter period may end access now). When ``expires_at`` changes, the period is a new one for
    the expiry job and the reminders: ``expiry_recorded_at`` and ``reminded_at`` are cleared, so a new end is
    recorded (``expirePackageSubscriber``) and reminded of once more; a change of ``starts_at`` alone keeps them.
    The same period again changes nothing and records nothing.
    """
    check_period(starts_at, expires_at)
    with transaction.atomic():
        subscription = (Subscription.objects.select_for_update(of=("self",))
                        .select_related("package__portal", "subscriber").get(pk=subscription.pk))
        before = {"startsAt": _utc(subscription.starts_at), "expiresAt": _utc(subscription.expires_at)}
        diff = changes(before, {"startsAt": _utc(starts_at), "expiresAt": _utc(expires_at)})
        if not diff:
            return subscription
        fields = ["starts_at", "expires_at"]
        if "expiresAt" in diff:
            subscription.expiry_recorded_at = subscription.reminded_at = None
            fields += ["expiry_recorded_at", "reminded_at"]
        subscription.starts_at, subscription.expires_at = starts_at, expires_at
        subscription.save(update_fields=fields)
        _record_subscription(OperationType.UPDATE_PACKAGE_SUBSCRIBER, subscription, actor=actor, extra=diff)
        subscriber = subscription.subscriber
        access_events.subscriber_changed(subscriber.id)
        access_events.recheck_sessions(subscriber.portal_id, subscriber_ids=[subscriber.id])
    return subscription


def update_subscription_period(subscriber: Subscriber, package, period: dict, *, caller) -> Subscription:
    """``PUT /packages-subscribers``: change the ends of the period that ``period`` names (the keys of
    :func:`subscription_and_period`; the others are kept) through :func:`change_period`. Not subscribed → 404."""
    caller.require("isSubscriberAdmin")
    subscription = Subscription.objects.filter(subscriber=subscriber, package=package).first()
    if subscription is None:
        raise NotFound(f"The subscriber is not subscribed to package '{package.name}'.")
    return change_period(subscription, starts_at=period.get("starts_at", subscription.starts_at),
                         expires_at=period.get("expires_at", subscription.expires_at), actor=caller.actor)


def unsubscribe(subscriber: Subscriber, package, *, caller) -> None:
    """End an explicit subscription; none (free packages included) is a 404."""
    caller.require("isSubscriberAdmin")
    with transaction.atomic():
        subscription = (Subscription.objects.select_for_update(of=("self",)).select_related("package", "subscriber")
                        .filter(subscriber=subscriber, package=package).first())
        if subscription is None:
            raise NotFound(f"The subscriber is not subscribed to package '{package.name}'.")
        _record_subscription(OperationType.DELETE_PACKAGE_SUBSCRIBER, subscription, caller)
        subscription.delete()
        access_events.subscriber_changed(subscriber.id)
        access_events.recheck_sessions(subscriber.portal_id, subscriber_ids=[subscriber.id])


def expire_subscriptions(now: dt.datetime | None = None, batch: int = 500) -> int:
    """The minute job: record ``expirePackageSubscriber`` (actor system) once per subscription whose period ended
    (``expires_at`` ≤ now) and was not recorded yet, and re-check the play sessions of their subscribers (the
    re-check closes those no longer allowed and asks the streaming server to re-authorize them). Expired
    subscriptions stay. Returns how many expiries it recorded.

    Each subscription is claimed by a conditional UPDATE of ``expiry_recorded_at`` (still empty, same end) in the
    transaction that records its operation, so two runs at once never record one expiry twice. The access rule
    itself never waits for this job: the cached playback facts carry the instants.
    """
    now = now or timezone.now()
    recorded = 0
    while True:
        with transaction.atomic():
            rows = list(Subscription.objects.select_for_update(of=("self",), skip_locked=True)
                        .filter(expires_at__lte=now, expiry_recorded_at__isnull=True)
                        .select_related("package__portal", "subscriber").order_by("expires_at", "id")[:batch])
            claimed = [row for row in rows if Subscription.objects.filter(
                pk=row.pk, expires_at=row.expires_at, expiry_recorded_at__isnull=True).update(expiry_recorded_at=now)]
            by_portal: dict[int, set[int]] = defaultdict(set)
            for row in claimed:
                _record_subscription(OperationType.EXPIRE_PACKAGE_SUBSCRIBER, row, actor=Actor.system(),
                                     extra={"expiresAt": _utc(row.expires_at)})
                by_portal[row.subscriber.portal_id].add(row.subscriber_id)
            for portal_id, subscriber_ids in by_portal.items():
                for subscriber_id in subscriber_ids:
                    access_events.subscriber_changed(subscriber_id)
                access_events.recheck_sessions(portal_id, subscriber_ids=subscriber_ids)
        recorded += len(claimed)
        if len(rows) < batch:
            return recorded


# --- Bulk subscriptions (the subscriber list's bulk actions) -------------------------------------------------


def chosen_subscribers(portal, subscribers):
    """The portal's subscribers among ``subscribers`` (IDs or a queryset): another portal's are not there."""
    queryset = Subscriber.objects.for_portal(portal)
    if isinstance(subscribers, QuerySet):
        return queryset.filter(id__in=subscribers.values("id"))
    return queryset.filter(id__in=list(subscribers))


def _bulk_targets(portal, subscribers, package):
    """The portal's subscribers among ``subscribers`` (IDs or a queryset), with the package's check."""
    if package.portal_id != portal.id:
        raise NotFound("Not found.")
    return chosen_subscribers(portal, subscribers)


def bulk_subscribe_targets(portal, subscribers, package):
    """Those of ``subscribers`` that do not have the package yet: the ones ``bulk_subscribe`` changes."""
    holders = Subscription.objects.filter(package=package).values("subscriber_id")
    return _bulk_targets(portal, subscribers, package).exclude(id__in=holders)


def bulk_unsubscribe_targets(portal, subscribers, package):
    """Those of ``subscribers`` that have the package: the ones ``bulk_unsubscribe`` changes."""
    holders = Subscription.objects.filter(package=package).values("subscriber_id")
    return _bulk_targets(portal, subscribers, package).filter(id__in=holders)


def bulk_subscribe(portal, subscribers, package, *, caller, starts_at: dt.datetime | None = None,
                   expires_at: dt.datetime | None = None) -> int:
    """Subscribe every one of ``subscribers`` (IDs or a queryset) that lacks the package, in one transaction,
    for the period ``starts_at`` ≤ now < ``expires_at`` (None: an open end).

    Each goes through :func:`subscribe` (its own operation); those already subscribed are skipped. Returns
    how many were subscribed.
    """
    caller.require("isSubscriberAdmin")
    check_period(starts_at, expires_at)
    period = {key: value for key, value in (("starts_at", starts_at), ("expires_at", expires_at)) if value}
    with transaction.atomic():
        targets = list(bulk_subscribe_targets(portal, subscribers, package).select_for_update().order_by("id"))
        for subscriber in targets:
            subscribe(subscriber, package, caller=caller, **period)
    return len(targets)


def bulk_unsubscribe(portal, subscribers, package, *, caller) -> int:
    """End the package's subscription of every one of ``subscribers`` that has it, in one transaction.

    Each goes through :func:`unsubscribe`; those without it are skipped. Returns how many were unsubscribed.
    """
    caller.require("isSubscriberAdmin")
    with transaction.atomic():
        targets = list(bulk_unsubscribe_targets(portal, subscribers, package).select_for_update().order_by("id"))
        for subscriber in targets:
            unsubscribe(subscriber, package, caller=caller)
    return len(targets)


# --- Extending periods (the subscriber list's and card's "Extend") ------------------------------------------


def add_months(value: dt.datetime, months: int) -> dt.datetime:
    """``value`` moved ``months`` calendar months on, at the same time of day; a day the month lacks becomes its
    last day (31 January + 1 month = 28 or 29 February)."""
    month = value.month - 1 + months
    year, month = value.year + month // 12, month % 12 + 1
    return value.replace(year=year, month=month, day=min(value.day, calendar.monthrange(year, month)[1]))


def extended_end(expires_at: dt.datetime, *, days: int = 0, months: int = 0, now: dt.datetime) -> dt.datetime:
    """The end of a period extended by ``months`` calendar months and ``days`` days, counted from its current
    end, or from ``now`` when it has already ended (a lapsed subscription renewed starts over now)."""
    return add_months(max(expires_at, now), months) + dt.timedelta(days=days)


def extension_targets(portal, subscribers) -> tuple[QuerySet, QuerySet]:
    """The subscriptions of the chosen subscribers that an extension changes (those with an end, in force or
    ended), and those it leaves as they are (no end: open already)."""
    subscriptions = Subscription.objects.filter(subscriber__in=chosen_subscribers(portal, subscribers))
    return subscriptions.filter(expires_at__isnull=False), subscriptions.filter(expires_at__isnull=True)


def extend_subscriptions(portal, subscribers, *, days: int = 0, months: int = 0, caller) -> int:
    """Extend every subscription with an end of ``subscribers`` (IDs or a queryset) by ``months`` calendar months
    and ``days`` days (:func:`extended_end`), in one transaction: each through :func:`change_period` (its
    ``updatePackageSubscriber``, invalidation and session re-check). Subscriptions without an end are left open.
    A new end breaking the period rules (more than 10 years ahead) refuses the whole extension (``Invalid``).
    Returns how many subscriptions were extended."""
    caller.require("isSubscriberAdmin")
    now = timezone.now()
    with transaction.atomic():
        changing, _ = extension_targets(portal, subscribers)
        rows = list(changing.select_for_update(of=("self",)).order_by("id"))
        for subscription in rows:
            change_period(subscription, starts_at=subscription.starts_at, actor=caller.actor,
                          expires_at=extended_end(subscription.expires_at, days=days, months=months, now=now))
    return len(rows)
