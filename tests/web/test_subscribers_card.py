"""Subscriber create/edit/delete and the card: packages, free packages, block, playback token, operations."""

from __future__ import annotations

import re

import pytest

from content.models import FreePackage
from monitoring.operations import Operation, OperationType
from portals.auth import Caller
from subscribers import services
from subscribers.models import Subscriber, Subscription
from tests.content.test_channels_api import make_channel, make_package
from tests.subscribers.test_subscribers_api import make_subscriber

from .conftest import page


@pytest.fixture
def alice(portal):
    return make_subscriber(portal, "Alice Smith", "1", "2025550143")


def card(client, subscriber) -> str:
    return page(client.get(f"/subscribers/{subscriber.public_id}/"))


def test_creating_a_subscriber_opens_their_card(web, portal):
    client = web["subscribers"]
    response = client.post("/subscribers/new/", {"name": "Bob", "phone_country_code": "44",
                                                 "phone": "7700900123"})
    bob = Subscriber.objects.get(portal=portal)
    assert response.status_code == 302 and response["Location"] == f"/subscribers/{bob.public_id}/"
    assert (bob.name, bob.full_phone) == ("Bob", "447700900123")
    html = card(client, bob)
    assert "Subscriber Bob saved." in html and "+44 7700900123" in html
    assert Operation.objects.get(type=OperationType.CREATE_SUBSCRIBER).actor_email == "subs@example.com"


def test_the_form_has_pattern_hints_for_typing(web):
    html = page(web["subscribers"].get("/subscribers/new/"))
    assert re.search(r'name="phone_country_code"[^>]*pattern="\[0-9\]\{1,4\}"', html)
    assert re.search(r'name="phone"[^>]*pattern="\[0-9\]\{4,15\}"', html)
    assert "data-live-validate" in html


def field_errors(html: str, name: str) -> list[str]:
    """The errors the page shows under the form field ``name`` (not its typing hint)."""
    start = html.index(f'name="{name}"')
    ends = [html.find(end, start) for end in ('<div class="form-field', "</form>")]
    block = html[start:min(end for end in ends if end >= 0)]
    errors = re.search(r'<ul class="field-errors">(.*?)</ul>', block, re.S)
    return re.findall(r"<li>(.*?)</li>", errors.group(1)) if errors else []


@pytest.mark.parametrize(("country_code", "phone", "field", "message"), [
    ("1", "+1 234", "phone", "Must be 4–15 digits, without &#x27;+&#x27;, spaces or dashes."),
    ("1", "123", "phone", "Must be 4–15 digits, without &#x27;+&#x27;, spaces or dashes."),
    ("+1", "2025550143", "phone_country_code", "Must be 1–4 digits, without &#x27;+&#x27; or spaces."),
    ("", "2025550143", "phone_country_code", "This field is required."),
])
def test_a_bad_phone_is_refused_on_its_field(web, portal, country_code, phone, field, message):
    response = web["subscribers"].post("/subscribers/new/", {"name": "Bob", "phone_country_code": country_code,
                                                             "phone": phone})
    assert response.status_code == 400
    assert field_errors(page(response), field) == [message]
    assert not Subscriber.objects.exists()


@pytest.mark.parametrize("name", ["x" * 201, "   ", "Bob\x00"])
def test_a_bad_name_and_a_bad_phone_are_both_shown_after_one_submission(web, portal, name):
    """The form has no rule of its own (not even against a NUL): the service reports every field at once."""
    response = web["subscribers"].post("/subscribers/new/", {"name": name, "phone_country_code": "+1",
                                                             "phone": "12"})
    assert response.status_code == 400
    html = page(response)
    assert field_errors(html, "name") == [{"   ": "This field is required.",
                                           "Bob\x00": "Null characters are not allowed."}.get(
        name, "Must be at most 200 characters.")]
    assert field_errors(html, "phone_country_code") == ["Must be 1–4 digits, without &#x27;+&#x27; or spaces."]
    assert field_errors(html, "phone") == ["Must be 4–15 digits, without &#x27;+&#x27;, spaces or dashes."]
    assert not Subscriber.objects.exists()
    assert not Operation.objects.filter(type=OperationType.CREATE_SUBSCRIBER).exists()


def test_editing_with_bad_values_shows_every_error_and_changes_nothing(web, portal, alice):
    response = web["subscribers"].post(f"/subscribers/{alice.public_id}/edit/", {
        "name": "", "phone_country_code": "1", "phone": "12-34"})
    assert response.status_code == 400
    html = page(response)
    assert field_errors(html, "name") == ["This field is required."]
    assert field_errors(html, "phone") == ["Must be 4–15 digits, without &#x27;+&#x27;, spaces or dashes."]
    alice.refresh_from_db()
    assert (alice.name, alice.full_phone) == ("Alice Smith", "12025550143")
    assert not Operation.objects.filter(type=OperationType.UPDATE_SUBSCRIBER).exists()


def test_a_phone_taken_in_the_portal_is_409(web, portal, alice):
    response = web["subscribers"].post("/subscribers/new/", {"name": "Copy", "phone_country_code": "1",
                                                             "phone": "2025550143"})
    assert response.status_code == 409
    assert field_errors(page(response), "phone") == ["A subscriber with phone +12025550143 already exists."]
    assert Subscriber.objects.count() == 1


def test_the_phone_fields_keep_no_surrounding_spaces(web, portal):
    response = web["subscribers"].post("/subscribers/new/", {"name": " Bob ", "phone_country_code": " 44 ",
                                                             "phone": " 7700900123 "})
    assert response.status_code == 302
    assert Subscriber.objects.values_list("name", "phone_country_code", "phone").get() == ("Bob", "44", "7700900123")


def test_editing_changes_name_and_phone(web, portal, alice):
    response = web["subscribers"].post(f"/subscribers/{alice.public_id}/edit/", {
        "name": "Alice Jones", "phone_country_code": "1", "phone": "2025550199"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert (alice.name, alice.full_phone) == ("Alice Jones", "12025550199")
    html = page(web["subscribers"].get(f"/subscribers/{alice.public_id}/edit/"))
    assert 'value="Alice Jones"' in html and 'value="2025550199"' in html


def test_deleting_a_subscriber(web, portal, alice):
    services.subscribe(alice, make_package(portal, "basic"), caller=Caller(portal=portal))
    client = web["subscribers"]
    assert "Their 1 subscription ends" in page(client.get(f"/subscribers/{alice.public_id}/delete/"))
    response = client.post(f"/subscribers/{alice.public_id}/delete/")
    assert response.status_code == 302 and response["Location"] == "/subscribers/"
    assert not Subscriber.objects.exists() and not Subscription.objects.exists()


def test_the_card_adds_and_removes_packages_and_lists_free_ones(web, portal, alice):
    channels = [make_channel(portal, f"ch{n}", f"Channel {n}") for n in range(3)]
    basic = make_package(portal, "basic", channels[:2])
    kids = make_package(portal, "kids", channels[2:])
    make_package(portal, "sport")
    FreePackage.objects.create(portal=portal, package=kids)
    client = web["subscribers"]
    html = card(client, alice)
    packages = html[html.index('data-testid="subscriber-packages"'):html.index("</ul>", html.index(
        'data-testid="subscriber-packages"'))]
    assert "kids" in packages and "Free for every subscriber" in packages and "Remove" not in packages
    options = re.search(r'<select id="add-package".*?</select>', html, re.S).group(0)
    assert ">basic<" in options and ">sport<" in options and ">kids<" not in options  # free: not offered
    assert 'data-testid="watchable">1<' in html
    # Add.
    response = client.post(f"/subscribers/{alice.public_id}/packages/add/", {"package": basic.public_id})
    assert response.status_code == 302 and response["Location"] == f"/subscribers/{alice.public_id}/#packages"
    assert Subscription.objects.filter(subscriber=alice, package=basic).exists()
    html = card(client, alice)
    assert "Package basic added." in html and 'data-testid="watchable">3<' in html
    assert f"/subscribers/{alice.public_id}/packages/{basic.public_id}/remove/" in html
    # Twice is the service's 409, shown as a message.
    client.post(f"/subscribers/{alice.public_id}/packages/add/", {"package": basic.public_id})
    assert "already has package" in card(client, alice)
    # Remove after a confirmation.
    confirm = page(client.get(f"/subscribers/{alice.public_id}/packages/{basic.public_id}/remove/"))
    assert "Remove the package basic from Alice Smith?" in confirm
    response = client.post(f"/subscribers/{alice.public_id}/packages/{basic.public_id}/remove/")
    assert response.status_code == 302 and not Subscription.objects.exists()
    # A free package cannot be removed from one subscriber: the service says so.
    client.post(f"/subscribers/{alice.public_id}/packages/{kids.public_id}/remove/")
    assert "is not subscribed to package &#x27;kids&#x27;" in card(client, alice)
    assert FreePackage.objects.filter(package=kids).exists()


def test_block_and_unblock(web, portal, alice):
    client = web["subscribers"]
    response = client.post(f"/subscribers/{alice.public_id}/block/", {"disabled": "1"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.disabled
    html = card(client, alice)
    assert "Unblock" in html and 'data-testid="status">Blocked<' in html and "blocked: they can watch nothing" in html
    client.post(f"/subscribers/{alice.public_id}/block/", {"disabled": "0"})
    alice.refresh_from_db()
    assert not alice.disabled
    types = list(Operation.objects.filter(subscriber_id=alice.id).values_list("type", flat=True))
    assert OperationType.DISABLE_SUBSCRIBER in types and OperationType.ENABLE_SUBSCRIBER in types


def test_the_token_is_masked_and_regenerated_after_a_confirmation(web, portal, alice):
    client = web["subscribers"]
    old = alice.playback_token
    html = card(client, alice)
    shown = re.search(r'data-testid="playback-token">([^<]+)<', html).group(1)
    assert old not in shown and shown.endswith(old[-4:])  # masked; the full value only in data-secret-value
    assert "Issue a new playback token for Alice Smith?" in page(client.get(
        f"/subscribers/{alice.public_id}/token/reset/"))
    response = client.post(f"/subscribers/{alice.public_id}/token/reset/")
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.playback_token != old
    html = card(client, alice)
    assert "A new playback token was issued." in html and alice.playback_token in html and old not in html


def test_the_card_shows_recent_operations_and_the_play_sessions_place(web, portal, alice):
    other = make_subscriber(portal, "Other", "1", "2025550100")
    services.set_disabled(other, True, caller=Caller(portal=portal))
    services.set_disabled(alice, True, caller=Caller(portal=portal))
    html = card(web["viewer"], alice)
    operations = html[html.index("Recent operations"):]
    assert "Disable Subscriber" in operations and "Create Subscriber" in operations
    assert other.public_id not in operations
    assert f"/operations/?subscriberId={alice.public_id}" in html
    assert "Play sessions appear here when the streaming server reports them" in html


def test_the_card_warns_about_suspected_token_sharing(web, portal):
    from django.utils import timezone

    from catena_site.access_events import token_digest
    from monitoring.models import TokenSharingSuspicion
    from tests.subscribers.test_subscribers_api import make_subscriber

    subscriber = make_subscriber(portal, "Sharer", phone="7777777")
    url = f"/subscribers/{subscriber.public_id}/"
    assert "Suspected token sharing" not in web["viewer"].get(url).content.decode()
    now = timezone.now()
    TokenSharingSuspicion.objects.create(portal=portal, subscriber=subscriber, ips=["192.0.2.1", "192.0.2.9"],
                                         token_digest=token_digest(subscriber.playback_token), detected_at=now,
                                         last_detected_at=now)
    page = web["viewer"].get(url).content.decode()
    assert "Suspected token sharing" in page and "192.0.2.9" in page
