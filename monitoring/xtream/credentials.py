"""Who an Xtream request is for: the portal, and a subscriber's ``login`` and player password (players.md §2),
compared in constant time, with wrong passwords throttled per client address."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from typing import NamedTuple

from django.conf import settings

from catena_site import access_events, throttle
from catena_site.errors import NotFound, RateLimited
from catena_site.shared_store import CacheErrors, Script, store
from catena_site.throttle import Counter, Limit
from portals.models import Portal
from subscribers.access import player_password_matches
from subscribers.models import Subscriber

from .catalog import forget, keep

# 20 wrong passwords from one address within a minute: that address (and only it) gets 429, whatever the password,
# until the oldest of them leaves the window. Right passwords are never counted (a player asks many times a
# minute), so a request reads the count (one round trip) and only a wrong password adds to it: concurrent wrong
# guesses can pass the limit by at most their number, which leaves a 10-character password as safe.
WRONG_PASSWORDS = Limit("xtream-ip", 20, 60, "Too many wrong player passwords from this address; try again later.")
NO_API = "No Xtream Codes API here: unknown portal, or its xtreamApi setting is off."

log = logging.getLogger(__name__)

_MAX_LOGIN = Subscriber._meta.get_field("login").max_length
_PORTAL_FIELDS = ("id", "name", "domain", "settings", "streaming_server_id")


@dataclass(frozen=True)
class Player:
    """A subscriber logged in with its player password: the attributes the access rule and the stream URLs read
    (``subscribers.access``, ``client_api.views.stream_url``), without loading the whole model."""

    id: int
    portal: Portal
    login: str
    player_password: str
    playback_token: str
    disabled: bool
    created_at: dt.datetime

    @property
    def portal_id(self) -> int:
        return self.portal.id


class _KeptLogin(NamedTuple):
    stamps: dict  # stamp key → the value read before the subscriber was (``access_events``)
    player: Player
    read_at: float  # time.monotonic()


# Per process: successful logins by :func:`_login_key`, oldest first (see :func:`log_in`). ``KEPT_LOGIN_MAX_AGE``
# bounds what no stamp announces (a row changed outside the services); ``MAX_KEPT_LOGINS`` the memory (a few KB
# each, with its portal): the oldest goes first.
_logins: dict[bytes, _KeptLogin] = {}
MAX_KEPT_LOGINS = 5_000
KEPT_LOGIN_MAX_AGE = 300.0


def _usable(text: str) -> bool:
    # A control character (a NUL above all: PostgreSQL refuses it in a query) or an overlong login never matches.
    return 0 < len(text) <= _MAX_LOGIN and text.isprintable()


def _serving(portal: Portal | None) -> Portal:
    if portal is None or not portal.effective_settings.get("xtreamApi"):
        raise NotFound(NO_API)
    return portal


def player_for(portals: dict, login: str | None, password: str | None) -> tuple[Portal, Player | None]:
    """The portal (``portals``: the filter naming it) and its subscriber with this login and player password, or
    None; 404 when no such portal serves the Xtream API. One query when the login exists (the subscriber with its
    portal), two otherwise. The password is compared by ``subscribers.access.player_password_matches`` (in
    constant time, against a dummy when the login is unknown)."""
    login, password = login or "", password or ""
    subscriber = None
    if _usable(login):
        subscriber = (Subscriber.objects.select_related("portal")
                      .only("id", "login", "player_password", "playback_token", "disabled", "created_at",
                            *(f"portal__{name}" for name in _PORTAL_FIELDS))
                      .filter(login=login, **{f"portal__{key}": value for key, value in portals.items()}).first())
    portal = _serving(subscriber.portal if subscriber is not None else Portal.objects.only(*_PORTAL_FIELDS).filter(**portals).first())
    matches = player_password_matches(subscriber.player_password if subscriber is not None else None, password)
    if subscriber is None or not matches or not password:
        return portal, None
    return portal, Player(subscriber.id, portal, login, subscriber.player_password, subscriber.playback_token,
                          subscriber.disabled, subscriber.created_at)


def _login_key(portals: dict, login: str, password: str) -> bytes:
    # A digest: the per-process cache's keys hold no password.
    text = "\x1f".join([*(f"{key}={value}" for key, value in sorted(portals.items())), login, password])
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def _stamp_keys(player: Player) -> list[str]:
    # The token's stamp: login, password, blocking, token reset, deletion (``access_events.token_changed``); the
    # portal's: its settings (``xtreamApi``, ``streamBaseUrl``) and streaming server (``portal_changed``).
    return [access_events.token_stamp_key(player.playback_token), access_events.portal_stamp_key(player.portal.id)]


def _current_stamps(cache, stamp_keys: list[str]) -> dict | None:
    """The stamps under these keys, creating the missing ones; None when one cannot be had (evicted at once)."""
    found = cache.get_many(stamp_keys)
    for key in stamp_keys:
        if key not in found:
            fresh = secrets.token_hex(8)
            found[key] = fresh if cache.add(key, fresh, None) else cache.get_many([key]).get(key)
    return found if None not in found.values() else None


def _remember(key: bytes, portals: dict, login: str, password: str, player: Player) -> None:
    """Keep a successful login for the next requests: its stamps are read first, then the subscriber again (what
    is kept), so a change committing meanwhile leaves the kept login invalid rather than stale."""
    try:
        stamps = _current_stamps(store(), _stamp_keys(player))
    except CacheErrors:
        return
    again = player_for(portals, login, password)[1] if stamps is not None else None
    if again is None or again.playback_token != player.playback_token:
        return
    keep(_logins, key, _KeptLogin(stamps, again, time.monotonic()), MAX_KEPT_LOGINS)


# MGET through the store's own connection (``RedisStore.run``), which costs less than redis-py's command machinery.
_MGET = Script("return redis.call('MGET', unpack(KEYS))")


def _get_many(cache, keys: list[str]) -> dict:
    if not cache.supports_scripts or not keys:
        return cache.get_many(keys)
    return {key: cache.loads(value) for key, value in zip(keys, cache.run(_MGET, keys, ())) if value is not None}


def _read(counter: Counter, kept: _KeptLogin | None, now: float) -> tuple[int, bool]:
    """``(wrong passwords of the address in the window, whether the kept login still holds)``: one round trip
    when the throttle and the stamps share the cache (the default)."""
    shared = getattr(settings, "STREAMER_CACHE_ALIAS", "default") == throttle.CACHE_ALIAS
    stamp_keys = list(kept.stamps) if kept is not None else []
    try:
        found = _get_many(store(), counter.bucket_keys(now) + stamp_keys if shared else stamp_keys)
    except CacheErrors:
        log.warning("shared cache unavailable: logging the player in from the database", exc_info=True)
        return (0 if shared else counter.count(now)), False
    count = counter.count_in(found, now) if shared else counter.count(now)
    holds = kept is not None and all(found.get(key) == value for key, value in kept.stamps.items())
    return count, holds


def log_in(portals: dict, login: str | None, password: str | None, ip: str | None) -> tuple[Portal, Player | None]:
    """:func:`player_for`, within the address's limit of wrong passwords: ``RateLimited`` (429) when the address
    is past it, whatever the password; a wrong password (or none) counts one more.

    A successful login is kept in this process (keyed by a digest of the portal, login and password) with the
    stamps of the subscriber's token and of its portal, and used again while they hold: a password reset, a
    login change, a block, a token reset, a deletion or a portal settings change deletes one of them after its
    commit, so the next request reads the database again. A warm login is thus one read of the shared cache
    (the address's wrong passwords and the two stamps, together) and no query."""
    login, password = login or "", password or ""
    counter = Counter.of(WRONG_PASSWORDS, ip or "-")
    now, key = time.time(), _login_key(portals, login, password)
    kept = _logins.get(key)
    if kept is not None and time.monotonic() - kept.read_at >= KEPT_LOGIN_MAX_AGE:
        kept = None
    count, holds = _read(counter, kept, now)
    if count >= WRONG_PASSWORDS.limit:
        raise RateLimited(WRONG_PASSWORDS.message, counter.retry_after())
    if holds:
        return kept.player.portal, kept.player
    forget(_logins, key)
    portal, player = player_for(portals, login, password)
    if player is None:
        counter.add()
    else:
        _remember(key, portals, login, password, player)
    return portal, player
