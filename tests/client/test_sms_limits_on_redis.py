"""The SMS code limits (client-api.md) counted on Redis: the same ``catena_site.throttle`` counters as the
managers' login, which the other SMS tests exercise on the embedded file cache."""

from __future__ import annotations

import datetime as dt
import os
import uuid

import pytest
import time_machine
from django.utils import timezone

from tests.client.conftest import CLIENT, sent_messages
from tests.subscribers.test_subscribers_api import make_subscriber
from tests.worker import redis_available

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.skipif(not redis_available(), reason="needs REDIS_URL")]

NUMBER = {"phoneCountryCode": "1", "phone": "2345678901"}


@pytest.fixture(autouse=True)
def _on_redis(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": os.environ.get("REDIS_URL", ""), "KEY_PREFIX": f"t{uuid.uuid4().hex}"}}


def _request(app, number=NUMBER, ip="198.51.100.1"):
    return app.post(f"{CLIENT}/auth/sms/request", number, format="json", REMOTE_ADDR=ip)


def test_one_code_a_minute_and_five_an_hour_per_number(app, portal, sms_file):
    make_subscriber(portal)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        assert _request(app).status_code == 200
        again = _request(app, ip="198.51.100.2")
        assert again.status_code == 429 and 1 <= int(again["Retry-After"]) <= 60
        for _ in range(4):
            traveller.shift(dt.timedelta(seconds=61))
            assert _request(app).status_code == 200
        traveller.shift(dt.timedelta(seconds=61))
        sixth = _request(app)
        assert sixth.status_code == 429 and int(sixth["Retry-After"]) > 60
    assert len(sent_messages(sms_file)) == 5


def test_thirty_requests_an_hour_per_address(app, portal, sms_file):
    with time_machine.travel(timezone.now(), tick=False):
        for i in range(30):
            assert _request(app, {"phoneCountryCode": "1", "phone": f"55500{i:03d}"}, "203.0.113.9").status_code == 200
        extra = _request(app, {"phoneCountryCode": "1", "phone": "55599999"}, "203.0.113.9")
        assert extra.status_code == 429 and int(extra["Retry-After"]) >= 1
        assert _request(app, {"phoneCountryCode": "1", "phone": "55599999"}, "203.0.113.10").status_code == 200
