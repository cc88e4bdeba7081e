"""The facts behind playback decisions, cached in the shared cache and never stale.

The streaming server asks on every play whether a token may play a stream name. The answer depends on
facts about the token's subscriber (who, which portal, disabled?, the session limit, the names of the
channels it may watch). They are cached per token in the cache every process shares (Redis in production, a
file-based cache in the embedded default — never per-process memory), so a warm check reads the cache only.

Exactness: each entry stores the *stamps* (see ``catena_site.access_events``) of the facts it was computed
from — the token's, the subscriber's subscriptions', the portal's (free packages, settings) and one per
granting package. A check compares them with the current stamps (on Redis in the same round trip, by a
small Lua script); a change deletes the stamp key after commit, so the next check recomputes. Stamps are
read before the database, so a change committed while an entry is being computed leaves that entry invalid
rather than stale. The same store keeps the play sessions' heartbeats (``monitoring.sessions``): the auth
check refreshes one in the round trip that validates the facts.

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


class Beat(NamedTuple):
    """A play session's newest heartbeat, as the auth check caches it."""

    subscriber_id: int
    channel_id: int
    at: float  # Unix time
    bytes: int
    duration: int | None


@dataclass(frozen=True, slots=True)
class BeatProbe:
    """What an auth check wants done with a session's heartbeat while it reads the token's facts."""

    key: str
    name: str  # the stream name: the heartbeat is refreshed only if it matches the channel of that name
    update: bool  # an ``update_session``: refresh the heartbeat when the facts allow the stream
    at: float
    bytes: int | None
    duration: int | None
    timeout: int


class EntryRead(NamedTuple):
    valid: bool  # the entry exists and all its stamps are current
    values: tuple | None  # the facts (None: an unknown token) when valid
    beat: Beat | None  # the heartbeat as it was before this read
    written: bool  # the heartbeat was refreshed (valid facts allowing the stream, and a matching heartbeat)


def next_beat(values: tuple | None, beat: Beat | None, probe: BeatProbe | None) -> Beat | None:
    """The refreshed heartbeat for ``probe`` given valid facts, or None when it must not be written here."""
    if probe is None or not probe.update or values is None or beat is None:
        return None
    subscriber_id, _, disabled, _, channels = values
    channel_id = channels.get(probe.name)
    if disabled or channel_id is None or beat.subscriber_id != subscriber_id or beat.channel_id != channel_id:
        return None
    durations = [d for d in (beat.duration, probe.duration) if d is not None]
    return Beat(subscriber_id, channel_id, probe.at, max(beat.bytes, probe.bytes or 0),
                max(durations) if durations else None)


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

    def add_many(self, keys: list[str], value, timeout: int | None) -> list[bool]:
        return [self.cache.add(key, value, timeout=timeout) for key in keys]

    def incr_many(self, amounts: dict[str, int]) -> None:
        for key, amount in amounts.items():
            if not self.cache.add(key, amount, timeout=None):
                self.cache.incr(key, amount)

    def set_heartbeat(self, key: str, beat: Beat, timeout: int) -> None:
        self.cache.set(key, tuple(beat), timeout=timeout)

    def get_heartbeats(self, keys: list[str]) -> dict[str, Beat]:
        return {k: Beat(*v) for k, v in self.get_many(keys).items()}

    def read_entry(self, key: str, probe: BeatProbe | None) -> EntryRead:
        found = self.get_many([key] + ([probe.key] if probe else []))
        beat = Beat(*found[probe.key]) if probe and probe.key in found else None
        entry = found.get(key)
        if entry is None or self.get_many(list(entry[0])) != entry[0]:
            return EntryRead(False, None, beat, False)
        refreshed = next_beat(entry[1], beat, probe)
        if refreshed is not None:
            self.set_heartbeat(probe.key, refreshed, probe.timeout)
        return EntryRead(True, entry[1], beat, refreshed is not None)

    def write_entry(self, key: str, stamps: dict[str, str], values: tuple | None, timeout: int) -> None:
        self.cache.set(key, (stamps, values), timeout=timeout)


# The warm auth check in one round trip: validate the entry's stamps, read the heartbeat and, for an
# update_session of a stream the facts allow, refresh it (the rules of next_beat). An entry is a hash: ``f``
# the pickled facts, ``u`` the subscriber ID, ``s:<key>`` each stamp's stored bytes, ``c:<name>`` the ID of
# each watchable channel. A heartbeat is a ``subscriber|channel|time|bytes|duration`` string. The stamp
# keys are read from the entry, so this needs one Redis server (not a cluster), as Django's cache does.
_CHECK = """
local entry = redis.call('HGETALL', KEYS[1])
local beat = redis.call('GET', KEYS[2])
if #entry == 0 then return {0, false, beat} end
local facts, user, channel, want = false, false, false, 'c:' .. ARGV[1]
for i = 1, #entry, 2 do
  local field = entry[i]
  if string.sub(field, 1, 2) == 's:' then
    if redis.call('GET', string.sub(field, 3)) ~= entry[i + 1] then return {0, false, beat} end
  elseif field == 'f' then facts = entry[i + 1]
  elseif field == 'u' then user = entry[i + 1]
  elseif field == want then channel = entry[i + 1] end
end
if ARGV[2] == '1' and beat and user and channel then
  local b_user, b_channel, b_at, b_bytes, b_duration =
    string.match(beat, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
  if b_user == user and b_channel == channel then
    local bytes = math.max(tonumber(b_bytes) or 0, tonumber(ARGV[4]) or 0)
    local duration = math.max(tonumber(b_duration) or -1, tonumber(ARGV[5]) or -1)
    local text = ''
    if duration >= 0 then text = string.format('%.0f', duration) end
    redis.call('SET', KEYS[2], user .. '|' .. channel .. '|' .. ARGV[3] .. '|' .. string.format('%.0f', bytes) ..
               '|' .. text, 'EX', ARGV[6])
    return {2, facts, beat}
  end
end
return {1, facts, beat}
"""


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
        self.check = self.client.register_script(_CHECK)

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

    def add_many(self, keys: list[str], value, timeout: int | None) -> list[bool]:
        """``add`` of each key, in one round trip; which were added."""
        if not keys:
            return []
        pipe = self.client.pipeline(transaction=False)
        raw = self.serializer.dumps(value)
        for key in keys:
            pipe.set(self.cache.make_key(key), raw, ex=timeout, nx=True)
        return [bool(done) for done in pipe.execute()]

    def incr_many(self, amounts: dict[str, int]) -> None:
        """Add to counters (created at 0), in one round trip. Stored as plain integers, like Django does."""
        pipe = self.client.pipeline(transaction=False)
        for key, amount in amounts.items():
            pipe.incrby(self.cache.make_key(key), amount)
        pipe.execute()

    @staticmethod
    def _beat_text(beat: Beat) -> str:
        duration = "" if beat.duration is None else str(beat.duration)
        return f"{beat.subscriber_id}|{beat.channel_id}|{beat.at!r}|{beat.bytes}|{duration}"

    @staticmethod
    def _beat(raw: bytes | None) -> Beat | None:
        if raw is None:
            return None
        try:
            subscriber_id, channel_id, at, bytes_, duration = raw.decode().split("|")
            return Beat(int(subscriber_id), int(channel_id), float(at), int(bytes_),
                        int(duration) if duration else None)
        except ValueError:  # not a heartbeat (a foreign or older value): as if there were none
            return None

    def set_heartbeat(self, key: str, beat: Beat, timeout: int) -> None:
        self.client.set(self.cache.make_key(key), self._beat_text(beat), ex=timeout)

    def get_heartbeats(self, keys: list[str]) -> dict[str, Beat]:
        if not keys:
            return {}
        values = self.client.mget([self.cache.make_key(k) for k in keys])
        return {k: self._beat(v) for k, v in zip(keys, values) if v is not None}

    def read_entry(self, key: str, probe: BeatProbe | None) -> EntryRead:
        """One round trip (the ``_CHECK`` script)."""
        if probe is not None:
            args = [probe.name, "1" if probe.update else "0", repr(probe.at), probe.bytes or 0,
                    "" if probe.duration is None else probe.duration, probe.timeout]
            beat_key = self.cache.make_key(probe.key)
        else:
            args, beat_key = ["", "0", "0", 0, "", 1], self.cache.make_key(key + ":none")
        status, facts, beat = self.check(keys=[self.cache.make_key(key), beat_key], args=args)
        beat = self._beat(beat) if probe is not None else None
        if not status:
            return EntryRead(False, None, beat, False)
        return EntryRead(True, self.serializer.loads(facts), beat, status == 2)

    def write_entry(self, key: str, stamps: dict[str, str], values: tuple | None, timeout: int) -> None:
        full = self.cache.make_key(key)
        fields = {"f": self.serializer.dumps(values)}
        fields.update({f"s:{self.cache.make_key(k)}": self.serializer.dumps(v) for k, v in stamps.items()})
        if values is not None:
            fields["u"] = str(values[0])
            fields.update({f"c:{name}": str(channel_id) for name, channel_id in values[4].items()})
        pipe = self.client.pipeline(transaction=True)  # readers never see a half-written entry
        pipe.delete(full)
        pipe.hset(full, mapping=fields)
        pipe.expire(full, timeout)
        pipe.execute()

    def push_and_set_heartbeat(self, list_key: str, item, key: str, beat: Beat, timeout: int) -> None:
        """Append ``item`` to a list and store a heartbeat, in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        pipe.rpush(self.cache.make_key(list_key), self.serializer.dumps(item))
        pipe.set(self.cache.make_key(key), self._beat_text(beat), ex=timeout)
        pipe.execute()

    def push(self, list_key: str, item) -> int:
        """Append ``item`` to a list; return the list's new length."""
        return self.client.rpush(self.cache.make_key(list_key), self.serializer.dumps(item))

    def list_head(self, list_key: str, count: int) -> list:
        loads = self.serializer.loads
        return [loads(v) for v in self.client.lrange(self.cache.make_key(list_key), 0, count - 1)]

    def list_length(self, list_key: str) -> int:
        return self.client.llen(self.cache.make_key(list_key))

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


class Lookup(NamedTuple):
    facts: PlaybackFacts | None  # None: no such token
    beat: Beat | None  # the session's heartbeat before this check (when a probe was given)
    written: bool  # the heartbeat was refreshed along the way


def lookup(token: str, *, probe: BeatProbe | None = None) -> Lookup:
    """The facts for a playback token, and (with ``probe``) the session heartbeat read and refreshed with them.

    A warm check is one round trip on Redis (a Lua script validating the stamps), a few file reads on the
    file-based cache, and no database query. A cold one costs at most four indexed queries. Raises the
    database's errors (the caller answers 503); tolerates a failing cache by reading the database.
    """
    key = entry_key(token)
    try:
        cache = store()
        read = cache.read_entry(key, probe)
        if read.valid:
            return Lookup(_facts(read.values), read.beat, read.written)
        stamps, values = _compute(cache, token)
        cache.write_entry(key, stamps, values, _ttl() if values is not None else UNKNOWN_TOKEN_TTL)
        return Lookup(_facts(values), read.beat, False)
    except _CacheErrors as exc:
        log.warning("playback cache unavailable (%s); deciding from the database", exc)
        return Lookup(_facts(_uncached(token)), None, False)


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
CacheErrors = _CacheErrors  # for callers that fall back to the database when the shared store fails
