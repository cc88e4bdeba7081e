"""The client API's devices and the STB login by MAC (lifecycle.md §2)."""

from __future__ import annotations

import pytest

from monitoring.operations import Operation
from portals import services as portals
from portals.auth import Caller
from subscribers import devices
from subscribers import services as subscribers
from subscribers.models import AppSession, Device
from tests.subscribers.test_subscribers_api import make_subscriber

from .conftest import CLIENT, last_code

MAC = "00:1a:79:12:34:56"


@pytest.fixture
def alice(portal):
    return make_subscriber(portal)


def add_stb(portal, subscriber, mac=MAC):
    return devices.add_device(portal, caller=Caller(portal=portal),
                              data={"subscriberId": subscriber.public_id, "kind": "stb", "mac": mac})


def login(app, mac, **extra):
    return app.post(f"{CLIENT}/auth/device", {"mac": mac, **extra}, format="json", REMOTE_ADDR="198.51.100.7")


def test_a_registered_box_logs_in_with_the_same_answer_as_sms_verify(app, portal, alice):
    add_stb(portal, alice)
    response = login(app, "00-1A-79-12-34-56")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == {"token", "subscriberId", "playback_token", "expiresAt"}
    assert (body["subscriberId"], body["playback_token"]) == (alice.public_id, alice.playback_token)
    me = app.get(f"{CLIENT}/me", HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert me.status_code == 200 and me.json()["subscriberId"] == alice.public_id


def test_unknown_disabled_and_non_stb_are_the_same_401(app, portal, alice):
    bob = make_subscriber(portal, "Bob", phone="2345678902")
    add_stb(portal, alice)
    devices.add_device(portal, caller=Caller(portal=portal),
                       data={"subscriberId": bob.public_id, "kind": "player", "uid": "p", "mac": "00:1a:79:00:00:09"})
    subscribers.set_disabled(alice, True, caller=Caller(portal=portal))
    answers = [login(app, mac) for mac in (MAC, "00:1a:79:99:99:99", "00:1a:79:00:00:09")]
    assert {r.status_code for r in answers} == {401}
    assert len({r.content for r in answers}) == 1
    assert not AppSession.objects.exists()


def test_a_box_of_another_portal_is_unknown(app, portal, other_portal):
    stranger = make_subscriber(other_portal, "Stranger")
    add_stb(other_portal, stranger)
    assert login(app, MAC).status_code == 401


@pytest.mark.parametrize("mac", ["zz:zz:zz:zz:zz:zz", "00:1a:79:12:34", "", None, 5])
def test_a_malformed_mac_is_a_400_naming_it(app, portal, mac):
    response = login(app, mac)
    assert response.status_code == 400 and list(response.json()["errors"]) == ["mac"]


def test_failed_logins_are_throttled_per_address_and_successes_do_not_count(app, portal, alice):
    add_stb(portal, alice)
    for _ in range(25):
        assert login(app, MAC).status_code == 200  # boxes behind one address are not slowed down
    for _ in range(20):
        assert login(app, "00:1a:79:00:00:00").status_code == 401
    refused = login(app, MAC)
    assert refused.status_code == 429 and refused["Retry-After"]
    other_address = app.post(f"{CLIENT}/auth/device", {"mac": MAC}, format="json", REMOTE_ADDR="198.51.100.8")
    assert other_address.status_code == 200


def bearer(app, portal, subscriber):
    add_stb(portal, subscriber, "00:1a:79:00:00:aa")
    token = login(app, "00:1a:79:00:00:aa").json()["token"]
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_a_subscriber_lists_and_removes_their_own_devices(app, portal, alice):
    headers = bearer(app, portal, alice)
    devices.see_device(alice.id, "phone-1", "app")
    listed = app.get(f"{CLIENT}/devices", **headers).json()["devices"]
    assert [(d["kind"], d["uid"]) for d in listed] == [("stb", "00:1a:79:00:00:aa"), ("app", "phone-1")]
    phone = listed[1]["deviceId"]
    response = app.delete(f"{CLIENT}/devices/{phone}", **headers)
    assert (response.status_code, response.json()) == (201, {"deleted": phone})
    assert list(Device.objects.values_list("uid", flat=True)) == ["00:1a:79:00:00:aa"]
    assert Operation.objects.filter(type="removeDevice").get().actor_type == "subscriber"


def test_another_subscribers_device_is_404_and_unregister_can_be_off(app, portal, alice):
    bob = make_subscriber(portal, "Bob", phone="2345678902")
    devices.see_device(bob.id, "bobs-tv", "player")
    headers = bearer(app, portal, alice)
    bobs = Device.objects.get(uid="bobs-tv").public_id
    assert app.delete(f"{CLIENT}/devices/{bobs}", **headers).status_code == 404
    portals.update_portal(portal, caller=Caller(portal=portal), data={"settings": {"allowDeviceUnregister": False}})
    own = Device.objects.get(subscriber=alice).public_id
    assert app.delete(f"{CLIENT}/devices/{own}", **headers).status_code == 403
    assert Device.objects.count() == 2


def test_sms_login_with_a_device_id_registers_the_app_or_refuses_when_full(app, portal, alice, sms_file,
                                                                          time_machine,
                                                                          django_capture_on_commit_callbacks):
    portals.update_portal(portal, caller=Caller(portal=portal), data={"settings": {"maxDevicesPerSubscriber": 1}})
    number = {"phoneCountryCode": "1", "phone": "2345678901"}
    time_machine.move_to("2026-03-01T12:00:00Z", tick=False)

    def verify(device_id):
        with django_capture_on_commit_callbacks(execute=True):  # the SMS goes out after commit
            assert app.post(f"{CLIENT}/auth/sms/request", number, format="json").status_code == 200
        return app.post(f"{CLIENT}/auth/sms/verify", {**number, "code": last_code(sms_file), "deviceId": device_id},
                        format="json")

    assert verify("phone-1").status_code == 200
    assert Device.objects.get().kind == "app"
    time_machine.move_to("2026-03-01T12:01:30Z", tick=False)  # past the pause between two codes
    refused = verify("tablet-2")
    assert refused.status_code == 403 and "devices" in refused.json()["message"]
    assert AppSession.objects.count() == 1 and Device.objects.count() == 1
    time_machine.move_to("2026-03-01T12:03:00Z", tick=False)
    assert verify("phone-1").status_code == 200  # the known one logs in again
