"""The streaming endpoints in the metrics (operations.md §1): the auth check is counted
(``catena_auth_checks_total{portal_id,result,reason}``, ``catena_auth_check_seconds``) by the portal's public ID, at
no database cost, and not at all while metrics are off; events by result (``catena_events_total``); active play
sessions by portal (``catena_play_sessions_active``, read when scraped)."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from tests.metrics import TOKEN, scrape, total, value

from .conftest import AUTH, EVENTS, KEY, auth_params, check, make_channel, make_package, make_subscriber


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = []
    settings.METRICS_DATABASE_CACHE = 0


def checks(samples, portal, result, reason):
    return value(samples, "catena_auth_checks_total", portal_id=portal, result=result, reason=reason)


def test_each_answer_is_counted_by_portal_result_and_reason(client, world, metrics_on):
    portal = world["portal"].public_id
    before = scrape(client)
    assert check(client, world["alice"].playback_token, "news").status_code == 200
    assert check(client, world["alice"].playback_token, "news").status_code == 200
    assert check(client, world["alice"].playback_token, "sport").status_code == 403
    assert check(client, world["alice"].playback_token, "nosuch").status_code == 403
    after = scrape(client)

    assert checks(after, portal, "allowed", "ok") - checks(before, portal, "allowed", "ok") == 2
    assert checks(after, portal, "refused", "not_in_packages") - checks(before, portal, "refused", "not_in_packages") == 1
    assert checks(after, portal, "refused", "unknown_stream") - checks(before, portal, "refused", "unknown_stream") == 1
    timed = (total(after, "catena_auth_check_seconds_count") - total(before, "catena_auth_check_seconds_count"))
    assert timed >= 4  # other test processes may count too; ours are among them
    assert total(after, "catena_auth_check_seconds_bucket", le="+Inf") >= total(after, "catena_auth_check_seconds_count")


def test_an_unknown_token_and_a_wrong_key_are_counted_without_a_portal(client, world, metrics_on):
    before = scrape(client)
    assert check(client, "x" * 32, "news").status_code == 403
    assert client.get(AUTH, auth_params(world["alice"].playback_token, "news", key="wrong")).status_code == 403
    after = scrape(client)
    assert checks(after, "", "refused", "unknown_token") - checks(before, "", "refused", "unknown_token") >= 1
    assert checks(after, "", "refused", "bad_key") - checks(before, "", "refused", "bad_key") >= 1
    assert total(after, "catena_auth_checks_total", portal_id=world["portal"].public_id) == total(
        before, "catena_auth_checks_total", portal_id=world["portal"].public_id)


def test_two_portals_are_counted_apart(client, world, other_portal, metrics_on):
    news = make_channel(other_portal, "news")
    bob = make_subscriber(other_portal, "Bob", [make_package(other_portal, "basic", [news])])
    before = scrape(client)
    check(client, bob.playback_token, "news", key=other_portal.streaming_server.key)
    after = scrape(client)
    assert checks(after, other_portal.public_id, "allowed", "ok") - checks(before, other_portal.public_id,
                                                                          "allowed", "ok") == 1
    assert checks(after, world["portal"].public_id, "allowed", "ok") == checks(before, world["portal"].public_id,
                                                                              "allowed", "ok")


def test_nothing_is_counted_while_metrics_are_off(client, world, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS, settings.METRICS_DATABASE_CACHE = "", [], 0
    assert check(client, world["alice"].playback_token, "news").status_code == 200
    settings.METRICS_TOKEN = TOKEN
    assert checks(scrape(client), world["portal"].public_id, "allowed", "ok") == 0


def test_a_warm_counted_check_still_runs_no_query(client, world, metrics_on, django_assert_num_queries):
    token = world["alice"].playback_token
    session = "warm-session"
    assert check(client, token, "news", session_id=session).status_code == 200
    assert check(client, token, "news", session_id=session, request_type="update_session").status_code == 200
    with django_assert_num_queries(0):
        response = check(client, token, "news", session_id=session, request_type="update_session")
    assert response.status_code == 200


def test_events_are_counted_by_result(client, world, metrics_on):
    now = int(time.time())
    good = {"event": "play_opened", "event_id": str(uuid.uuid4()), "id": "m-1", "media": "news",
            "token": world["alice"].playback_token, "opened_at": now, "updated_at": now}
    before = scrape(client)
    response = client.post(f"{EVENTS}?key={KEY}", json.dumps([good, {"event": "play_opened"}]),
                           content_type="application/json")
    assert response.status_code == 204
    after = scrape(client)
    assert value(after, "catena_events_total", result="applied") - value(before, "catena_events_total",
                                                                         result="applied") >= 1
    assert value(after, "catena_events_total", result="invalid") - value(before, "catena_events_total",
                                                                         result="invalid") >= 1


def test_active_play_sessions_are_read_by_portal_when_scraped(client, world, other_portal, metrics_on):
    portal = world["portal"].public_id
    assert value(scrape(client), "catena_play_sessions_active", portal_id=portal) == 0
    for session in ("a", "b"):
        assert check(client, world["alice"].playback_token, "news", session_id=session).status_code == 200
    samples = scrape(client)
    assert value(samples, "catena_play_sessions_active", portal_id=portal) == 2
    assert value(samples, "catena_play_sessions_active", portal_id=other_portal.public_id) == 0
