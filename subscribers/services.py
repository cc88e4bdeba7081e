"""Every change of subscribers and subscriptions: one function per change, one transaction, one operation."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from catena_site import access_events
from catena_site.errors import Conflict, NotFound
from content.models import Package
from monitoring.operations import OperationType, changes, record

from .inputs import SubscriberInput, SubscriptionInput, full_number
from .models import Subscriber, Subscription, new_playback_token


def _phone_taken(portal, full_phone: str, exclude: int | None = None) -> bool:
    return Subscriber.objects.for_portal(portal).filter(full_phone=full_phone).exclude(pk=exclude).exists()


def duplicate_phone_message(full_phone: str) -> str:
    """The refusal of a number another subscriber of the portal has (the API's 409, a CSV import's line)."""
    return f"A subscriber with phone +{full_phone} already exists."


def _duplicate_phone(full_phone: str) -> Conflict:
    message = duplicate_phone_message(full_phone)
    return Conflict(message, {"phone": [message]})


def clean_subscriber(data, *, subscriber: Subscriber | None = None) -> dict:
    """Subscriber input (API names) checked by ``SubscriberInput`` — every field's error at once, ``Invalid`` —
    as model field values, with ``full_phone`` whenever the number changes. An update (``subscriber`` given)
    checks only the fields sent and completes the number from the subscriber's."""
    values = SubscriberInput.check(data, partial=subscriber is not None)
    if "phone_country_code" in values or "phone" in values:
        values.setdefault("phone_country_code", subscriber.phone_country_code if subscriber else "")
        values.setdefault("phone", subscriber.phone if subscriber else "")
        values["full_phone"] = full_number(values["phone_country_code"], values["phone"])
    return values


def create_subscriber(portal, *, caller, data: dict) -> Subscriber:
    """Create a subscriber with a fresh playback token. Records ``createSubscriber``."""
    caller.require("isSubscriberAdmin")
    values = clean_subscriber(data)
    with transaction.atomic():
        if _phone_taken(portal, values["full_phone"]):
            raise _duplicate_phone(values["full_phone"])
        try:
            with transaction.atomic():
                subscriber = Subscriber.objects.create(portal=portal, **values)
        except IntegrityError:
            raise _duplicate_phone(values["full_phone"]) from None
        payload = {"name": subscriber.name, "phone": subscriber.international_phone}
        if subscriber.max_devices is not None:
            payload["maxDevices"] = subscriber.max_devices
        record(portal, OperationType.CREATE_SUBSCRIBER, actor=caller.actor, subscriber_id=subscriber.id,
               payload=payload)
        access_events.token_changed(subscriber.playback_token)
    return subscriber


def _snapshot(subscriber: Subscriber) -> dict:
    return {"name": subscriber.name, "phoneCountryCode": subscriber.phone_country_code, "phone": subscriber.phone,
            "maxDevices": subscriber.max_devices}


def update_subscriber(subscriber: Subscriber, *, caller, data: dict) -> Subscriber:
    """Change name or phone (old → new in ``updateSubscriber``; never the token)."""
    caller.require("isSubscriberAdmin")
    with transaction.atomic():
        subscriber = Subscriber.objects.select_for_update(of=("self",)).select_related("portal").get(pk=subscriber.pk)
        values = clean_subscriber(data, subscriber=subscriber)
        if "full_phone" in values and values["full_phone"] != subscriber.full_phone and _phone_taken(
                subscriber.portal, values["full_phone"], subscriber.pk):
            raise _duplicate_phone(values["full_phone"])
        before = _snapshot(subscriber)
        for field, value in values.items():
            setattr(subscriber, field, value)
        diff = changes(before, _snapshot(subscriber))
        if diff:
            subscriber.save()
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


def _record_subscription(kind: str, subscription: Subscription, caller) -> None:
    package = subscription.package
    record(package.portal, kind, actor=caller.actor, subscriber_id=subscription.subscriber_id,
           package_id=package.id,
           payload={"packageId": package.public_id, "subscriberId": subscription.subscriber.public_id,
                    "packageName": package.name})


def subscription_of(portal, data) -> tuple[Subscriber, Package]:
    """The subscriber and the package a ``/packages-subscribers`` body names (``SubscriptionInput``): ``Invalid``
    with every field's error at once, ``NotFound`` for an ID that is not one of ``portal``'s."""
    values = SubscriptionInput.check(data, portal=portal)
    subscriber = Subscriber.objects.for_portal(portal).filter(pk=values["subscriberId"]).first()
    if subscriber is None:
        raise NotFound("No such subscriber in this portal.")
    package = Package.objects.for_portal(portal).select_related("portal").filter(pk=values["packageId"]).first()
    if package is None:
        raise NotFound("No such package in this portal.")
    return subscriber, package


def subscribe(subscriber: Subscriber, package, *, caller) -> Subscription:
    """Subscribe to a package of the same portal; an existing subscription is a 409."""
    caller.require("isSubscriberAdmin")
    if package.portal_id != subscriber.portal_id:
        raise NotFound("Not found.")
    with transaction.atomic():
        if Subscription.objects.filter(subscriber=subscriber, package=package).exists():
            raise Conflict(f"The subscriber already has package '{package.name}'.")
        try:
            with transaction.atomic():
                subscription = Subscription.objects.create(subscriber=subscriber, package=package)
        except IntegrityError:
            raise Conflict(f"The subscriber already has package '{package.name}'.") from None
        _record_subscription(OperationType.CREATE_PACKAGE_SUBSCRIBER, subscription, caller)
        access_events.subscriber_changed(subscriber.id)
    return subscription


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


# --- Bulk subscriptions (the subscriber list's bulk actions) -------------------------------------------------


def _bulk_targets(portal, subscribers, package):
    """The portal's subscribers among ``subscribers`` (IDs or a queryset), with the package's check."""
    if package.portal_id != portal.id:
        raise NotFound("Not found.")
    queryset = Subscriber.objects.for_portal(portal)
    if isinstance(subscribers, QuerySet):
        return queryset.filter(id__in=subscribers.values("id"))
    return queryset.filter(id__in=list(subscribers))


def bulk_subscribe_targets(portal, subscribers, package):
    """Those of ``subscribers`` that do not have the package yet: the ones ``bulk_subscribe`` changes."""
    holders = Subscription.objects.filter(package=package).values("subscriber_id")
    return _bulk_targets(portal, subscribers, package).exclude(id__in=holders)


def bulk_unsubscribe_targets(portal, subscribers, package):
    """Those of ``subscribers`` that have the package: the ones ``bulk_unsubscribe`` changes."""
    holders = Subscription.objects.filter(package=package).values("subscriber_id")
    return _bulk_targets(portal, subscribers, package).filter(id__in=holders)


def bulk_subscribe(portal, subscribers, package, *, caller) -> int:
    """Subscribe every one of ``subscribers`` (IDs or a queryset) that lacks the package, in one transaction.

    Each goes through :func:`subscribe` (its own operation); those already subscribed are skipped. Returns
    how many were subscribed.
    """
    caller.require("isSubscriberAdmin")
    with transaction.atomic():
        targets = list(bulk_subscribe_targets(portal, subscribers, package).select_for_update().order_by("id"))
        for subscriber in targets:
            subscribe(subscriber, package, caller=caller)
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
