"""The shared throttling counters: atomic across processes on the file cache and on Redis, and Retry-After."""

from __future__ import annotations

import multiprocessing
import os

import pytest
import time_machine

from catena_site.errors import RateLimited
from catena_site.throttle import Counter, Limit, take
from tests.worker import redis_available


@pytest.fixture(params=["file"] + (["redis"] if redis_available() else []))
def shared_cache(request, settings):
    """The embedded file cache (the autouse per-test one) or the real Redis, under a prefix of this run."""
    if request.param == "redis":
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                       "LOCATION": os.environ["REDIS_URL"], "KEY_PREFIX": f"throttle-test-{os.getpid()}"}}
    return request.param


LIMIT = Limit("test-race", 40, 900, "Too many.")


def _take_many(key: str, times: int, results) -> None:
    from django.db import connections

    connections.close_all()  # a forked child must not share the parent's database connection
    passed = 0
    for _ in range(times):
        try:
            take(Counter.of(LIMIT, key))
            passed += 1
        except RateLimited:
            pass
    results.put(passed)


def test_events_from_several_processes_at_once_all_count_and_exactly_the_limit_pass(shared_cache):
    key = f"race-{os.getpid()}-{shared_cache}"
    results = multiprocessing.get_context("fork").Queue()
    workers = [multiprocessing.get_context("fork").Process(target=_take_many, args=(key, 25, results))
               for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    passed = sum(results.get(timeout=5) for _ in workers)
    assert passed == 40
    assert Counter.of(LIMIT, key).count() == 40  # refused events were taken back


def test_retry_after_says_when_the_oldest_events_leave_the_window(shared_cache):
    limit = Limit("test-window", 3, 900, "Too many.")
    counter = Counter.of(limit, f"window-{os.getpid()}-{shared_cache}")
    with time_machine.travel(1_800_000_000, tick=False) as traveller:  # the start of a 60-second bucket
        take(counter)
        traveller.shift(300)
        take(counter)
        take(counter)
        with pytest.raises(RateLimited) as refused:
            take(counter)
        assert refused.value.retry_after == 600  # the first event leaves 900 s after its bucket began
        traveller.shift(600)
        take(counter)
        with pytest.raises(RateLimited):
            take(counter)
