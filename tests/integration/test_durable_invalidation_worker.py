"""Finding M2 with a real worker: the worker process delivers the invalidation the web process could not."""

from __future__ import annotations

import os
import socket

import pytest
from django.db import transaction

from catena_site.models import PendingInvalidation
from catena_site.tasks import drain_pending_invalidations
from content import services as content
from portals.auth import Caller
from subscribers import playback_cache
from subscribers import services as subscribers
from tests.factories import make_portal
from tests.worker import wait_until


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def allowed(token: str) -> bool:
    return playback_cache.check(token, "news").channel_id is not None


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_drains_it_while_another_process_reads(celery_worker_process, settings):
    """The worker process (its own connection to the same Redis) delivers the invalidation the web process
    could not; the reader sees the old decision until then and the new one after."""
    portal = make_portal("drained-portal")
    who = Caller(portal=portal)
    news = content.create_channel(portal, caller=who, data={"name": "news", "title": "News"})
    basic = content.create_package(portal, caller=who, data={"name": "basic"})
    content.add_channel_to_package(basic, news, caller=who)
    alice = subscribers.create_subscriber(portal, caller=who,
                                          data={"name": "Alice", "phoneCountryCode": "1", "phone": "2025550199"})
    subscribers.subscribe(alice, basic, caller=who)
    # The worker's cache is REDIS_URL without a key prefix: use the same one here.
    reachable = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                             "LOCATION": os.environ["REDIS_URL"]}}
    settings.CACHES = reachable
    token = alice.playback_token
    assert allowed(token)
    settings.CACHES = {"default": {**reachable["default"], "LOCATION": f"redis://127.0.0.1:{closed_port()}/0"}}
    with transaction.atomic():
        subscribers.set_disabled(alice, True, caller=who)
    settings.CACHES = reachable
    assert allowed(token)  # stale until the worker drains
    drain_pending_invalidations.delay()
    assert wait_until(lambda: not allowed(token), timeout=30), celery_worker_process.log_tail()
    assert not PendingInvalidation.objects.exists()
