"""The subscriber object, byte for byte: key order, value formats and token visibility.

The list, the detail and the answers of the write endpoints share one hand-written serializer
(``subscriber_body``); these pin the exact bytes the API answered with DRF's ModelSerializer, so that the
faster one cannot drift from them.
"""

import json
from datetime import UTC, datetime, timedelta, timezone

from django.utils import timezone as dj_timezone

from catena_site.access_events import token_digest
from monitoring.models import TokenSharingSuspicion
from subscribers.models import Subscriber, Subscription
from tests.conftest import API
from tests.content.test_channels_api import make_package
from tests.subscribers.test_subscribers_api import make_subscriber

CREATED = datetime(2024, 10, 16, 15, 0, 0, 999_999, tzinfo=UTC)  # microseconds are dropped
UPDATED = datetime(2024, 10, 16, 17, 30, 45, tzinfo=timezone(timedelta(hours=2)))  # shown in UTC
ACTIVE = datetime(2024, 10, 17, 8, 9, 10, 123, tzinfo=UTC)
STARTED = datetime(2024, 9, 1, tzinfo=UTC)
ENDS = datetime(2030, 1, 1, 12, 0, 0, 500, tzinfo=UTC)
ENDED = datetime(2024, 10, 1, tzinfo=UTC)


def rendered(value) -> bytes:
    """What DRF's JSONRenderer answers for ``value`` (compact separators, UTF-8)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def setup_subscribers(portal):
    """A disabled subscriber with two packages in force (one started, one ending later) and an expired one,
    activity and a current sharing suspicion; a bare one with a stale suspicion (an earlier token's), which does
    not count."""
    rich = make_subscriber(portal, name="Zoë \"Z\" <Ünïcode>", country_code="31", phone="612345678")
    bare = make_subscriber(portal, name="Bare", country_code="1", phone="2345678901")
    second, first, old = make_package(portal, "second"), make_package(portal, "first"), make_package(portal, "old")
    Subscription.objects.create(subscriber=rich, package=second, starts_at=STARTED)
    Subscription.objects.create(subscriber=rich, package=old, expires_at=ENDED)
    Subscription.objects.create(subscriber=rich, package=first, expires_at=ENDS)
    now = dj_timezone.now()
    TokenSharingSuspicion.objects.create(portal=portal, subscriber=rich, ips=["192.0.2.1", "2001:db8::1"],
                                         token_digest=token_digest(rich.playback_token), detected_at=now,
                                         last_detected_at=now)
    TokenSharingSuspicion.objects.create(portal=portal, subscriber=bare, ips=["192.0.2.9"],
                                         token_digest=token_digest("an earlier token"), detected_at=now,
                                         last_detected_at=now)
    Subscriber.objects.filter(pk=rich.pk).update(disabled=True, created_at=CREATED, updated_at=UPDATED,
                                                 last_activity_at=ACTIVE, max_devices=3, login="zoe.z@home",
                                                 player_password="Xq7-pass")
    Subscriber.objects.filter(pk=bare.pk).update(created_at=CREATED, updated_at=CREATED)
    rich.refresh_from_db()
    bare.refresh_from_db()
    packages = [second.public_id, first.public_id]  # in force, in subscription order
    rich.periods = [
        {"packageId": second.public_id, "startsAt": "2024-09-01T00:00:00Z", "expiresAt": None, "active": True},
        {"packageId": old.public_id, "startsAt": None, "expiresAt": "2024-10-01T00:00:00Z", "active": False},
        {"packageId": first.public_id, "startsAt": None, "expiresAt": "2030-01-01T12:00:00Z", "active": True},
    ]
    return rich, bare, packages


def expected(portal, rich, bare, packages, with_token: bool):
    return [
        {"subscriberId": rich.public_id, "portalId": portal.public_id, "name": "Zoë \"Z\" <Ünïcode>",
         "phoneCountryCode": "31", "phone": "612345678", "login": "zoe.z@home",
         "playback_token": rich.playback_token if with_token else None,
         "playerPassword": "Xq7-pass" if with_token else None,
         "packages": packages, "disabled": True,
         "createdAt": "2024-10-16T15:00:00Z", "updatedAt": "2024-10-16T15:30:45Z",
         "lastActivityAt": "2024-10-17T08:09:10Z",
         "suspectedSharing": True, "sharingIps": ["192.0.2.1", "2001:db8::1"], "subscriptions": rich.periods,
         "maxDevices": 3},
        {"subscriberId": bare.public_id, "portalId": portal.public_id, "name": "Bare",
         "phoneCountryCode": "1", "phone": "2345678901", "login": "12345678901",
         "playback_token": bare.playback_token if with_token else None,
         "playerPassword": bare.player_password if with_token else None,
         "packages": [], "disabled": False,
         "createdAt": "2024-10-16T15:00:00Z", "updatedAt": "2024-10-16T15:00:00Z",
         "lastActivityAt": None,
         "suspectedSharing": False, "sharingIps": [], "subscriptions": [], "maxDevices": None},
    ]


def test_list_and_detail_bodies_are_byte_for_byte_the_documented_ones(clients, portal):
    rich, bare, packages = setup_subscribers(portal)
    for persona, with_token in (("api_key", True), ("subscribers", True), ("owner", True),
                                ("viewer", False), ("admin", False), ("content", False)):
        client = clients[persona]
        bodies = expected(portal, rich, bare, packages, with_token)
        response = client.get(f"{API}/subscribers")
        assert response.status_code == 200
        assert response.content == rendered({"subscribers": bodies, "next": None}), persona
        response = client.get(f"{API}/subscribers?limit=1")
        assert response.content == rendered({"subscribers": bodies[:1], "next": response.json()["next"]})
        assert response.json()["next"]
        response = client.get(f"{API}/subscribers?packageId={packages[1]}")  # every package, not the filter's
        assert response.content == rendered({"subscribers": bodies[:1], "next": None})
        for subscriber, body in zip((rich, bare), bodies):
            response = client.get(f"{API}/subscribers/{subscriber.public_id}")
            assert response.status_code == 200
            assert response.content == rendered(body), persona


def test_write_answers_are_the_same_object(clients, portal):
    rich, bare, packages = setup_subscribers(portal)
    client = clients["subscribers"]
    response = client.post(f"{API}/subscribers/{bare.public_id}/disable")
    assert response.status_code == 200
    body = json.loads(response.content)
    bare.refresh_from_db()
    assert list(body) == list(expected(portal, rich, bare, packages, True)[1])
    assert body == {**expected(portal, rich, bare, packages, True)[1], "disabled": True,
                    "updatedAt": bare.updated_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert response.content == rendered(body)
    response = client.put(f"{API}/subscribers/{rich.public_id}",
                          {"name": "Zoë \"Z\" <Ünïcode>", "phoneCountryCode": "31", "phone": "612345678"},
                          format="json")
    assert response.status_code == 200
    body = json.loads(response.content)
    assert body["packages"] == packages and body["suspectedSharing"] is True
    assert body["playback_token"] == rich.playback_token and body["createdAt"] == "2024-10-16T15:00:00Z"
