"""The hot lists (``/play-sessions``, ``/operations``, ``/subscribers``) read their pages as plain values, times
as integers on PostgreSQL: each item of a page is exactly the object ``GET /<list>/{id}`` answers (times with
microseconds, open ends, a heartbeat newer than the row), and cursors between rows a microsecond apart neither
repeat nor skip a row."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from content import services as content
from monitoring.models import PlaySession
from monitoring.operations import Operation
from monitoring.sessions import session_key
from portals.auth import Caller
from subscribers import playback_cache
from subscribers import services as subscribers
from subscribers.models import Subscription
from tests.conftest import API

pytestmark = pytest.mark.django_db
AT = dt.datetime(2026, 3, 5, 7, 8, 9, 987654, tzinfo=dt.UTC)


@pytest.fixture
def world(portal):
    caller = Caller(portal=portal)
    channel = content.create_channel(portal, caller=caller, data={"name": "news", "title": "News"})
    package = content.create_package(portal, caller=caller, data={"name": "basic"})
    alice = subscribers.create_subscriber(portal, caller=caller, data={"name": "Alice", "phoneCountryCode": "1",
                                                                      "phone": "2345678901"})
    bob = subscribers.create_subscriber(portal, caller=caller, data={"name": "Bob", "phoneCountryCode": "1",
                                                                    "phone": "2345678902"})
    subscribers.subscribe(alice, package, caller=caller)
    Subscription.objects.filter(subscriber=alice).update(starts_at=AT - dt.timedelta(days=400),
                                                          expires_at=timezone.now() + dt.timedelta(days=3, microseconds=7))
    type(alice).objects.filter(pk=alice.pk).update(last_activity_at=AT)
    sessions = []
    for number in range(4):  # opened a microsecond apart, newest first in the list
        opened = AT + dt.timedelta(microseconds=number)
        sessions.append(PlaySession.objects.create(
            portal=portal, subscriber_id=alice.id if number % 2 else None, channel_id=channel.id,
            channel_name="news", streamer_session_id=str(uuid.uuid4()), token=alice.playback_token,
            opened_at=opened, updated_at=opened + dt.timedelta(seconds=59, microseconds=999999),
            closed_at=None if number == 3 else opened + dt.timedelta(minutes=5, microseconds=500000),
            active=number == 3, bytes=100 * number, ip="192.0.2.1" if number else "", user_agent="VLC"))
    return {"channel": channel, "alice": alice, "bob": bob, "sessions": sessions}


def every_item(api, path: str, key: str) -> list[dict]:
    items, cursor = [], None
    while True:
        response = api.get(f"{API}/{path}", {"limit": 1, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.content
        body = response.json()
        items += body[key]
        cursor = body["next"]
        if cursor is None:
            return items


def test_session_pages_are_the_detail_objects_and_keep_microsecond_order(api, world):
    live = world["sessions"][3]
    beat_at = (live.updated_at + dt.timedelta(minutes=3, microseconds=1)).timestamp()  # newer than the row
    playback_cache.set_heartbeat(session_key(live.streamer_session_id),
                                 playback_cache.Beat(live.subscriber_id, live.channel_id, beat_at, 123_456, 40), 600)
    items = every_item(api, "play-sessions", "sessions")
    assert (items[0]["updatedAt"], items[0]["bytes"]) == (int(beat_at), 123_456)
    assert [item["sessionId"] for item in items] == [s.public_id for s in reversed(world["sessions"])]
    for item in items:
        assert api.get(f"{API}/play-sessions/{item['sessionId']}").json() == item
    closed = items[-1]
    assert closed["openedAt"] == int(AT.timestamp()) and closed["closedAt"] == int(AT.timestamp()) + 301  # 300.5 s later
    assert closed["updatedAt"] == int(AT.timestamp()) + 60  # 59.999999 s later: whole seconds


def test_operation_pages_are_the_detail_objects(api, world):
    Operation.objects.update(created_at=AT, updated_at=AT + dt.timedelta(microseconds=999999))
    items = every_item(api, "operations", "operations")
    assert len(items) == Operation.objects.count() >= 5
    for item in items:
        assert api.get(f"{API}/operations/{item['operationId']}").json() == item
    assert {(item["createdAt"], item["updatedAt"]) for item in items} == {("2026-03-05T07:08:09Z", "2026-03-05T07:08:10Z")}


def test_subscriber_pages_are_the_detail_objects(api, world):
    items = every_item(api, "subscribers", "subscribers")
    assert [item["name"] for item in items] == ["Alice", "Bob"]
    for item in items:
        assert api.get(f"{API}/subscribers/{item['subscriberId']}").json() == item
    alice = items[0]
    assert alice["lastActivityAt"] == "2026-03-05T07:08:09Z" and items[1]["lastActivityAt"] is None
    assert alice["subscriptions"][0]["active"] is True and alice["packages"] == [alice["subscriptions"][0]["packageId"]]
