"""``/devices`` of the Management API and ``maxDevices`` of subscribers (lifecycle.md §2)."""

from __future__ import annotations

import pytest

from monitoring.operations import Operation
from portals import services as portals
from portals.auth import Caller
from subscribers import devices
from subscribers.models import Device
from tests.conftest import API
from tests.subscribers.test_subscribers_api import make_subscriber

DEVICE_KEYS = {"deviceId", "subscriberId", "portalId", "kind", "uid", "mac", "name", "firstSeenAt", "lastSeenAt",
               "lastIp", "userAgent"}


@pytest.fixture
def alice(portal):
    return make_subscriber(portal)


def add(api, subscriber, **body):
    return api.post(f"{API}/devices", {"subscriberId": subscriber.public_id, **body}, format="json")


def test_a_manager_adds_an_stb_by_mac_and_it_is_listed_normalised(api, portal, alice):
    response = add(api, alice, kind="stb", mac="00-1A-79-AB-CD-EF", name="Living room")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == DEVICE_KEYS
    assert (body["kind"], body["uid"], body["mac"], body["name"], body["subscriberId"], body["portalId"]) == (
        "stb", "00:1a:79:ab:cd:ef", "00:1a:79:ab:cd:ef", "Living room", alice.public_id, portal.public_id)
    assert body["lastSeenAt"] is None and body["lastIp"] is None
    operation = Operation.objects.get(type="addDevice")
    assert operation.subscriber_id == alice.id and operation.actor_type == "apiKey"
    assert operation.payload["mac"] == "00:1a:79:ab:cd:ef"
    listed = api.get(f"{API}/devices", {"subscriberId": alice.public_id}).json()
    assert listed == {"devices": [body], "next": None}


def test_a_player_by_uid_rename_and_delete(api, alice):
    device = add(api, alice, kind="player", uid="kodi-1").json()
    url = f"{API}/devices/{device['deviceId']}"
    renamed = api.put(url, {"name": "Kodi upstairs"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["name"] == "Kodi upstairs"
    assert api.get(url).json()["name"] == "Kodi upstairs"
    deleted = api.delete(url)
    assert (deleted.status_code, deleted.json()) == (201, {"deleted": device["deviceId"]})
    assert not Device.objects.exists()
    assert Operation.objects.get(type="removeDevice").payload["uid"] == "kodi-1"
    assert api.get(url).status_code == 404


def test_the_list_filters_by_subscriber(api, portal, alice):
    bob = make_subscriber(portal, "Bob", phone="2345678902")
    add(api, alice, kind="player", uid="a-1")
    add(api, bob, kind="app", uid="b-1")
    assert [d["uid"] for d in api.get(f"{API}/devices").json()["devices"]] == ["a-1", "b-1"]
    assert [d["uid"] for d in api.get(f"{API}/devices", {"subscriberId": bob.public_id}).json()["devices"]] == ["b-1"]
    assert api.get(f"{API}/devices", {"subscriberId": "nonsense"}).status_code == 400


@pytest.mark.parametrize(("body", "field"), [
    ({"kind": "stb", "mac": "zz:zz:zz:zz:zz:zz"}, "mac"),
    ({"kind": "stb", "mac": "00:1a:79:ab:cd"}, "mac"),  # five groups
    ({"kind": "stb", "mac": "00:1a:79:ab:cd:ef:01"}, "mac"),
    ({"kind": "stb", "uid": "box"}, "mac"),  # a set-top box needs its MAC
    ({"kind": "player"}, "uid"),
    ({"kind": "tv", "uid": "x"}, "kind"),
    ({"kind": "player", "uid": "x" * 201}, "uid"),
])
def test_bad_device_input_is_a_400_naming_the_field_and_stores_nothing(api, alice, body, field):
    response = add(api, alice, **body)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Device.objects.exists() and not Operation.objects.filter(type="addDevice").exists()


def test_duplicates_are_409(api, portal, alice):
    bob = make_subscriber(portal, "Bob", phone="2345678902")
    assert add(api, alice, kind="stb", mac="00:1a:79:00:00:01").status_code == 201
    again = add(api, alice, kind="player", uid="00:1A:79:00:00:01")
    assert again.status_code == 409 and "uid" in again.json()["errors"]
    elsewhere = add(api, bob, kind="stb", mac="001a79000001")  # a box logs in by its MAC: one owner per portal
    assert elsewhere.status_code == 409 and "mac" in elsewhere.json()["errors"]
    assert add(api, bob, kind="player", uid="00:1a:79:00:00:01").status_code == 201  # a shared TV, not a box


def test_a_manager_cannot_add_beyond_the_limit(api, portal, alice):
    portals.update_portal(portal, caller=Caller(portal=portal), data={"settings": {"maxDevicesPerSubscriber": 1}})
    assert add(api, alice, kind="player", uid="one").status_code == 201
    response = add(api, alice, kind="player", uid="two")
    assert response.status_code == 409 and "subscriberId" in response.json()["errors"]


def test_another_portals_device_or_subscriber_is_404(api, stranger, portal, other_portal, alice):
    device = add(api, alice, kind="player", uid="tv").json()
    url = f"{API}/devices/{device['deviceId']}"
    assert stranger.get(url).status_code == 404
    assert stranger.put(url, {"name": "Mine"}, format="json").status_code == 404
    assert stranger.delete(url).status_code == 404
    assert stranger.get(f"{API}/devices").json()["devices"] == []
    response = stranger.post(f"{API}/devices", {"subscriberId": alice.public_id, "kind": "player", "uid": "x"},
                             format="json")
    assert response.status_code == 404
    assert Device.objects.count() == 1 and Device.objects.get().name == ""


def test_everyone_reads_subscriber_admins_write(clients, alice):
    device = add(clients["api_key"], alice, kind="player", uid="tv").json()
    url = f"{API}/devices/{device['deviceId']}"
    for persona in ("viewer", "content", "admin"):
        assert clients[persona].get(url).status_code == 200
        assert clients[persona].put(url, {"name": "X"}, format="json").status_code == 403
        assert clients[persona].delete(url).status_code == 403
        assert add(clients[persona], alice, kind="player", uid=persona).status_code == 403
    assert clients["subscribers"].put(url, {"name": "Ok"}, format="json").status_code == 200
    assert clients["subscribers"].delete(url).status_code == 201


def test_max_devices_in_the_subscriber_api(api, alice):
    url = f"{API}/subscribers/{alice.public_id}"
    assert api.get(url).json()["maxDevices"] is None
    response = api.put(url, {"maxDevices": 3}, format="json")
    assert response.status_code == 200 and response.json()["maxDevices"] == 3
    assert Operation.objects.get(type="updateSubscriber").payload == {"maxDevices": {"old": None, "new": 3}}
    for bad in (-1, 1001, "3", 2.5):
        refused = api.put(url, {"maxDevices": bad}, format="json")
        assert refused.status_code == 400 and list(refused.json()["errors"]) == ["maxDevices"], bad
    assert api.put(url, {"maxDevices": None}, format="json").json()["maxDevices"] is None


def test_deleting_a_subscriber_deletes_its_devices(api, alice):
    add(api, alice, kind="player", uid="tv")
    assert api.delete(f"{API}/subscribers/{alice.public_id}").status_code == 201
    assert not Device.objects.exists()


def test_normalised_mac_rules():
    assert devices.device_uid("AA-BB-CC-DD-EE-FF") == "aa:bb:cc:dd:ee:ff"
    assert devices.device_uid("aabbccddeeff") == "aa:bb:cc:dd:ee:ff"
    assert devices.device_uid("aa:bb:cc:dd:ee") == "aa:bb:cc:dd:ee"  # not a MAC: an identity as sent
    assert devices.device_uid("") is None
