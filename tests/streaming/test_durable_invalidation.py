"""Access changes made while the writing process cannot reach Redis are enforced within seconds (finding M2).

The writer's cache points at a closed port for the change (the change still answers success), then at the
real Redis again. A reader on the real Redis still sees the old decision until the pending invalidation is
drained — by the worker's beat job, or by the writing process's next request — and the new one after that.
"""

from __future__ import annotations

import os
import socket
import uuid

import pytest

from catena_site.models import PendingInvalidation
from subscribers import playback_cache
from subscribers import services as subscribers

from .conftest import caller, check, reason, redis_available


def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def redis_cache(settings):
    """The real Redis cache for this test (a key prefix of its own); yields a switch to make it unreachable."""
    if not redis_available():
        pytest.skip("needs REDIS_URL")
    prefix = f"t{uuid.uuid4().hex}"
    reachable = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                             "LOCATION": os.environ["REDIS_URL"], "KEY_PREFIX": prefix}}
    unreachable = {"default": {**reachable["default"], "LOCATION": f"redis://127.0.0.1:{closed_port()}/0"}}
    settings.CACHES = reachable

    def switch(up: bool) -> None:
        settings.CACHES = reachable if up else unreachable

    return switch


def disable(world):
    subscribers.set_disabled(world["alice"], True, caller=caller(world["portal"]))


def reset_token(world):
    subscribers.reset_playback_token(world["alice"], caller=caller(world["portal"]))


def unsubscribe_all(world):
    subscribers.unsubscribe(world["alice"], world["basic"], caller=caller(world["portal"]))


CHANGES = {"disable": (disable, "subscriber_disabled"), "token reset": (reset_token, "unknown_token"),
           "unsubscribe": (unsubscribe_all, "not_in_packages")}


def change_while_redis_is_unreachable(world, redis_cache, committed, change) -> str:
    """Warm the decision, make ``change`` with Redis unreachable, bring Redis back; the old token."""
    token = world["alice"].playback_token
    assert check_allowed(token)
    before = PendingInvalidation.objects.count()  # the fixtures' changes never committed (no on_commit)
    redis_cache(False)
    committed(CHANGES[change][0], world)  # answered success: the change is committed
    redis_cache(True)
    assert PendingInvalidation.objects.count() > before  # what is still to delete from the cache, kept durably
    return token


def check_allowed(token: str) -> bool:
    """The decision another process reads from the shared cache (no request of this process)."""
    return playback_cache.check(token, "news").channel_id is not None


@pytest.mark.parametrize("change", CHANGES)
def test_the_workers_drain_enforces_a_change_made_while_redis_was_unreachable(client, world, redis_cache,
                                                                             committed, change):
    from catena_site.tasks import drain_pending_invalidations

    token = change_while_redis_is_unreachable(world, redis_cache, committed, change)
    assert check_allowed(token)  # the stale decision, still cached: what the finding measured for 636 s
    pending = PendingInvalidation.objects.count()
    assert drain_pending_invalidations() == pending
    assert not PendingInvalidation.objects.exists()
    assert not check_allowed(token)
    assert reason(check(client, token, "news")) == CHANGES[change][1]


def test_the_writing_processs_next_request_drains_it_too(client, world, redis_cache, committed, settings,
                                                         django_assert_num_queries):
    settings.ACCESS_RETRY_SECONDS = 0
    token = change_while_redis_is_unreachable(world, redis_cache, committed, "disable")
    assert check_allowed(token)
    assert reason(check(client, token, "news")) == "subscriber_disabled"  # the request drained first
    assert not PendingInvalidation.objects.exists()
    with django_assert_num_queries(0):  # nothing pending any more: the warm path is back to no query
        assert reason(check(client, token, "news")) == "subscriber_disabled"


def test_a_drain_while_redis_is_still_unreachable_keeps_the_record(client, world, redis_cache, committed):
    from catena_site.tasks import drain_pending_invalidations

    token = change_while_redis_is_unreachable(world, redis_cache, committed, "disable")
    pending = PendingInvalidation.objects.count()
    redis_cache(False)
    assert drain_pending_invalidations() == 0
    assert PendingInvalidation.objects.count() == pending
    redis_cache(True)
    assert drain_pending_invalidations() == pending
    assert not check_allowed(token)


def test_a_change_with_redis_up_leaves_no_record(client, world, redis_cache, committed):
    token = world["alice"].playback_token
    assert check_allowed(token)
    before = PendingInvalidation.objects.count()  # the fixture's own changes never committed (no on_commit)
    committed(disable, world)
    assert PendingInvalidation.objects.count() == before  # written with the change, deleted after the cache
    assert not check_allowed(token)
