"""Rate limits counted in the shared cache: login failures (API, screens, /admin/) and SMS code requests.

A limit is "at most ``limit`` events per ``window`` seconds" for one key (an email, an address, a phone
number…). The window slides in fixed buckets: each event is added to the counter of the current bucket
(``window / 15`` seconds wide) and the count is the sum of the buckets still inside the window, so a block
lifts bucket by bucket, and ``Retry-After`` says when enough of them will have left it.

Counting is atomic, so that N concurrent events count N and exactly ``limit`` of them get through: on Redis
``add`` + ``incr`` are single commands; on the embedded file cache (whose ``incr`` is a read then a write)
every change is made under an exclusive file lock beside the cache files, shared by every process.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import math
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.core.cache import caches
from django.core.cache.backends.filebased import FileBasedCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache

from catena_site.errors import RateLimited

BUCKETS_PER_WINDOW = 15
CACHE_ALIAS = "default"

logger = logging.getLogger(__name__)

_thread_lock = threading.Lock()


@dataclass(frozen=True)
class Limit:
    """At most ``limit`` events per ``window`` seconds for one key; ``message`` is the refusal's wording."""

    name: str
    limit: int
    window: int
    message: str = "Too many attempts. Try again later."

    @property
    def bucket_seconds(self) -> int:
        return max(1, math.ceil(self.window / BUCKETS_PER_WINDOW))

    @property
    def bucket_count(self) -> int:
        return math.ceil(self.window / self.bucket_seconds)


def _cache():
    return caches[CACHE_ALIAS]


@contextmanager
def _exclusive(cache):
    """Make a read-modify-write of the cache atomic (one process or many on this machine)."""
    if isinstance(cache, FileBasedCache):
        directory = cache._dir
    else:  # any other backend: a lock file of this machine's var/ directory
        from django.conf import settings

        directory = str(getattr(settings, "VAR_DIR", "/tmp"))
    os.makedirs(directory, exist_ok=True)
    with _thread_lock, open(os.path.join(directory, "throttle.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _key(name: str, *parts) -> str:
    """A cache key for ``parts`` (hashed: no email, phone number or address in key names; always valid)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8", "surrogatepass")).hexdigest()
    return f"throttle:{name}:{digest[:40]}"


def _change(key: str, delta: int, timeout: int) -> int:
    """Add ``delta`` to a bucket atomically; its new value (0 when the cache cannot be reached: logins and
    SMS keep working unthrottled, and the outage is logged). A bucket's key names its time, so its expiry
    only cleans up."""
    try:
        return _change_in_cache(key, delta, timeout)
    except Exception:
        logger.exception("Throttling is off: the shared cache cannot be reached")
        return 0


def _get_many(keys: list[str]) -> dict:
    try:
        return _cache().get_many(keys)
    except Exception:
        logger.exception("Throttling is off: the shared cache cannot be reached")
        return {}


def _change_in_cache(key: str, delta: int, timeout: int) -> int:
    cache = _cache()
    if isinstance(cache, (RedisCache, LocMemCache)):  # INCR/DECR keep the expiry and are atomic
        if delta > 0:
            cache.add(key, 0, timeout)
        try:
            return cache.incr(key, delta)
        except ValueError:  # expired in between
            if delta < 0:
                return 0
            cache.set(key, delta, timeout)
            return delta
    # Django's generic incr is a get and a set, and the set would also reset the expiry to the default.
    with _exclusive(cache):
        value = max(0, int(cache.get(key) or 0) + delta)
        cache.set(key, value, timeout)
    return value


@dataclass
class Counter:
    """The events of one key under one limit."""

    limit: Limit
    key: str
    _added: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, limit: Limit, *parts) -> Counter:
        return cls(limit, _key(limit.name, *parts))

    def _bucket_keys(self, now: float) -> list[tuple[int, str]]:
        size = self.limit.bucket_seconds
        current = int(now // size)
        return [(index, f"{self.key}:{index}") for index in range(current - self.limit.bucket_count + 1, current + 1)]

    def _buckets(self, now: float) -> list[tuple[int, int]]:
        """(bucket index, events) for the buckets inside the window, oldest first."""
        keys = self._bucket_keys(now)
        values = _get_many([key for _, key in keys])
        return [(index, int(values.get(key) or 0)) for index, key in keys]

    def count(self, now: float | None = None) -> int:
        """Events inside the window."""
        return sum(events for _, events in self._buckets(time.time() if now is None else now))

    def bucket_keys(self, now: float) -> list[str]:
        """The cache keys of the buckets inside the window at ``now``: for a caller reading them in the same round
        trip as other keys of the cache (then :meth:`count_in`)."""
        return [key for _, key in self._bucket_keys(now)]

    def count_in(self, values: dict, now: float) -> int:
        """Events inside the window, from ``values`` read under :meth:`bucket_keys` (a missing key: none)."""
        return sum(int(values.get(key) or 0) for key in self.bucket_keys(now))

    def retry_after(self, now: float | None = None) -> int:
        """Seconds until one more event fits in the window (at least 1)."""
        now = time.time() if now is None else now
        buckets = self._buckets(now)
        remaining = sum(events for _, events in buckets)
        wait = 0.0
        for index, events in buckets:
            if remaining < self.limit.limit:
                break
            remaining -= events
            # bucket `index` leaves the window when the current bucket becomes index + bucket_count
            wait = (index + self.limit.bucket_count) * self.limit.bucket_seconds - now
        return max(1, math.ceil(wait))

    def add(self, now: float | None = None) -> int:
        """Count one event (atomically) and return the number inside the window, this one included."""
        now = time.time() if now is None else now
        keys = self._bucket_keys(now)
        current_key = keys[-1][1]
        current = _change(current_key, +1, self.limit.window + self.limit.bucket_seconds)
        self._added.append(current_key)
        older = _get_many([key for _, key in keys[:-1]])
        return current + sum(int(value or 0) for value in older.values())

    def undo(self, *, last_only: bool = False) -> None:
        """Take back the events this counter added, or only the last one (a login that succeeded, a refused
        request)."""
        taken = self._added[-1:] if last_only else list(self._added)
        for key in taken:
            _change(key, -1, self.limit.window + self.limit.bucket_seconds)
        del self._added[len(self._added) - len(taken):]


def take(*counters: Counter) -> list[Counter]:
    """Count one event on every counter; ``RateLimited`` (and the event taken back everywhere) if any of them
    is now past its limit, so that only accepted events count (SMS requests: the codes actually sent)."""
    over = None
    for counter in counters:
        if counter.add() > counter.limit.limit and over is None:
            over = counter
    if over is not None:
        for counter in counters:
            counter.undo(last_only=True)
        raise RateLimited(over.limit.message, over.retry_after())
    return list(counters)


# --- Logins: the managers' (API and screens) and Django's /admin/ -----------------------------------------

LOGIN_REFUSED = "Too many failed login attempts. Try again later."
KNOWN_ADDRESS_SECONDS = 30 * 24 * 3600


class LoginAttempt:
    """One login try, throttled as ``management-api.md`` §4 says, without letting a stranger lock the owner out.

    Failures are counted per (account, client IP) pair, per client IP and per account. Past
    ``LOGIN_FAILURE_LIMIT`` the pair is refused (429) and only that pair; past ``LOGIN_FAILURES_PER_IP`` the
    address is refused for every account (password spraying); past ``LOGIN_FAILURES_PER_EMAIL`` the account is
    refused from new addresses only: one it logged in from recently still gets through.

    :meth:`begin` counts the try before the password is checked (so N concurrent guesses count N and exactly
    the limit get an answer) and :meth:`succeeded` takes it back. A try refused for its address (pair or IP)
    still counts there, so a client that keeps trying stays refused, but never for the account: only tries
    that got past the address limits move the account's limit, so one address can add at most
    ``LOGIN_FAILURE_LIMIT`` per window to it and cannot lock the owner out of new addresses by itself.
    """

    def __init__(self, realm: str, account: str, ip: str | None):
        from django.conf import settings

        window = settings.LOGIN_FAILURE_WINDOW
        self.ip = ip or ""
        self.pair = Counter.of(Limit("login-pair", settings.LOGIN_FAILURE_LIMIT, window, LOGIN_REFUSED),
                               realm, account, self.ip)
        self.by_ip = Counter.of(Limit("login-ip", settings.LOGIN_FAILURES_PER_IP, window, LOGIN_REFUSED), self.ip)
        self.by_account = Counter.of(Limit("login-account", settings.LOGIN_FAILURES_PER_EMAIL, window, LOGIN_REFUSED),
                                     realm, account)
        self._known_key = _key("login-known", realm, account, self.ip)

    @property
    def counters(self) -> list[Counter]:
        return [*self.address_counters, self.by_account]

    @property
    def address_counters(self) -> list[Counter]:
        """The limits of this client address: the (account, IP) pair and the IP across accounts."""
        return [self.pair, self.by_ip] if self.ip else [self.pair]

    def begin(self) -> None:
        """Count this try; ``RateLimited`` (with the seconds to wait) when it is refused."""
        totals = [(counter, counter.add()) for counter in self.address_counters]
        for counter, total in totals:
            if total > counter.limit.limit:
                raise RateLimited(counter.limit.message, counter.retry_after())
        if self.by_account.add() > self.by_account.limit.limit and not _get_many([self._known_key]):
            raise RateLimited(self.by_account.limit.message, self.by_account.retry_after())

    def succeeded(self) -> None:
        """The password was right: this try is no failure, and the address is now known for the account."""
        for counter in self.counters:
            counter.undo()
        if self.ip:
            try:
                _cache().set(self._known_key, True, KNOWN_ADDRESS_SECONDS)
            except Exception:
                logger.exception("Could not remember a known login address: the shared cache cannot be reached")
