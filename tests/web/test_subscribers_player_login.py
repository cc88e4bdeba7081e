"""The player login and password on the screens (players.md §2): the card shows them (the password like the
token), a confirmed reset, the form's login, and the list's search."""

from __future__ import annotations

import re

import pytest

from monitoring.operations import Operation, OperationType
from subscribers.models import Subscriber
from tests.subscribers.test_subscribers_api import make_subscriber

from .conftest import page, table
from .test_subscribers_card import field_errors

LOGIN_RULE = ("Must be 1–64 characters: letters A–Z or a–z, digits, &#x27;.&#x27;, &#x27;_&#x27;, &#x27;-&#x27; or "
              "&#x27;@&#x27;, without spaces.")


@pytest.fixture
def alice(portal):
    return make_subscriber(portal, "Alice Smith", "1", "2025550143")


def card(client, subscriber) -> str:
    return page(client.get(f"/subscribers/{subscriber.public_id}/"))


def shown_login(html: str) -> str:
    return re.search(r'data-testid="player-login">([^<]*)<', html).group(1)


@pytest.mark.parametrize("persona", ["admin", "content", "viewer"])
def test_every_manager_sees_the_login_but_only_subscriber_admins_the_password(persona, web, alice):
    html = card(web[persona], alice)
    assert shown_login(html) == "12025550143"
    assert alice.player_password not in html and "Player password" not in html
    assert f"/subscribers/{alice.public_id}/player-password/reset/" not in html


@pytest.mark.parametrize("persona", ["owner", "subscribers"])
def test_the_password_is_masked_and_reset_after_a_confirmation(persona, web, alice):
    client = web[persona]
    old = alice.player_password
    html = card(client, alice)
    shown = re.search(r'data-testid="player-password">([^<]+)<', html).group(1)
    assert old not in shown and set(shown) == {"•"}  # the value only in data-secret-value, for Reveal and Copy
    assert f'data-secret-value="{old}"' in html
    reset_url = f"/subscribers/{alice.public_id}/player-password/reset/"
    confirmation = page(client.get(reset_url))
    assert "Reset the player password of Alice Smith?" in confirmation and "stops working at once" in confirmation
    assert Subscriber.objects.get().player_password == old  # asking changes nothing
    response = client.post(reset_url)
    assert response.status_code == 302
    assert response["Location"] == f"/subscribers/{alice.public_id}/#player-password"
    new = Subscriber.objects.get().player_password
    assert new != old
    html = card(client, alice)
    assert "A new player password was set." in html and new in html and old not in html
    assert Operation.objects.filter(type=OperationType.RESET_PLAYER_PASSWORD).count() == 1


@pytest.mark.parametrize("persona", ["admin", "content", "viewer"])
def test_others_may_not_reset_a_password(persona, web, alice):
    url = f"/subscribers/{alice.public_id}/player-password/reset/"
    assert web[persona].get(url).status_code == 403
    assert web[persona].post(url).status_code == 403
    assert Subscriber.objects.get().player_password == alice.player_password
    assert not Operation.objects.filter(type=OperationType.RESET_PLAYER_PASSWORD).exists()


def test_another_portals_subscriber_is_not_found(web, other_portal):
    theirs = make_subscriber(other_portal, "Stranger", "1", "2025550143")
    url = f"/subscribers/{theirs.public_id}/player-password/reset/"
    assert web["owner"].get(url).status_code == 404 and web["owner"].post(url).status_code == 404
    assert Subscriber.objects.get().player_password == theirs.player_password


def test_a_subscriber_is_created_with_a_login_of_ones_choice(web, portal):
    response = web["subscribers"].post("/subscribers/new/", {
        "name": "Bob", "phone_country_code": "44", "phone": "7700900123", "login": "bob.jones"})
    assert response.status_code == 302
    bob = Subscriber.objects.get()
    assert bob.login == "bob.jones" and shown_login(card(web["subscribers"], bob)) == "bob.jones"
    web["subscribers"].post("/subscribers/new/", {"name": "Carol", "phone_country_code": "44",
                                                  "phone": "7700900124", "login": ""})
    assert Subscriber.objects.get(name="Carol").login == "447700900124"  # blank: the phone number


def test_a_bad_or_taken_login_is_refused_on_its_field(web, portal, alice):
    client = web["subscribers"]
    response = client.post("/subscribers/new/", {"name": "Bob", "phone_country_code": "44", "phone": "7700900123",
                                                 "login": "bob jones"})
    assert response.status_code == 400 and field_errors(page(response), "login") == [LOGIN_RULE]
    response = client.post("/subscribers/new/", {"name": "Bob", "phone_country_code": "44", "phone": "7700900123",
                                                 "login": "12025550143"})
    assert response.status_code == 409
    assert field_errors(page(response), "login") == ["A subscriber with login 12025550143 already exists."]
    assert Subscriber.objects.count() == 1


def test_the_edit_form_shows_a_phone_login_blank_and_it_follows_the_phone(web, portal, alice):
    client = web["subscribers"]
    edit = f"/subscribers/{alice.public_id}/edit/"
    html = page(client.get(edit))
    assert re.search(r'<input[^>]*name="login"(?![^>]*value=)[^>]*>', html)  # blank: it is the phone number
    response = client.post(edit, {"name": "Alice Smith", "phone_country_code": "1", "phone": "2025550199",
                                  "login": ""})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert (alice.full_phone, alice.login) == ("12025550199", "12025550199")
    payload = Operation.objects.get(type=OperationType.UPDATE_SUBSCRIBER).payload
    assert payload["login"] == {"old": "12025550143", "new": "12025550199"}


def test_a_chosen_login_is_edited_kept_and_cleared(web, portal, alice):
    client = web["subscribers"]
    edit = f"/subscribers/{alice.public_id}/edit/"
    values = {"name": "Alice Smith", "phone_country_code": "1", "phone": "2025550143"}
    assert client.post(edit, {**values, "login": "alice@flat-42"}).status_code == 302
    assert 'value="alice@flat-42"' in page(client.get(edit))
    assert client.post(edit, {**values, "phone": "2025550100", "login": "alice@flat-42"}).status_code == 302
    alice.refresh_from_db()
    assert (alice.full_phone, alice.login) == ("12025550100", "alice@flat-42")  # a chosen login stays
    assert client.post(edit, {**values, "login": ""}).status_code == 302  # cleared: the phone number again
    alice.refresh_from_db()
    assert alice.login == "12025550143"


def test_the_list_search_finds_a_login(web, portal, alice):
    bob = make_subscriber(portal, "Bob Jones", "44", "7700900123")
    web["subscribers"].post(f"/subscribers/{bob.public_id}/edit/", {
        "name": "Bob Jones", "phone_country_code": "44", "phone": "7700900123", "login": "Jonesy"})
    rows = table(web["viewer"].get("/subscribers/?search=jonesy"))
    assert "Bob Jones" in rows and "Alice Smith" not in rows
