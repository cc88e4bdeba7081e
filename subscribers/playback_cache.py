"""The facts behind playback decisions, cached in the shared cache and never stale.

The streaming server asks on every play whether a token may play a stream name. The answer depends on
facts about the token's subscriber (who, which portal, disabled?, the session limit, the names of the
channels it may watch). They are cached per token in the cache every process shares (Redis in production, a
file-based cache in the embedded default — never per-process memory), so a warm check reads the cache only.

Exactness: each entry stores the *stamps* (see ``catena_site.access_events``) of the facts it was computed
from — the token's, the subscriber's subscriptions', the portal's (free packages, settings) and one per
granting package. A check compares them with the current stamps in one ``get_many``; a change deletes the
stamp key after commit, so the next check recomputes. Stamps are read before the database, so a change
committed while an entry is being computed leaves that entry invalid rather than stale.

On a miss, every fact costs one indexed query (``subscribers.access``); an unknown token is remembered for a
minute (tokens are 192-bit random strings: a new token can never have been looked up before).
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from typing import NamedTuple

from django.conf import settings

from catena_site import access_events as keys
from content.models import TECHNICAL_NAME_PATTERN

from . import access

log = logging.getLogger(__name__)

UNKNOWN_TOKEN_TTL = 60  # seconds
_NAME = re.compile(TECHNICAL_NAME_PATTERN)


@dataclass(frozen=True, slots=True)
class PlaybackFacts:
    """What a playback decision needs to know about a token's subscriber."""

    subscriber_id: int
    portal_id: int
    disabled: bool
    max_sessions: int | None
    channels: dict[str, int]  # name → ID of every channel the subscriber may watch (empty when disabled)


class _SubscriberRef(NamedTuple):
    """The attributes of a subscriber the access rule reads."""

    id: int
    portal_id: int
    disabled: bool


def entry_key(token: str) -> str:
    return f"pb:e:{keys.token_digest(token)}"


def channel_key(portal_id: int, name: str) -> str:
    return f"pb:c:{portal_id}:{name}"


def valid_stream_name(name) -> bool:
    """Whether a stream name can be a channel's technical name at all (no query needed otherwise)."""
    return isinstance(name, str) and _NAME.match(name) is not None


def _ttl() -> int:
    return getattr(settings, "STREAMER_CACHE_TTL", 3600)


def _stamps(cache, stamp_keys: list[str]) -> dict[str, str]:
    """The current stamps under these keys, creating the missing ones."""
    found = cache.get_many(stamp_keys) if stamp_keys else {}
    for key in stamp_keys:
        if key not in found:
            fresh = secrets.token_hex(8)
            if cache.add(key, fresh, timeout=None):
                found[key] = fresh
            else:  # another process created it meanwhile (or it was evicted at once: never matches then)
                found[key] = cache.get(key) or secrets.token_hex(8)
    return found


def _valid(cache, stamps: dict[str, str]) -> bool:
    return cache.get_many(list(stamps)) == stamps


def _compute(cache, token: str) -> tuple[tuple, tuple | None]:
    """Read the facts from the database (stamps first); return ``(stamps, facts tuple or None)``."""
    stamps = _stamps(cache, [keys.token_stamp_key(token)])
    row = access.subscriber_for_token(token)
    if row is None:
        return stamps, None
    subscriber = _SubscriberRef(*row)
    stamps.update(_stamps(cache, [keys.subscriber_stamp_key(subscriber.id), keys.portal_stamp_key(subscriber.portal_id)]))
    limit = access.session_limit(subscriber.portal_id)
    channels: dict[str, int] = {}
    if not subscriber.disabled:
        packages = access.granting_package_ids(subscriber)
        stamps.update(_stamps(cache, [keys.package_stamp_key(p) for p in packages]))
        if packages:
            channels = access.watchable_channel_names(subscriber)
    return stamps, (subscriber.id, subscriber.portal_id, subscriber.disabled, limit, channels)


def _facts(values: tuple | None) -> PlaybackFacts | None:
    return None if values is None else PlaybackFacts(*values)


def lookup(token: str, *, also: tuple[str, ...] = ()) -> tuple[PlaybackFacts | None, dict]:
    """The facts for a playback token (None: no such token) and the cache values under ``also``.

    ``also`` lets the caller read its own keys in the same round trip. A warm answer costs two cache
    round trips and no database query; a cold one at most four indexed queries. Raises the database's
    errors (the caller answers 503); tolerates a failing cache by reading the database.
    """
    cache = keys.cache()
    key = entry_key(token)
    try:
        found = cache.get_many([key, *also])
        entry = found.pop(key, None)
        if entry is not None and _valid(cache, entry[0]):
            return _facts(entry[1]), found
        stamps, values = _compute(cache, token)
        cache.set(key, (stamps, values), timeout=_ttl() if values is not None else UNKNOWN_TOKEN_TTL)
        return _facts(values), found
    except _CacheErrors as exc:
        log.warning("playback cache unavailable (%s); deciding from the database", exc)
        return _facts(_uncached(token)), {}


def channel_id(portal_id: int, name: str) -> int | None:
    """The ID of the portal's channel with this stream name (cached like the facts), or None."""
    if not valid_stream_name(name):
        return None
    cache = keys.cache()
    key = channel_key(portal_id, name)
    try:
        entry = cache.get(key)
        if entry is not None and _valid(cache, entry[0]):
            return entry[1] or None
        stamps = _stamps(cache, [keys.channels_stamp_key(portal_id)])
        found = access.channel_id_by_name(portal_id, name)
        cache.set(key, (stamps, found or 0), timeout=_ttl())
        return found
    except _CacheErrors as exc:
        log.warning("playback cache unavailable (%s); reading the channel from the database", exc)
        return access.channel_id_by_name(portal_id, name)


def _uncached(token: str) -> tuple | None:
    row = access.subscriber_for_token(token)
    if row is None:
        return None
    subscriber = _SubscriberRef(*row)
    channels = {} if subscriber.disabled else access.watchable_channel_names(subscriber)
    return subscriber.id, subscriber.portal_id, subscriber.disabled, access.session_limit(subscriber.portal_id), channels


def _cache_errors() -> tuple[type[BaseException], ...]:
    """Errors a cache backend raises when its server is unreachable (Redis), or its files are (file-based)."""
    errors: list[type[BaseException]] = [OSError]
    try:
        import redis

        errors.append(redis.exceptions.RedisError)
    except ImportError:  # pragma: no cover - redis is a dependency
        pass
    return tuple(errors)


_CacheErrors = _cache_errors()
