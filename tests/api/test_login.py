import datetime as dt
import os
import uuid

import pytest
import time_machine
from django.utils import timezone

from portals.models import Manager
from tests.conftest import API, api_client
from tests.factories import PASSWORD, make_manager, make_portal
from tests.worker import redis_available

LOGIN = f"{API}/login"


@pytest.fixture
def three_portals(db):
    """alice@example.com in three portals: same password in two, another password in the third."""
    first = make_portal("first", title="First TV")
    second = make_portal("second", title="Second TV")
    third = make_portal("third")
    make_manager(first, "alice@example.com")
    make_manager(second, "Alice@Example.com")
    make_manager(third, "alice@example.com", password="Another-Pass-7")
    return first, second, third


def test_login_lists_every_portal_where_email_and_password_match(anonymous, three_portals):
    first, second, _ = three_portals
    response = anonymous.post(LOGIN, {"email": "ALICE@example.com", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    portals = response.json()["portals"]
    assert [(p["portalId"], p["portalName"]) for p in portals] == [
        (first.public_id, "First TV"), (second.public_id, "Second TV")]
    for item, portal in zip(portals, (first, second)):
        assert set(item) == {"portalId", "portalName", "sessionId"}
        assert api_client(item["sessionId"]).get(f"{API}/portal").json()["portalId"] == portal.public_id
    assert Manager.objects.filter(email="alice@example.com", last_login_at__isnull=False).count() == 2


def test_wrong_password_and_unknown_email_get_the_same_401(anonymous, three_portals):
    wrong = anonymous.post(LOGIN, {"email": "alice@example.com", "password": "Nope-Nope-1"}, format="json")
    unknown = anonymous.post(LOGIN, {"email": "nobody@example.com", "password": PASSWORD}, format="json")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"message": "Invalid email or password."}


def test_login_body_must_have_email_and_password(anonymous, db):
    response = anonymous.post(LOGIN, {"email": "alice@example.com"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()["errors"]
    assert anonymous.post(LOGIN, "[1, 2", content_type="application/json").status_code == 400


def _fail(client, email="alice@example.com", ip="10.0.0.1"):
    return client.post(LOGIN, {"email": email, "password": "Wrong-Pass-1"}, format="json", REMOTE_ADDR=ip)


def _right(client, email="alice@example.com", ip="10.0.0.1"):
    return client.post(LOGIN, {"email": email, "password": PASSWORD}, format="json", REMOTE_ADDR=ip)


@pytest.fixture(params=["file"] + (["redis"] if redis_available() else []))
def store(request, settings):
    """The throttling counters on the embedded file cache (the tests' default) or on Redis (REDIS_URL)."""
    if request.param == "redis":
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                       "LOCATION": os.environ["REDIS_URL"], "KEY_PREFIX": f"t{uuid.uuid4().hex}"}}
    return request.param


def test_the_eleventh_failure_of_one_email_from_one_address_is_429_for_that_pair_only(anonymous, three_portals,
                                                                                     store):
    for _ in range(10):
        assert _fail(anonymous).status_code == 401
    blocked = _fail(anonymous)
    assert blocked.status_code == 429
    assert 1 <= int(blocked["Retry-After"]) <= 15 * 60
    # Even the right password is refused from that address, and no session is created.
    assert _right(anonymous).status_code == 429
    assert not Manager.objects.filter(last_login_at__isnull=False).exists()
    # The same email from another address, and another email from the same address, still get answers.
    assert _right(anonymous, ip="10.0.2.1").status_code == 200
    assert _fail(anonymous, email="bob@example.com").status_code == 401


def test_a_stranger_failing_with_made_up_emails_does_not_lock_the_owner_out(anonymous, three_portals, store):
    for attempt in range(12):
        assert _fail(anonymous, email=f"made-up-{attempt}@example.com", ip="192.0.2.7").status_code == 401
    assert _right(anonymous, ip="192.0.2.7").status_code == 200


def test_a_stranger_hammering_the_owners_email_from_one_address_cannot_lock_them_out_of_new_ones(
        anonymous, three_portals, store, settings):
    """Past the pair's limit the stranger's tries are refused unanswered, and do not count for the account."""
    assert settings.LOGIN_FAILURES_PER_EMAIL == 50
    statuses = [_fail(anonymous, ip="192.0.2.66").status_code for _ in range(60)]
    assert statuses == [401] * 10 + [429] * 50
    assert _right(anonymous, ip="203.0.113.80").status_code == 200  # an address the owner never used


def test_password_spraying_from_one_address_is_refused_for_every_email(anonymous, three_portals, settings, store):
    assert settings.LOGIN_FAILURES_PER_IP == 50
    for attempt in range(50):
        assert _fail(anonymous, email=f"user{attempt}@example.com", ip="192.0.2.7").status_code == 401
    sprayed = _fail(anonymous, email="fresh@example.com", ip="192.0.2.7")
    assert sprayed.status_code == 429 and int(sprayed["Retry-After"]) >= 1
    assert _right(anonymous, ip="192.0.2.7").status_code == 429
    assert _fail(anonymous, email="fresh@example.com", ip="192.0.2.8").status_code == 401


def test_many_failures_for_one_email_refuse_new_addresses_but_not_a_known_one(anonymous, three_portals, settings,
                                                                              store):
    assert settings.LOGIN_FAILURES_PER_EMAIL == 50
    assert _right(anonymous, ip="198.51.100.1").status_code == 200  # the owner's usual address
    for attempt in range(50):
        assert _fail(anonymous, ip=f"10.1.{attempt // 200}.{attempt % 200 + 1}").status_code == 401
    from_new_address = _right(anonymous, ip="10.9.9.9")
    assert from_new_address.status_code == 429 and int(from_new_address["Retry-After"]) >= 1
    assert _right(anonymous, ip="198.51.100.1").status_code == 200


def test_rotating_the_forwarded_for_hop_a_client_writes_does_not_escape_the_limits(anonymous, three_portals,
                                                                                  settings):
    """Behind a trusted proxy the client is the hop the proxy appended; what the client wrote is ignored."""
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    for attempt in range(10):
        response = anonymous.post(LOGIN, {"email": "alice@example.com", "password": "Wrong-Pass-1"}, format="json",
                                  REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=f"203.0.113.{attempt}, 198.51.100.9")
        assert response.status_code == 401
    blocked = anonymous.post(LOGIN, {"email": "alice@example.com", "password": PASSWORD}, format="json",
                             REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.77, 198.51.100.9")
    assert blocked.status_code == 429
    other_client = anonymous.post(LOGIN, {"email": "alice@example.com", "password": PASSWORD}, format="json",
                                  REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.10")
    assert other_client.status_code == 200


def test_the_block_lifts_when_the_window_passes(anonymous, three_portals):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for _ in range(10):
            _fail(anonymous)
        assert _fail(anonymous).status_code == 429
        traveller.shift(dt.timedelta(minutes=15, seconds=1))
        ok = anonymous.post(LOGIN, {"email": "alice@example.com", "password": PASSWORD}, format="json",
                            REMOTE_ADDR="10.0.0.1")
        assert ok.status_code == 200


def test_logout_ends_the_session(anonymous, three_portals):
    session = anonymous.post(LOGIN, {"email": "alice@example.com", "password": PASSWORD},
                             format="json").json()["portals"][0]["sessionId"]
    client = api_client(session)
    assert client.post(f"{API}/logout").status_code == 204
    assert client.get(f"{API}/portal").status_code == 401


def test_logout_with_the_api_key_is_refused(api):
    assert api.post(f"{API}/logout").status_code == 400
    assert api.get(f"{API}/portal").status_code == 200


def test_a_session_expires_after_inactivity_and_activity_keeps_it(anonymous, three_portals, settings):
    settings.MANAGER_SESSION_TTL = 3600
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        session = anonymous.post(LOGIN, {"email": "alice@example.com", "password": PASSWORD},
                                 format="json").json()["portals"][0]["sessionId"]
        client = api_client(session)
        for _ in range(3):  # used every 50 minutes: stays alive past the TTL in total
            traveller.shift(dt.timedelta(minutes=50))
            assert client.get(f"{API}/portal").status_code == 200
        traveller.shift(dt.timedelta(minutes=61))
        assert client.get(f"{API}/portal").status_code == 401


@pytest.mark.django_db(transaction=True)
def test_thirty_concurrent_wrong_logins_count_thirty_and_exactly_ten_are_answered():
    """Counted atomically in the shared (file) cache: no lost update lets an 11th guess through."""
    import threading

    from django.db import connection

    from catena_site.throttle import LoginAttempt

    make_manager(make_portal("race"), "alice@example.com")
    start = threading.Barrier(30)
    statuses = []

    def guess():
        client = api_client()
        start.wait()
        try:
            statuses.append(_fail(client, ip="192.0.2.50").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=guess) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [401] * 10 + [429] * 20
    attempt = LoginAttempt("manager", "alice@example.com", "192.0.2.50")
    assert attempt.pair.count() == 30 and attempt.by_ip.count() == 30
    assert attempt.by_account.count() == 10  # refused for the address: no guess, not counted for the account


def test_login_still_answers_when_the_shared_cache_is_down(anonymous, three_portals, settings):
    """Throttling counts in the cache; a cache outage turns throttling off (logged), never login."""
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": f"redis://127.0.0.1:{port}/0",
                                   "OPTIONS": {"socket_connect_timeout": 0.5}}}
    assert _fail(anonymous).status_code == 401
    assert _right(anonymous).status_code == 200


def test_every_missing_or_wrong_login_field_is_named_in_one_answer(anonymous, db):
    response = anonymous.post(LOGIN, {"email": 5, "password": None}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"email": ["Must be text."], "password": ["This field is required."]}
