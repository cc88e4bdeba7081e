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


# --- The shared store ---------------------------------------------------------------------------------------------


class _DjangoStore:
    """The configured Django cache, as is (file-based in the embedded default)."""

    supports_lists = False

    def __init__(self, cache):
        self.cache = cache

    def get_many(self, keys: list[str]) -> dict:
        return self.cache.get_many(keys) if keys else {}

    def set(self, key: str, value, timeout: int | None) -> None:
        self.cache.set(key, value, timeout=timeout)

    def add(self, key: str, value, timeout: int | None) -> bool:
        return self.cache.add(key, value, timeout=timeout)

    def delete_many(self, keys: list[str]) -> None:
        if keys:
            self.cache.delete_many(keys)

    def get_many_then_set(self, keys: list[str], pending: tuple | None) -> dict:
        found = self.get_many(keys)
        if pending is not None:
            self.set(*pending)
        return found


class _RedisStore:
    """Django's Redis cache, spoken to with one long-lived client per process.

    Django's ``RedisCache`` builds a new ``redis.Redis`` object for every operation, which costs more than the
    round trip itself on the auth hot path. Keys (``make_key``) and values (Django's ``RedisSerializer``) are
    byte-for-byte those of the Django cache, so both can read and write the same entries.
    """

    supports_lists = True  # an append-only list for writes buffered off the hot path (monitoring.sessions)

    def __init__(self, cache, url: str):
        import redis
        from django.core.cache.backends.redis import RedisSerializer

        self.cache = cache
        self.client = redis.Redis.from_url(url)  # its pool is fork-safe (gunicorn, Celery prefork)
        self.serializer = RedisSerializer()

    def get_many(self, keys: list[str]) -> dict:
        if not keys:
            return {}
        values = self.client.mget([self.cache.make_key(k) for k in keys])
        loads = self.serializer.loads
        return {k: loads(v) for k, v in zip(keys, values) if v is not None}

    def set(self, key: str, value, timeout: int | None) -> None:
        self.client.set(self.cache.make_key(key), self.serializer.dumps(value), ex=timeout)

    def add(self, key: str, value, timeout: int | None) -> bool:
        return bool(self.client.set(self.cache.make_key(key), self.serializer.dumps(value), ex=timeout, nx=True))

    def delete_many(self, keys: list[str]) -> None:
        if keys:
            self.client.delete(*[self.cache.make_key(k) for k in keys])

    def get_many_then_set(self, keys: list[str], pending: tuple | None) -> dict:
        """``get_many`` and, in the same round trip (a pipeline), one ``set``."""
        if pending is None:
            return self.get_many(keys)
        key, value, timeout = pending
        pipe = self.client.pipeline(transaction=False)
        pipe.mget([self.cache.make_key(k) for k in keys])
        pipe.set(self.cache.make_key(key), self.serializer.dumps(value), ex=timeout)
        values = pipe.execute()[0]
        loads = self.serializer.loads
        return {k: loads(v) for k, v in zip(keys, values) if v is not None}

    def push_and_set(self, list_key: str, item, pending: tuple) -> None:
        """Append ``item`` to a list and do one ``set``, in one round trip."""
        key, value, timeout = pending
        pipe = self.client.pipeline(transaction=False)
        pipe.rpush(self.cache.make_key(list_key), self.serializer.dumps(item))
        pipe.set(self.cache.make_key(key), self.serializer.dumps(value), ex=timeout)
        pipe.execute()

    def list_head(self, list_key: str, count: int) -> list:
        loads = self.serializer.loads
        return [loads(v) for v in self.client.lrange(self.cache.make_key(list_key), 0, count - 1)]

    def list_drop_head(self, list_key: str, count: int) -> None:
        self.client.ltrim(self.cache.make_key(list_key), count, -1)

    def lock(self, key: str, timeout: int) -> str | None:
        """A lock token if this process got the lock (expires after ``timeout``), else None."""
        token = secrets.token_hex(8)
        return token if self.client.set(self.cache.make_key(key), token, ex=timeout, nx=True) else None

    def unlock(self, key: str, token: str) -> None:
        full = self.cache.make_key(key)
        if self.client.get(full) == token.encode():
            self.client.delete(full)


_stores: dict[tuple, object] = {}


def store():
    """The shared store of playback facts and session heartbeats (see ``catena_site.access_events.cache``)."""
    alias = getattr(settings, "STREAMER_CACHE_ALIAS", "default")
    config = settings.CACHES[alias]
    signature = (alias, config["BACKEND"], str(config.get("LOCATION")), config.get("KEY_PREFIX", ""),
                 config.get("VERSION", 1))
    found = _stores.get(signature)
    if found is None:
        location = config.get("LOCATION")
        url = location[0] if isinstance(location, list | tuple) else str(location or "").split(",")[0]
        if config["BACKEND"] == "django.core.cache.backends.redis.RedisCache" and url:
            found = _RedisStore(keys.cache(), url)
        else:
            found = _DjangoStore(keys.cache())
        _stores.clear()  # settings changed (tests): forget stores of older settings
        _stores[signature] = found
    return found


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
    found = cache.get_many(stamp_keys)
    for key in stamp_keys:
        if key not in found:
            fresh = secrets.token_hex(8)
            if cache.add(key, fresh, None):
                found[key] = fresh
            else:  # another process created it meanwhile (or it was evicted at once: never matches then)
                found[key] = cache.get_many([key]).get(key) or secrets.token_hex(8)
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


def lookup(token: str, *, also: tuple[str, ...] = (), write=None) -> tuple[PlaybackFacts | None, dict]:
    """The facts for a playback token (None: no such token) and the cache values under ``also``.

    ``also`` lets the caller read its own keys in the same round trip. ``write(facts, found)`` may return a
    ``(key, value, timeout)`` to store once the facts are known: it travels in the same round trip as their
    validation (and is redone if they had to be recomputed), so a warm check with a write costs two round
    trips and no database query. A cold one costs at most four indexed queries. Raises the database's
    errors (the caller answers 503); tolerates a failing cache by reading the database.
    """
    key = entry_key(token)
    try:
        cache = store()
        found = cache.get_many([key, *also])
        entry = found.pop(key, None)
        if entry is not None:
            facts = _facts(entry[1])
            pending = write(facts, found) if write is not None else None
            if cache.get_many_then_set(list(entry[0]), pending) == entry[0]:
                return facts, found
        stamps, values = _compute(cache, token)
        cache.set(key, (stamps, values), _ttl() if values is not None else UNKNOWN_TOKEN_TTL)
        facts = _facts(values)
        pending = write(facts, found) if write is not None else None
        if pending is not None:
            cache.set(*pending)
        return facts, found
    except _CacheErrors as exc:
        log.warning("playback cache unavailable (%s); deciding from the database", exc)
        return _facts(_uncached(token)), {}


def channel_id(portal_id: int, name: str) -> int | None:
    """The ID of the portal's channel with this stream name (cached like the facts), or None."""
    if not valid_stream_name(name):
        return None
    key = channel_key(portal_id, name)
    try:
        cache = store()
        entry = cache.get_many([key]).get(key)
        if entry is not None and _valid(cache, entry[0]):
            return entry[1] or None
        stamps = _stamps(cache, [keys.channels_stamp_key(portal_id)])
        found = access.channel_id_by_name(portal_id, name)
        cache.set(key, (stamps, found or 0), _ttl())
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
