"""Fixtures of the streaming tests: a streamer key, eager Celery, committed changes, a Redis cache option.

Service calls that change access schedule their cache invalidation and session re-check with
``transaction.on_commit``; pytest-django's transactions never commit, so ``committed(...)`` runs a change and
then its after-commit callbacks, like a real commit.
"""

from __future__ import annotations

import os
import uuid

import pytest

from catena_site.celery import app as celery_app
from content import services as content
from portals.auth import Caller
from subscribers import services as subscribers
from tests.worker import redis_available

KEY = "streamer-test-key"
AUTH = "/streaming/flussonic/auth"
EVENTS = "/streaming/flussonic/events"


@pytest.fixture(autouse=True)
def _streamer_settings(settings):
    settings.STREAMER_KEY = KEY
    settings.STREAMER_ALLOWED_IPS = []
    settings.STREAMER_API_URL = ""
    settings.STREAMER_AUTH_DURATION = 120
    settings.SESSION_STALE_SECONDS = 600
    settings.TOKEN_SHARING_IPS = 3
    settings.TOKEN_SHARING_WINDOW = 3600


@pytest.fixture(autouse=True)
def _eager_celery():
    import monitoring.tasks  # noqa: F401  (registers the tasks, so they run eagerly here)

    # Not propagating lets an eager task retry in place (Celery re-applies it), as a worker would.
    previous = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = True, False
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = previous


CACHE_BACKENDS = ["file"] + (["redis"] if redis_available() else [])


@pytest.fixture(params=CACHE_BACKENDS)
def cache_backend(request, settings):
    """Each test using it runs on the file-based cache and, when REDIS_URL answers, on Redis too.

    The Redis variant uses REDIS_URL's own database with a key prefix unique to the test (nothing flushed).
    """
    if request.param == "redis":
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                       "LOCATION": os.environ["REDIS_URL"], "KEY_PREFIX": f"t{uuid.uuid4().hex}"}}
    return request.param


@pytest.fixture
def on_redis(settings):
    """The Redis cache of REDIS_URL (a key prefix of the test's own), or skip without one."""
    if not redis_available():
        pytest.skip("needs REDIS_URL")
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": os.environ["REDIS_URL"], "KEY_PREFIX": f"t{uuid.uuid4().hex}"}}


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """``committed(fn, *args, **kwargs)``: run a change, then what it scheduled for after its commit."""

    def run(function, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return function(*args, **kwargs)

    return run


def caller(portal) -> Caller:
    return Caller(portal=portal)


def make_channel(portal, name="news", title=None):
    return content.create_channel(portal, caller=caller(portal), data={"name": name, "title": title or name.title()})


def make_package(portal, name="basic", channels=()):
    package = content.create_package(portal, caller=caller(portal), data={"name": name})
    for channel in channels:
        content.add_channel_to_package(package, channel, caller=caller(portal))
    return package


_phones = iter(range(2000000000, 2999999999))


def make_subscriber(portal, name="Alice", packages=()):
    subscriber = subscribers.create_subscriber(
        portal, caller=caller(portal), data={"name": name, "phoneCountryCode": "1", "phone": str(next(_phones))})
    for package in packages:
        subscribers.subscribe(subscriber, package, caller=caller(portal))
    return subscriber


def auth_params(token, name, *, session_id=None, request_type="new_session", key=KEY, **extra) -> dict:
    params = {"key": key, "name": name, "token": token, "ip": "192.0.2.10", "proto": "hls",
              "session_id": session_id or str(uuid.uuid4()), "request_type": request_type, "request_number": 0,
              "stream_clients": 1, "total_clients": 1, **extra}
    return {k: v for k, v in params.items() if v is not None}


def check(client, token, name, **kwargs):
    """One auth request; returns the response."""
    return client.get(AUTH, auth_params(token, name, **kwargs))


def reason(response) -> str | None:
    if response.status_code == 200:
        return None
    return response.json()["errors"][0]["code"]


@pytest.fixture
def world(portal):
    """A portal with channels ``news`` (in ``basic``), ``sport`` (in ``premium``), ``kids`` (in no package)
    and ``alice`` subscribed to ``basic``."""
    news, sport, kids = make_channel(portal, "news"), make_channel(portal, "sport"), make_channel(portal, "kids")
    basic = make_package(portal, "basic", [news])
    premium = make_package(portal, "premium", [sport])
    alice = make_subscriber(portal, "Alice", [basic])
    return {"portal": portal, "news": news, "sport": sport, "kids": kids, "basic": basic, "premium": premium,
            "alice": alice}
