"""Devices on the subscriber card, maxDevices on the subscriber form, the device settings of the portal."""

from __future__ import annotations

import pytest

from monitoring.operations import Operation
from portals.auth import Caller
from subscribers import devices
from subscribers.models import Device
from tests.subscribers.test_subscribers_api import make_subscriber

from .conftest import page


@pytest.fixture
def alice(portal):
    return make_subscriber(portal, "Alice Smith", "1", "2025550143")


def card_url(subscriber) -> str:
    return f"/subscribers/{subscriber.public_id}/"


def test_add_an_stb_by_mac_rename_and_remove_with_confirmation(web, alice):
    client = web["subscribers"]
    response = client.post(card_url(alice) + "devices/add/", {"mac": "00-1A-79-AB-CD-EF", "name": "Kitchen"})
    assert response.status_code == 302 and response["Location"] == card_url(alice) + "#devices"
    device = Device.objects.get()
    assert (device.kind, device.mac, device.name) == ("stb", "00:1a:79:ab:cd:ef", "Kitchen")
    assert Operation.objects.get(type="addDevice").actor_email == "subs@example.com"
    html = page(client.get(card_url(alice)))
    assert "Set-top box 00:1a:79:ab:cd:ef added." in html and 'value="Kitchen"' in html
    assert "1 device, no limit." in html

    rename = client.post(card_url(alice) + f"devices/{device.public_id}/rename/", {"name": "Bedroom"})
    assert rename.status_code == 302
    device.refresh_from_db()
    assert device.name == "Bedroom"

    remove = card_url(alice) + f"devices/{device.public_id}/remove/"
    confirm = page(client.get(remove))
    assert "Remove the device Bedroom of Alice Smith?" in confirm
    assert Device.objects.exists()  # nothing happens before the confirmation
    assert client.post(remove).status_code == 302
    assert not Device.objects.exists()
    assert Operation.objects.get(type="removeDevice").payload["mac"] == "00:1a:79:ab:cd:ef"


@pytest.mark.parametrize("mac", ["zz:zz:zz:zz:zz:zz", "00:1a:79:ab:cd"])
def test_a_bad_mac_shows_the_card_with_the_reason_under_the_field(web, alice, mac):
    response = web["subscribers"].post(card_url(alice) + "devices/add/", {"mac": mac, "name": ""})
    assert response.status_code == 400
    html = page(response)
    assert "six pairs of hex digits" in html and "Alice Smith" in html
    assert not Device.objects.exists()


def test_readers_see_devices_but_no_actions(web, portal, alice):
    device = devices.add_device(portal, caller=Caller(portal=portal),
                                data={"subscriberId": alice.public_id, "kind": "player", "uid": "kodi", "name": "Kodi"})
    html = page(web["viewer"].get(card_url(alice)))
    assert "Kodi" in html and "Add set-top box" not in html and "/remove/" not in html
    assert web["viewer"].post(card_url(alice) + f"devices/{device.public_id}/remove/").status_code == 403
    assert Device.objects.exists()


def test_another_subscribers_or_portals_device_is_a_404(web, stranger_web, portal, alice):
    bob = make_subscriber(portal, "Bob", "1", "2025550144")
    device = devices.add_device(portal, caller=Caller(portal=portal),
                                data={"subscriberId": bob.public_id, "kind": "player", "uid": "tv"})
    assert web["subscribers"].post(card_url(alice) + f"devices/{device.public_id}/remove/").status_code == 404
    assert stranger_web.post(card_url(bob) + f"devices/{device.public_id}/remove/").status_code == 404
    assert Device.objects.exists()


def test_max_devices_on_the_form_and_the_card(web, alice):
    client = web["subscribers"]
    form = {"name": "Alice Smith", "phone_country_code": "1", "phone": "2025550143"}
    assert client.post(card_url(alice) + "edit/", {**form, "max_devices": "2"}).status_code == 302
    alice.refresh_from_db()
    assert alice.max_devices == 2
    assert "0 devices of at most 2 (this subscriber's own limit)" in page(client.get(card_url(alice)))
    refused = client.post(card_url(alice) + "edit/", {**form, "max_devices": "-1"})
    assert refused.status_code == 400 and "from 0 to 1000" in page(refused)
    assert client.post(card_url(alice) + "edit/", {**form, "max_devices": ""}).status_code == 302
    alice.refresh_from_db()
    assert alice.max_devices is None


def test_device_settings_of_the_portal(web, portal):
    form = page(web["owner"].get("/portal/settings/"))
    assert 'name="max_devices_per_subscriber"' in form and 'name="device_limit_policy"' in form
    data = {"title": portal.title, "description": "", "logo_url": "", "stream_base_url": "", "guide_language": "",
            "allow_device_registration": "on", "max_devices_per_subscriber": "3",
            "device_limit_policy": "replace_oldest"}
    response = web["owner"].post("/portal/settings/", data)
    assert response.status_code == 302, page(response)[:2000]
    portal.refresh_from_db()
    settings = portal.effective_settings
    assert (settings["allowDeviceRegistration"], settings["allowDeviceUnregister"],
            settings["maxDevicesPerSubscriber"], settings["deviceLimitPolicy"]) == (True, False, 3, "replace_oldest")
    refused = web["owner"].post("/portal/settings/", {**data, "max_devices_per_subscriber": "0"})
    assert refused.status_code == 400
