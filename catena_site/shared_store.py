"""The shared store: the cache every process shares, spoken to the cheap way.

Redis in production, Django's configured cache (file-based in the embedded default) otherwise — never
per-process memory. :func:`store` gives this process's store of the current settings. It holds what the hot
paths share between processes: the playback facts and session heartbeats (``subscribers.playback_cache``),
the buffers the streaming endpoints append to and the workers drain (``monitoring.sessions``,
``monitoring.streaming.events``), counters, locks and short-lived marks.

Both stores offer the same key-value operations; the Redis store adds lists (``supports_lists``), hashes and
Lua scripts (``supports_scripts``). Keys (``make_key``) and values (Django's ``RedisSerializer``) are
byte-for-byte those of the Django cache, so both can read and write the same entries.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import secrets
import select
import socket
import time
from collections import deque
from urllib.parse import urlparse

from django.conf import settings
from django.core.signals import setting_changed

from . import access_events

log = logging.getLogger(__name__)


class Script:
    """A Lua script the Redis store runs (:meth:`RedisStore.run`); define it once, at module level."""

    def __init__(self, source: str, *, binary: bool = False):
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()
        self.binary = binary  # its arguments may be bytes (a serialized value), not only text


class DjangoStore:
    """The configured Django cache, as is (file-based in the embedded default)."""

    supports_lists = False
    supports_scripts = False

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

    def invalidate(self, keys: list[str], generation_key: str) -> None:
        """Delete stamp keys (``access_events``). This store keeps no process tier, so no generation to change."""
        self.delete_many(keys)

    def add_many(self, keys: list[str], value, timeout: int | None) -> list[bool]:
        return [self.cache.add(key, value, timeout=timeout) for key in keys]

    def incr_many(self, amounts: dict[str, int]) -> None:
        for key, amount in amounts.items():
            if not self.cache.add(key, amount, timeout=None):
                self.cache.incr(key, amount)

    def set_text(self, key: str, text: str, timeout: int | None) -> None:
        """Store a short text as is (a Lua script on Redis can read it)."""
        self.cache.set(key, text, timeout=timeout)

    def get_texts(self, keys: list[str]) -> dict[str, str | bytes]:
        """The texts stored by :meth:`set_text` (bytes on Redis, str here); anything else stored there as is."""
        return self.get_many(keys)


class RedisStore:
    """Django's Redis cache, spoken to with one long-lived client per process.

    Django's ``RedisCache`` builds a new ``redis.Redis`` object for every operation, which costs more than the
    round trip itself on the auth hot path.
    """

    supports_lists = True  # an append-only list for writes buffered off the hot path (monitoring.sessions)
    supports_scripts = True

    def __init__(self, cache, url: str):
        import redis
        from django.core.cache.backends.redis import RedisSerializer

        self.cache = cache
        self.client = redis.Redis.from_url(url)  # its pool is fork-safe (gunicorn, Celery prefork)
        self.serializer = RedisSerializer()
        self.make_key = cache.make_key  # the key Redis stores for a store key
        self.dumps = self.serializer.dumps
        self.loads = self.serializer.loads
        # Scripts run on a connection of this process's own, spoken to directly: redis-py's per-command
        # machinery (pool checkout, retries, metrics) costs more than the auth check's script itself (measured
        # against register_script() in the README). store() builds a new store in a forked child, so this
        # connection is never shared across processes.
        self._connection = None
        self._errors = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
        self._no_script = redis.exceptions.NoScriptError
        self._response_error = redis.exceptions.ResponseError
        # The process tier of the playback facts (``subscribers.playback_cache``): entries of this process,
        # valid while the generation key holds the value they were read under. Per store, so a forked child or
        # other cache settings start empty.
        self.process_tier: dict = {}
        # Scripts sent by run_deferred whose answers are not read yet: what to do with each, in order.
        self._deferred: deque = deque()
        self._loaded: set[str] = set()  # the scripts run_deferred loaded (SHA1s)
        self.watch = (InvalidationWatch(self.client, self.make_key(access_events.generation_key()),
                                        direct=getattr(settings, "STREAMER_PUSH_INVALIDATION", "local") == "local")
                      if push_invalidation(url) else None)

    def get_many(self, keys: list[str]) -> dict:
        if not keys:
            return {}
        values = self.client.mget([self.make_key(k) for k in keys])
        loads = self.loads
        return {k: loads(v) for k, v in zip(keys, values) if v is not None}

    def set(self, key: str, value, timeout: int | None) -> None:
        self.client.set(self.make_key(key), self.dumps(value), ex=timeout)

    def add(self, key: str, value, timeout: int | None) -> bool:
        return bool(self.client.set(self.make_key(key), self.dumps(value), ex=timeout, nx=True))

    def delete_many(self, keys: list[str]) -> None:
        if keys:
            self.client.delete(*[self.make_key(k) for k in keys])

    def invalidate(self, keys: list[str], generation_key: str) -> None:
        """Delete stamp keys and give the generation key a new random value, atomically (MULTI): every process
        tier entry read before is invalid from the same instant the deleted stamps are."""
        pipe = self.client.pipeline(transaction=True)
        if keys:
            pipe.delete(*[self.make_key(k) for k in keys])
        pipe.set(self.make_key(generation_key), secrets.token_hex(8))
        pipe.execute()

    def add_many(self, keys: list[str], value, timeout: int | None) -> list[bool]:
        """``add`` of each key, in one round trip; which were added."""
        if not keys:
            return []
        pipe = self.client.pipeline(transaction=False)
        raw = self.dumps(value)
        for key in keys:
            pipe.set(self.make_key(key), raw, ex=timeout, nx=True)
        return [bool(done) for done in pipe.execute()]

    def incr_many(self, amounts: dict[str, int]) -> None:
        """Add to counters (created at 0), in one round trip. Stored as plain integers, like Django does."""
        pipe = self.client.pipeline(transaction=False)
        for key, amount in amounts.items():
            pipe.incrby(self.make_key(key), amount)
        pipe.execute()

    def set_text(self, key: str, text: str, timeout: int | None) -> None:
        """Store a short text as is (not serialized: a Lua script can read it)."""
        self.client.set(self.make_key(key), text, ex=timeout)

    def get_texts(self, keys: list[str]) -> dict[str, bytes]:
        if not keys:
            return {}
        values = self.client.mget([self.make_key(k) for k in keys])
        return {k: v for k, v in zip(keys, values) if v is not None}

    def push_and_set_text(self, list_key: str, item, key: str, text: str, timeout: int) -> None:
        """Append ``item`` to a list and store a text (:meth:`set_text`), in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        pipe.rpush(self.make_key(list_key), self.dumps(item))
        pipe.set(self.make_key(key), text, ex=timeout)
        pipe.execute()

    def replace_hash(self, key: str, fields: dict[str, str | bytes], timeout: int) -> None:
        """Replace a hash with ``fields``, expiring after ``timeout``; readers never see it half-written."""
        full = self.make_key(key)
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(full)
        pipe.hset(full, mapping=fields)
        pipe.expire(full, timeout)
        pipe.execute()

    def push(self, list_key: str, item) -> int:
        """Append ``item`` to a list; return the list's new length."""
        return self.client.rpush(self.make_key(list_key), self.dumps(item))

    def list_head(self, list_key: str, count: int) -> list:
        loads = self.loads
        return [loads(v) for v in self.client.lrange(self.make_key(list_key), 0, count - 1)]

    def list_length(self, list_key: str) -> int:
        return self.client.llen(self.make_key(list_key))

    def list_drop_head(self, list_key: str, count: int) -> None:
        self.client.ltrim(self.make_key(list_key), count, -1)

    def lock(self, key: str, timeout: int) -> str | None:
        """A lock token if this process got the lock (expires after ``timeout``), else None."""
        token = secrets.token_hex(8)
        return token if self.client.set(self.make_key(key), token, ex=timeout, nx=True) else None

    def unlock(self, key: str, token: str) -> None:
        full = self.make_key(key)
        if self.client.get(full) == token.encode():
            self.client.delete(full)

    def run(self, script: Script, keys: list[str], args: tuple[str, ...]):
        """Run ``script`` with these store keys (``make_key`` applied) and arguments, in one round trip; loads
        it when Redis lacks it (a restart) and reconnects when the connection dropped."""
        return self._evalsha(script, [self.make_key(k) for k in keys], args)

    def run_deferred(self, script: Script, keys: list[str], args: tuple[str, ...], then) -> None:
        """Send ``script`` like :meth:`run` without waiting for its answer: ``then`` gets it (or the error, as an
        exception) when :meth:`settle` reads it — at the next script run or when the request has been answered.

        Waiting for Redis, not the work, was what a warm auth check cost beyond a bare view (the process sleeps
        and is woken twice per round trip). Raises the connection's errors when the command cannot be sent, or the
        script cannot be loaded: it is loaded (waiting) the first time this store sends it, so its answers are errors
        only after Redis lost it (a restart, a flush)."""
        if script.sha not in self._loaded:
            self.client.script_load(script.source)
            self._loaded.add(script.sha)
        connection = self._connection
        if connection is None:
            if self._deferred:  # sent on a connection since dropped: their answers are lost, never the new one's
                self.settle()  # (their ``then`` may have opened a new connection already)
            connection = self._connection
            if connection is None:
                connection = self._connection = self.client.connection_pool.make_connection()
        keys = [self.make_key(k) for k in keys]
        try:
            connection.send_packed_command([_evalsha_command(script, keys, args)], check_health=False)
        except BaseException:
            self._drop(connection)
            raise
        self._deferred.append(then)

    def settle(self, wait: bool = True) -> None:
        """Read the answers of the scripts :meth:`run_deferred` sent, in order, and hand each to its ``then``; an
        error answer (a script Redis lost in a restart) as the exception, a lost connection as its error to each.
        Without ``wait``, only the answers already received (the rest are read before the next script run)."""
        while self._deferred:
            connection = self._connection
            try:
                if connection is not None and not wait and not connection.can_read(timeout=0):
                    return
            except self._errors:
                self._drop(connection)
                connection = None
            then = self._deferred.popleft()
            try:
                if connection is None:
                    raise self._errors[0]("the connection of a deferred script was dropped")
                answer = connection.read_response()
            except self._response_error as exc:  # this script's own error answer; the next ones still follow
                answer = exc
            except Exception as exc:  # the connection is unusable: every answer still on it is lost
                if connection is not None:
                    self._drop(connection)
                answer = exc
            except BaseException:  # a worker's timeout mid-read: no answer may be taken for another's later
                if connection is not None:
                    self._drop(connection)
                raise
            then(answer)

    def _drop(self, connection) -> None:
        connection.disconnect()
        if self._connection is connection:
            self._connection = None

    def _evalsha(self, script: Script, keys: list[str], args: tuple[str, ...]):
        """``EVALSHA``, packed by hand (RESP) and sent on this process's own connection."""
        if self._deferred:  # their answers come first on the connection
            self.settle()
        packed = _evalsha_command(script, keys, args)
        for attempt in (1, 2, 3):
            connection = self._connection
            if connection is None:
                connection = self._connection = self.client.connection_pool.make_connection()
            try:
                connection.send_packed_command([packed], check_health=False)
                return connection.read_response()
            except self._no_script:
                self.client.script_load(script.source)
            except self._errors:
                self._drop(connection)
                if attempt == 3:
                    raise
            except BaseException:  # e.g. a worker timeout between sending and reading: an unread reply must
                self._drop(connection)  # never be taken for the next call's
                raise
        raise RuntimeError("the script could not be loaded")  # pragma: no cover


def push_invalidation(url: str) -> bool:
    """Whether this process watches the generation key by push (``STREAMER_PUSH_INVALIDATION``): "on", "off", or
    "local" — only for a Redis on this host (a loopback address or a unix socket), where the push reaches this
    process's socket in the same pass of Redis's event loop as the invalidating process gets its answer. Over a
    network a lost packet could delay it by a retransmission (about 200 ms), longer than a change takes to matter."""
    mode = getattr(settings, "STREAMER_PUSH_INVALIDATION", "local")
    parsed = urlparse(url)
    if parsed.scheme == "rediss":  # TLS: bytes the TLS layer already read are invisible to poll()
        return False
    if mode != "local":
        return mode == "on"
    if parsed.scheme == "unix":
        return True
    host = parsed.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class InvalidationWatch:
    """Tells this process, without asking Redis, whether the generation key (``access_events.generation_key``)
    changed: a connection of its own receives Redis's invalidation messages for that key (server-assisted client
    caching: ``CLIENT TRACKING … BCAST PREFIX <key>``, redirected to itself, and ``SUBSCRIBE __redis__:invalidate``).

    :meth:`epoch` is a number that changes with every message received and whenever the watch stops (a dropped
    connection, a Redis restart); None while not watching. An entry read from Redis after the watch said ``n``
    is as valid as when it was read as long as the watch still says ``n``: every invalidation changes the key
    in Redis, which writes the message to this socket in the same pass of its event loop as it answers the
    invalidating transaction (see ``push_invalidation`` for why only on the same host by default). Checking costs
    one ``poll`` of the socket (a system call, no round trip, no waiting)."""

    RETRY_SECONDS = 5  # after the watch stopped or failed to start, the next attempt (checks ask Redis meanwhile)
    MAX_RETRY_SECONDS = 300  # failures to start back off up to this (a Redis that refuses to be watched)
    SUBSCRIPTION = "__redis__:invalidate"

    def __init__(self, client, key: str, *, direct: bool = True):
        self.client = client
        self.key = key
        self.direct = direct  # whether to refuse watching through a proxy (the "local" mode)
        self.connection = None
        self.client_id = None  # the watching connection's ID in Redis
        self.poller = None
        self.count = 0
        self.retry_at = 0.0
        self.failures = 0

    def epoch(self) -> int | None:
        """The watch's current number (see above), or None when not watching."""
        if self.connection is None:
            if time.monotonic() < self.retry_at:
                return None
            self.start()
            if self.connection is None:
                return None
        if self.poller.poll(0):
            self.receive()
        return self.count if self.connection is not None else None

    def start(self) -> None:
        connection = self.client.connection_pool.make_connection()
        try:
            connection.send_command("CLIENT", "ID")
            own = connection.read_response()
            self._check_ordering(connection)
            connection.send_command("CLIENT", "TRACKING", "ON", "REDIRECT", own, "BCAST", "PREFIX", self.key)
            connection.read_response()
            connection.send_command("SUBSCRIBE", self.SUBSCRIPTION)
            connection.read_response()
            connection._sock.setblocking(False)
        except Exception as exc:  # noqa: BLE001 (an old Redis, no permission, a proxy: ask Redis per check)
            self.failures += 1
            log.log(logging.WARNING if self.failures == 1 else logging.INFO,
                    "not watching the playback generation key by push (%s); auth checks ask Redis", exc)
            connection.disconnect()
            self.retry_at = time.monotonic() + min(self.MAX_RETRY_SECONDS, self.RETRY_SECONDS * 2 ** self.failures)
            return
        self.failures = 0
        self.connection, self.client_id = connection, own
        self.poller = select.poll()
        self.poller.register(connection._sock, select.POLLIN)
        self.count += 1  # nothing read before this moment is trusted

    def _check_ordering(self, connection) -> None:
        """Refuse (raise) a Redis that may answer the invalidating client before it writes the push to this one:
        with I/O threads (``io-threads`` above 1, or a server that cannot say) each client's output is written
        independently; and, in the "local" mode, a connection through a proxy (docker-proxy, stunnel, a tunnel),
        which relays each connection on its own — Redis then sees another address than this socket's."""
        connection.send_command("CONFIG", "GET", "io-threads")
        answer = connection.read_response()
        found = answer if isinstance(answer, dict) else dict(zip(answer[0::2], answer[1::2])) if answer else {}
        threads = found.get(b"io-threads", b"")  # RESP3 answers a map, RESP2 a flat list
        if threads != b"1":
            raise ValueError(f"Redis writes with io-threads {threads.decode() or 'unknown'}: replies are not ordered")
        if not self.direct:
            return
        connection.send_command("CLIENT", "INFO")  # Redis 6.2 and later
        fields = dict(field.split("=", 1) for field in connection.read_response().decode().split() if "=" in field)
        sock = connection._sock
        if sock.family == socket.AF_UNIX:  # Redis flags its unix-socket clients U; a relay's would be TCP
            if "U" not in fields.get("flags", ""):
                raise ValueError("connected through a relay (Redis does not see a unix-socket client)")
            return
        if fields.get("addr") != _address(sock.getsockname()) or fields.get("laddr", _address(sock.getpeername())) \
                != _address(sock.getpeername()):
            raise ValueError(f"connected through a proxy (Redis sees {fields.get('addr')}, this socket is "
                             f"{_address(sock.getsockname())})")

    def receive(self) -> None:
        """Something arrived: an invalidation (its content does not matter, only the key is watched) or the end
        of the connection (the watch stops until the next check starts it again)."""
        self.count += 1
        sock = self.connection._sock
        try:
            while True:
                if not sock.recv(65536):
                    break  # closed by Redis
        except BlockingIOError:
            return  # read all there was: still watching
        except OSError:
            pass
        self.stop()

    def stop(self) -> None:
        self.count += 1
        connection, self.connection, self.poller = self.connection, None, None
        if connection is not None:
            connection.disconnect()
        self.retry_at = time.monotonic() + self.RETRY_SECONDS


def _address(name: tuple) -> str:
    """A socket address as Redis writes one in CLIENT INFO: ``ip:port``, ``[ipv6]:port``."""
    host, port = name[0], name[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _evalsha_command(script: Script, keys: list[str], args: tuple) -> bytes:
    """``EVALSHA`` of ``script`` with these (prefixed) keys and arguments, packed (RESP)."""
    head = b"$7\r\nEVALSHA\r\n$40\r\n%b\r\n$%d\r\n%d\r\n" % (script.sha.encode(), len(str(len(keys))), len(keys))
    return (_pack_binary if script.binary else _pack)(head, 3, (*keys, *args))


def _pack(head: bytes, count: int, parts: tuple[str, ...]) -> bytes:
    """A Redis command in the protocol's wire format (RESP): ``head`` holds its first ``count`` parts, packed."""
    text = "".join([f"${len(part)}\r\n{part}\r\n" for part in parts])
    if text.isascii():  # every part is ASCII (the usual case): its length in characters is its length in bytes
        return b"*%d\r\n%b%b" % (count + len(parts), head, text.encode())
    return _pack_binary(head, count, parts)


def _pack_binary(head: bytes, count: int, parts: tuple[str | bytes, ...]) -> bytes:
    """:func:`_pack` for parts that may be bytes (sent as they are) as well as text."""
    chunks = [b"*%d\r\n" % (count + len(parts)), head]
    for part in parts:
        data = part if isinstance(part, bytes) else part.encode("utf-8", "surrogatepass")
        chunks.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(chunks)


_store = None  # the store of the current settings, in this process


def store() -> DjangoStore | RedisStore:
    """This process's shared store, on the cache ``STREAMER_CACHE_ALIAS`` names (see ``access_events.cache``)."""
    global _store
    found = _store
    if found is None:
        config = settings.CACHES[getattr(settings, "STREAMER_CACHE_ALIAS", "default")]
        location = config.get("LOCATION")
        url = location[0] if isinstance(location, list | tuple) else str(location or "").split(",")[0]
        if config["BACKEND"] == "django.core.cache.backends.redis.RedisCache" and url:
            found = RedisStore(access_events.cache(), url)
        else:
            found = DjangoStore(access_events.cache())
        _store = found
    return found


def _forget_store(**kwargs) -> None:
    """A forked child builds its own store (never shares a connection); tests changing the caches get a new one."""
    global _store
    if kwargs.get("setting") in (None, "CACHES", "STREAMER_CACHE_ALIAS", "STREAMER_PUSH_INVALIDATION"):
        _store = None


os.register_at_fork(after_in_child=_forget_store)
setting_changed.connect(_forget_store, dispatch_uid="shared_store.forget_store")


def _cache_errors() -> tuple[type[BaseException], ...]:
    """Errors a cache backend raises when its server is unreachable (Redis), or its files are (file-based)."""
    errors: list[type[BaseException]] = [OSError]
    try:
        import redis

        errors.append(redis.exceptions.RedisError)
    except ImportError:  # pragma: no cover - redis is a dependency
        pass
    return tuple(errors)


CacheErrors = _cache_errors()  # for callers that fall back to the database when the shared store fails
