"""Leak detection: a playback token used from too many addresses (streaming.md §4).

More than ``TOKEN_SHARING_IPS`` distinct IP addresses within ``TOKEN_SHARING_WINDOW`` seconds mark the
subscriber ``suspectedSharing`` (a :class:`TokenSharingSuspicion` row, with the addresses) and record one
``tokenSharingSuspected`` operation per episode. It never blocks anything by itself; a token reset ends it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q

from catena_site.access_events import token_digest
from catena_site.shared_store import store
from portals.models import Portal

from .models import PlaySession, TokenSharingSuspicion
from .operations import Actor, OperationType, record

log = logging.getLogger(__name__)


def _window() -> dt.timedelta:
    return dt.timedelta(seconds=settings.TOKEN_SHARING_WINDOW)


def _address_key(subscriber_id: int, ip: str) -> str:
    """Cache key marking ``ip`` as already seen for the subscriber within the window."""
    return f"pb:ip:{subscriber_id}:{hashlib.sha256(ip.encode()).hexdigest()[:16]}"


def _alive_in_window(sessions, now: dt.datetime):
    """Sessions with an address, active or heard of within the window."""
    return sessions.filter(Q(updated_at__gte=now - _window()) | Q(active=True)).exclude(ip="")


def note_address(subscriber_id: int, portal_id: int, token: str, ip: str, now: dt.datetime) -> bool:
    """A session of the token started from ``ip``; check the token only when the address is new in the window.

    Returns whether sharing is suspected by this call (a new episode or an update of one).
    """
    if not ip or not token:
        return False
    try:
        new_address = store().add(_address_key(subscriber_id, ip), 1, settings.TOKEN_SHARING_WINDOW)
    except Exception:
        new_address = True
    if not new_address:
        return False  # the set of addresses did not grow
    return check_token(subscriber_id, portal_id, token, now)


def note_addresses(starts: list[tuple[int, int, str, str]], now: dt.datetime) -> list[int]:
    """:func:`note_address` for many ``(subscriber_id, portal_id, token, ip)`` at once: one query in all.

    Returns the subscribers found sharing.
    """
    seen = {}
    for subscriber_id, portal_id, token, ip in starts:
        if ip and token:
            seen.setdefault((subscriber_id, ip), (portal_id, token))
    if not seen:
        return []
    keys = [_address_key(subscriber_id, ip) for subscriber_id, ip in seen]
    try:
        added = store().add_many(keys, 1, settings.TOKEN_SHARING_WINDOW)
    except Exception:
        added = [True] * len(keys)
    fresh = {pair: owner for (pair, owner), new_address in zip(seen.items(), added) if new_address}
    if not fresh:
        return []
    by_token: dict[tuple[int, int, str], set[str]] = {}
    candidates = {(s, p, t) for (s, _), (p, t) in fresh.items()}
    rows = (_alive_in_window(PlaySession.objects.filter(portal_id__in={p for _, p, _ in candidates},
                                                        subscriber_id__in={s for s, _, _ in candidates}), now)
            .values_list("subscriber_id", "portal_id", "token", "ip").distinct())
    for subscriber_id, portal_id, token, ip in rows:
        if (subscriber_id, portal_id, token) in candidates:
            by_token.setdefault((subscriber_id, portal_id, token), set()).add(ip)
    sharing = [key for key, ips in by_token.items() if len(ips) > settings.TOKEN_SHARING_IPS]
    return [subscriber_id for subscriber_id, portal_id, token in sharing
            if check_token(subscriber_id, portal_id, token, now)]


def addresses_in_window(subscriber_id: int, portal_id: int, token: str, now: dt.datetime) -> list[str]:
    """Distinct addresses of the token's sessions alive within the window (indexed by subscriber)."""
    return sorted(set(
        _alive_in_window(PlaySession.objects.filter(portal_id=portal_id, subscriber_id=subscriber_id, token=token), now)
        .values_list("ip", flat=True).distinct()
    ))


def check_token(subscriber_id: int, portal_id: int, token: str, now: dt.datetime) -> bool:
    """Mark the subscriber if the token was used from more than ``TOKEN_SHARING_IPS`` addresses."""
    ips = addresses_in_window(subscriber_id, portal_id, token, now)
    if len(ips) <= settings.TOKEN_SHARING_IPS:
        return False
    digest = token_digest(token)
    try:
        with transaction.atomic():
            suspicion = TokenSharingSuspicion.objects.select_for_update().filter(subscriber_id=subscriber_id).first()
            new_episode = (suspicion is None or suspicion.token_digest != digest
                           or suspicion.last_detected_at < now - _window())
            if suspicion is None:
                suspicion = TokenSharingSuspicion(portal_id=portal_id, subscriber_id=subscriber_id, detected_at=now)
            if new_episode:
                suspicion.detected_at = now
            suspicion.token_digest, suspicion.ips, suspicion.last_detected_at = digest, ips, now
            suspicion.save()
            if new_episode:
                record(Portal(id=portal_id), OperationType.TOKEN_SHARING_SUSPECTED, actor=Actor.system(),
                       subscriber_id=subscriber_id,
                       payload={"ips": ips, "threshold": settings.TOKEN_SHARING_IPS,
                                "windowSeconds": settings.TOKEN_SHARING_WINDOW})
    except IntegrityError:  # the subscriber was deleted meanwhile
        log.info("subscriber %s vanished while checking token sharing", subscriber_id)
        return False
    return True
