"""SMS login of subscribers and their app sessions.

No enumeration: a known and an unknown number get the same answer and the same limits (counted per number
across every portal, in the shared cache: ``catena_site.throttle``); a code is only sent to a subscriber's
number, or to any number when the portal allows self-registration; an expired code is refused like a wrong one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from catena_site.errors import Forbidden, Unauthorized
from catena_site.throttle import Counter, Limit, take
from monitoring.operations import Actor, OperationType, record
from portals.models import DEFAULT_SMS_TEMPLATE

from . import devices, inputs
from .client_sessions import AppSession, SmsCode
from .models import Device, Subscriber
from .services import free_login

RESEND_SECONDS = 60
PER_NUMBER_PER_HOUR = 5
PER_IP_PER_HOUR = 30
RESEND_LIMIT = Limit("sms-resend", 1, RESEND_SECONDS, "A code was sent to this number less than a minute ago.")
NUMBER_LIMIT = Limit("sms-number", PER_NUMBER_PER_HOUR, 3600, "Too many codes for this number; try again later.")
IP_LIMIT = Limit("sms-ip", PER_IP_PER_HOUR, 3600, "Too many code requests from this address; try again later.")
MAX_ATTEMPTS = 5
CODE_MISMATCH = "sms code doesn't match"


def _hash(portal_id: int, full_phone: str, code: str) -> str:
    message = f"{portal_id}:{full_phone}:{code}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _full_phone(shape, data: dict) -> str:
    """The number of a login request checked with ``shape``; ``Invalid`` with every field's error at once."""
    values = shape.check(data)
    return inputs.full_number(values["phoneCountryCode"], values["phone"])


def sms_text(portal, code: str) -> str:
    """The portal's SMS template with its title and the code filled in."""
    template = portal.effective_settings.get("smsTemplate") or DEFAULT_SMS_TEMPLATE
    return template.replace("{title}", portal.display_title).replace("{code}", code)


def _limits(full_phone: str, ip: str | None) -> list[Counter]:
    """The counters of a code request: per number (across every portal: one phone, one inbox) and per IP."""
    counters = [Counter.of(RESEND_LIMIT, full_phone), Counter.of(NUMBER_LIMIT, full_phone)]
    if ip:
        counters.append(Counter.of(IP_LIMIT, ip))
    return counters


def request_code(portal, country_code, phone, *, ip: str | None = None) -> dict:
    """Send a fresh 4-digit code when the number may log in; the answer never tells whether it may."""
    full_phone = _full_phone(inputs.SmsRequestInput, {"phoneCountryCode": country_code, "phone": phone})
    now = timezone.now()
    counted = take(*_limits(full_phone, ip))  # RateLimited; a refused request is not counted
    try:
        _store_and_send(portal, full_phone, now)
    except Exception:
        for counter in counted:  # nothing was sent: the request does not count
            counter.undo()
        raise
    return {"ttl": settings.SMS_CODE_TTL, "retryAfter": RESEND_SECONDS}


def _store_and_send(portal, full_phone: str, now: dt.datetime) -> None:
    from .sms import get_backend

    with transaction.atomic():
        known = Subscriber.objects.for_portal(portal).filter(full_phone=full_phone).exists()
        if known or portal.effective_settings.get("autoCreateSubscribers"):
            code = f"{secrets.randbelow(10_000):04d}"
            SmsCode.objects.update_or_create(
                portal=portal, full_phone=full_phone,
                defaults={"code_hash": _hash(portal.id, full_phone, code), "created_at": now,
                          "expires_at": now + dt.timedelta(seconds=settings.SMS_CODE_TTL), "attempts": 0},
            )
            text = sms_text(portal, code)
            transaction.on_commit(lambda: get_backend().send(f"+{full_phone}", text, portal.public_id))


def _spend_code(portal, full_phone: str, code: str, now: dt.datetime) -> str | None:
    """Check a code against the stored one and use it up; the refusal message, or None when it matched."""
    with transaction.atomic():
        stored = SmsCode.objects.select_for_update().filter(portal=portal, full_phone=full_phone).first()
        if stored is None or stored.attempts >= MAX_ATTEMPTS:
            return CODE_MISMATCH
        if stored.expires_at <= now:
            # The same answer as for a number that never had a code: "code expired" would tell a
            # subscriber's number (a code was stored) from an unknown one.
            stored.delete()
            return CODE_MISMATCH
        if not hmac.compare_digest(stored.code_hash, _hash(portal.id, full_phone, code)):
            stored.attempts += 1
            stored.save(update_fields=["attempts"])
            return CODE_MISMATCH
        stored.delete()
    return None


NO_DEVICE = object()  # verify_code's ``device_id`` when the body has none (null is a value, and refused)


def verify_code(portal, country_code, phone, code, *, ip: str | None = None, device: str = "",
                device_id=NO_DEVICE) -> dict:
    """Exchange a valid code for an app session; self-registers when the portal allows it. With ``device_id``
    (the app's device) the device is registered like one first seen playing (lifecycle.md §2): refused (403)
    when the portal registers no devices or the subscriber's are full under the ``refuse`` policy."""
    body = {"phoneCountryCode": country_code, "phone": phone, "code": code}
    if device_id is not NO_DEVICE:
        body["deviceId"] = device_id
    full_phone = _full_phone(inputs.SmsVerifyInput, body)
    now = timezone.now()
    refusal = _spend_code(portal, full_phone, code, now)  # committed on its own: a wrong try must count
    if refusal:
        raise Unauthorized(refusal)
    with transaction.atomic():
        subscriber = Subscriber.objects.for_portal(portal).filter(full_phone=full_phone).first()
        if subscriber is None:
            if not portal.effective_settings.get("autoCreateSubscribers"):
                raise Unauthorized(CODE_MISMATCH)
            subscriber = Subscriber.objects.create(portal=portal, name=f"+{full_phone}", phone_country_code=country_code,
                                                   phone=phone, full_phone=full_phone,
                                                   login=free_login(portal, full_phone))
            record(portal, OperationType.AUTO_CREATE_SUBSCRIBER, actor=Actor(Actor.SUBSCRIBER),
                   subscriber_id=subscriber.id, payload={"name": subscriber.name, "phone": subscriber.international_phone})
        if subscriber.disabled:
            raise Forbidden("This subscriber is blocked.")
        if device_id is not NO_DEVICE and device_id:
            _admit_app(subscriber, device_id, ip, device)
        return start_app_session(subscriber, ip=ip, device=device, now=now)


DEVICE_REFUSALS = {
    devices.TOO_MANY_DEVICES: "This subscriber already has as many devices as allowed; remove one first.",
    devices.UNKNOWN_DEVICE: "This device is not registered; ask your operator to add it.",
}


def _admit_app(subscriber, device_id: str, ip: str | None, user_agent: str) -> None:
    refusal = devices.see_device(subscriber.id, devices.device_uid(device_id), Device.Kind.APP, ip=ip,
                                 user_agent=user_agent)
    if refusal:
        raise Forbidden(DEVICE_REFUSALS[refusal])


def start_app_session(subscriber, *, ip: str | None = None, device: str = "", now: dt.datetime | None = None) -> dict:
    """A new app session of the subscriber (SMS login, STB login by MAC): ``{"token", "subscriber", "expires_at"}``."""
    now = now or timezone.now()
    token = secrets.token_urlsafe(32)
    expires_at = now + dt.timedelta(seconds=settings.APP_SESSION_TTL)
    with transaction.atomic():
        AppSession.objects.create(token_hash=_token_hash(token), subscriber=subscriber,
                                  full_phone=subscriber.full_phone, device=(device or "")[:300], ip=ip,
                                  last_seen_at=now, expires_at=expires_at)
        Subscriber.objects.filter(pk=subscriber.pk).update(last_activity_at=now)
    return {"token": token, "subscriber": subscriber, "expires_at": expires_at}


def session_for_token(token: str | None) -> AppSession | None:
    """The live app session of a bearer token; None (and the session removed) once it no longer holds."""
    if not token:
        return None
    session = AppSession.objects.select_related("subscriber", "subscriber__portal").filter(
        token_hash=_token_hash(token)).first()
    if session is None:
        return None
    subscriber = session.subscriber
    now = timezone.now()
    if session.expires_at <= now or subscriber.disabled or subscriber.full_phone != session.full_phone:
        session.delete()
        return None
    if (now - session.last_seen_at).total_seconds() > 60:
        AppSession.objects.filter(pk=session.pk).update(last_seen_at=now)
        Subscriber.objects.filter(pk=subscriber.pk).update(last_activity_at=now)
    return session


def end_app_session(token: str) -> bool:
    deleted, _ = AppSession.objects.filter(token_hash=_token_hash(token)).delete()
    return bool(deleted)


def end_all_app_sessions(subscriber) -> int:
    """Log a subscriber out of every app ("log out everywhere")."""
    deleted, _ = AppSession.objects.filter(subscriber=subscriber).delete()
    return deleted


def log_out_everywhere(subscriber, *, caller) -> int:
    """A manager logs a subscriber out of every app; the number of app sessions ended."""
    caller.require("isSubscriberAdmin")
    return end_all_app_sessions(subscriber)
