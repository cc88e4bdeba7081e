"""Player login and password (players.md §2): the subscriber JSON, ``reset_player_password``, the operations and
``subscriber_for_player``, the lookup the Xtream Codes API logs players in with."""

from __future__ import annotations

import pytest
from django.db import transaction

from catena_site.errors import Forbidden, Invalid
from monitoring.operations import Operation
from portals.auth import Caller
from subscribers import services
from subscribers.access import subscriber_for_player
from subscribers.models import PLAYER_PASSWORD_ALPHABET, Subscriber
from tests.conftest import API
from tests.factories import make_manager
from tests.subscribers.test_subscribers_api import ALICE, make_subscriber

LOGIN_RULE = ("Must be 1–64 characters: letters A–Z or a–z, digits, '.', '_', '-' or '@', without spaces.")
PASSWORD_RULE = "Must be 6–32 characters: letters A–Z or a–z, digits, '.', '_', '~', '!', '@', '*' or '-', without spaces."


def url(subscriber) -> str:
    return f"{API}/subscribers/{subscriber.public_id}"


# --- The subscriber JSON and its login ------------------------------------------------------------------------


def test_a_new_subscriber_logs_in_with_its_full_phone_and_a_generated_password(api, portal):
    body = api.post(f"{API}/subscribers", ALICE, format="json").json()
    assert body["login"] == "12345678901"
    password = body["playerPassword"]
    assert len(password) == 10 and set(password) <= set(PLAYER_PASSWORD_ALPHABET)
    assert not {"0", "O", "1", "l", "I"} & set(PLAYER_PASSWORD_ALPHABET)
    assert Subscriber.objects.get().player_password == password
    operation = Operation.objects.get(type="createSubscriber")
    assert operation.payload == {"name": "Alice", "phone": "+12345678901"}  # the default login is not repeated
    other = api.post(f"{API}/subscribers", {**ALICE, "phone": "2345678902"}, format="json").json()
    assert other["playerPassword"] != password


def test_a_login_given_on_create_is_stored_and_recorded(api, portal):
    response = api.post(f"{API}/subscribers", {**ALICE, "login": "alice.smith@flat-42"}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["login"] == "alice.smith@flat-42"
    assert Subscriber.objects.get().login == "alice.smith@flat-42"
    assert Operation.objects.get(type="createSubscriber").payload == {
        "name": "Alice", "phone": "+12345678901", "login": "alice.smith@flat-42"}
    response = api.post(f"{API}/subscribers", {**ALICE, "phone": "2345678902", "login": None}, format="json")
    assert response.status_code == 201 and response.json()["login"] == "12345678902"  # null: the phone


@pytest.mark.parametrize("login", ["", "alice smith", " alice", "alice\n", "ålice", "a/b", "a:b", "x" * 65, 42,
                                   True, ["alice"]])
def test_a_login_breaking_the_rule_is_400_naming_login(api, portal, login):
    response = api.post(f"{API}/subscribers", {**ALICE, "login": login}, format="json")
    assert response.status_code == 400, response.json()
    assert list(response.json()["errors"]) == ["login"]
    assert not Subscriber.objects.exists() and not Operation.objects.exists()


def test_the_login_rule_is_said_in_plain_words(api, portal):
    response = api.post(f"{API}/subscribers", {**ALICE, "login": "alice smith"}, format="json")
    assert response.json() == {"message": f"Invalid subscriber: login: {LOGIN_RULE}",
                               "errors": {"login": [LOGIN_RULE]}}
    assert api.post(f"{API}/subscribers", {**ALICE, "login": "A" * 64}, format="json").status_code == 201


def test_a_taken_login_is_409_naming_login(api, portal):
    bob = make_subscriber(portal, "Bob", "44", "7700900123")
    response = api.post(f"{API}/subscribers", {**ALICE, "login": bob.login}, format="json")
    assert response.status_code == 409
    message = "A subscriber with login 447700900123 already exists."
    assert response.json() == {"message": message, "errors": {"login": [message]}}
    assert Subscriber.objects.count() == 1 and Operation.objects.filter(type="createSubscriber").count() == 1


def test_logins_differ_by_letter_case(api, portal):
    assert api.post(f"{API}/subscribers", {**ALICE, "login": "alice"}, format="json").status_code == 201
    response = api.post(f"{API}/subscribers", {**ALICE, "phone": "2345678902", "login": "Alice"}, format="json")
    assert response.status_code == 201


def test_a_default_login_taken_by_another_subscribers_chosen_login_is_409_naming_login(api, portal):
    bob = make_subscriber(portal, "Bob", "44", "7700900123")
    assert api.put(url(bob), {"login": "12345678901"}, format="json").status_code == 200
    response = api.post(f"{API}/subscribers", ALICE, format="json")  # +1 2345678901: its login would be taken
    assert response.status_code == 409
    assert response.json()["errors"] == {"login": ["A subscriber with login 12345678901 already exists."]}
    created = api.post(f"{API}/subscribers", {**ALICE, "login": "alice"}, format="json")  # the way out
    assert created.status_code == 201 and created.json()["phone"] == "2345678901"


def test_a_login_and_other_portals_are_independent(api, portal, other_portal):
    make_subscriber(other_portal, "Elsewhere", "1", "2345678901")
    services.update_subscriber(Subscriber.objects.get(), caller=Caller(portal=other_portal), data={"login": "alice"})
    assert api.post(f"{API}/subscribers", {**ALICE, "login": "alice"}, format="json").status_code == 201


def test_changing_the_login_records_old_and_new(api, portal):
    alice = make_subscriber(portal)
    response = api.put(url(alice), {"login": "alice@home"}, format="json")
    assert response.status_code == 200 and response.json()["login"] == "alice@home"
    assert Operation.objects.get(type="updateSubscriber").payload == {
        "login": {"old": "12345678901", "new": "alice@home"}}
    response = api.put(url(alice), {"login": None}, format="json")  # back to the phone number
    assert response.status_code == 200 and response.json()["login"] == "12345678901"
    assert api.put(url(alice), {"login": "12345678901"}, format="json").status_code == 200  # unchanged
    assert Operation.objects.filter(type="updateSubscriber").count() == 2
    assert alice.player_password not in str(list(Operation.objects.values_list("payload", flat=True)))


def test_changing_to_a_taken_login_is_409_and_changes_nothing(api, portal):
    make_subscriber(portal, "Bob", "44", "7700900123")
    alice = make_subscriber(portal)
    response = api.put(url(alice), {"name": "Alice B", "login": "447700900123"}, format="json")
    assert response.status_code == 409 and list(response.json()["errors"]) == ["login"]
    alice.refresh_from_db()
    assert (alice.name, alice.login) == ("Alice", "12345678901")
    assert not Operation.objects.filter(type="updateSubscriber").exists()
    assert api.put(url(alice), {"login": "bad login"}, format="json").json()["errors"] == {"login": [LOGIN_RULE]}


def test_a_login_that_is_the_phone_number_follows_a_new_number(api, portal):
    alice = make_subscriber(portal)
    response = api.put(url(alice), {"phoneCountryCode": "44", "phone": "7700900123"}, format="json")
    assert response.json()["login"] == "447700900123"
    assert Operation.objects.get(type="updateSubscriber").payload["login"] == {
        "old": "12345678901", "new": "447700900123"}


def test_a_chosen_login_stays_when_the_phone_changes(api, portal):
    alice = make_subscriber(portal)
    api.put(url(alice), {"login": "alice"}, format="json")
    response = api.put(url(alice), {"phone": "2345678902"}, format="json")
    assert (response.json()["phone"], response.json()["login"]) == ("2345678902", "alice")
    # A login sent with the new number wins over following it.
    bob = make_subscriber(portal, "Bob", "44", "7700900123")
    response = api.put(url(bob), {"phone": "7700900124", "login": "bob"}, format="json")
    assert response.json()["login"] == "bob"


def test_a_new_number_whose_digits_are_another_subscribers_login_is_409_naming_login(api, portal):
    bob = make_subscriber(portal, "Bob", "44", "7700900123")
    api.put(url(bob), {"login": "12345678902"}, format="json")
    alice = make_subscriber(portal)
    response = api.put(url(alice), {"phone": "2345678902"}, format="json")
    assert response.status_code == 409 and list(response.json()["errors"]) == ["login"]
    alice.refresh_from_db()
    assert (alice.phone, alice.login) == ("2345678901", "12345678901")


def test_the_player_password_is_shown_only_to_those_who_see_tokens(clients, portal):
    subscriber = make_subscriber(portal)
    for persona in ("api_key", "owner", "subscribers"):
        body = clients[persona].get(url(subscriber)).json()
        assert (body["login"], body["playerPassword"]) == ("12345678901", subscriber.player_password), persona
    for persona in ("admin", "content", "viewer"):
        body = clients[persona].get(url(subscriber)).json()
        assert (body["login"], body["playerPassword"]) == ("12345678901", None), persona
        listed = clients[persona].get(f"{API}/subscribers").json()["subscribers"]
        assert [s["playerPassword"] for s in listed] == [None]
        assert subscriber.player_password not in clients[persona].get(f"{API}/subscribers").content.decode()


def test_the_list_search_finds_a_login(api, portal):
    alice = make_subscriber(portal)
    make_subscriber(portal, "Bob", "44", "7700900123")
    api.put(url(alice), {"login": "Flat42.Smith"}, format="json")
    found = api.get(f"{API}/subscribers?search=flat42").json()["subscribers"]
    assert [s["name"] for s in found] == ["Alice"]


# --- Resetting the password -----------------------------------------------------------------------------------


def test_reset_player_password_answers_the_subscriber_with_a_new_password(api, portal):
    subscriber = make_subscriber(portal)
    old = subscriber.player_password
    response = api.post(f"{url(subscriber)}/reset_player_password")
    assert response.status_code == 200
    body = response.json()
    assert body["subscriberId"] == subscriber.public_id and body["playback_token"] == subscriber.playback_token
    new = body["playerPassword"]
    assert new != old and len(new) == 10 and Subscriber.objects.get().player_password == new
    operation = Operation.objects.get(type="resetPlayerPassword")
    assert operation.subscriber_id == subscriber.id and operation.actor_type == "apiKey"
    assert operation.payload == {"playerPassword": {"old": "<hidden>", "new": "<hidden>"}, "generated": True}
    assert old not in str(operation.payload) and new not in str(operation.payload)


def test_reset_player_password_may_set_a_chosen_password(api, portal):
    subscriber = make_subscriber(portal)
    response = api.post(f"{url(subscriber)}/reset_player_password", {"playerPassword": "Kodi-2027!"}, format="json")
    assert response.status_code == 200 and response.json()["playerPassword"] == "Kodi-2027!"
    assert Operation.objects.get(type="resetPlayerPassword").payload["generated"] is False
    again = api.post(f"{url(subscriber)}/reset_player_password", {"playerPassword": "Kodi-2027!"}, format="json")
    assert again.status_code == 200  # the same password again changes and records nothing
    assert Operation.objects.filter(type="resetPlayerPassword").count() == 1


@pytest.mark.parametrize("password", ["short", "x" * 33, "with space", "pässwörd", "tab\there", "", 123456,
                                      # players send it unescaped in URL paths and query strings
                                      "pass/word", "pass?word", "pass#word", "pass%2Fword", "pass&word", "pass+word"])
def test_a_chosen_password_breaking_the_rule_is_400_and_changes_nothing(api, portal, password):
    subscriber = make_subscriber(portal)
    response = api.post(f"{url(subscriber)}/reset_player_password", {"playerPassword": password}, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["playerPassword"]
    assert Subscriber.objects.get().player_password == subscriber.player_password
    assert not Operation.objects.filter(type="resetPlayerPassword").exists()


def test_the_password_rule_is_said_in_plain_words(api, portal):
    subscriber = make_subscriber(portal)
    response = api.post(f"{url(subscriber)}/reset_player_password", {"playerPassword": "a b c d"}, format="json")
    assert response.json()["errors"] == {"playerPassword": [PASSWORD_RULE]}


def test_only_those_who_manage_subscribers_reset_a_password(clients, portal):
    subscriber = make_subscriber(portal)
    for persona in ("admin", "content", "viewer"):
        response = clients[persona].post(f"{url(subscriber)}/reset_player_password")
        assert response.status_code == 403, persona
        assert "isSubscriberAdmin" in response.json()["message"]
    assert Subscriber.objects.get().player_password == subscriber.player_password
    assert clients["subscribers"].post(f"{url(subscriber)}/reset_player_password").status_code == 200
    assert Operation.objects.get(type="resetPlayerPassword").actor_email == "subs@example.com"


def test_another_portals_subscriber_is_404(stranger, portal):
    subscriber = make_subscriber(portal)
    assert stranger.post(f"{url(subscriber)}/reset_player_password").status_code == 404
    assert stranger.put(url(subscriber), {"login": "mine"}, format="json").status_code == 404
    subscriber.refresh_from_db()
    assert subscriber.login == "12345678901" and not Operation.objects.filter(type="resetPlayerPassword").exists()


def test_the_service_checks_a_given_password_and_the_permission(portal):
    subscriber = make_subscriber(portal)
    with pytest.raises(Invalid) as refused:
        services.reset_player_password(subscriber, caller=Caller(portal=portal), password="12345")
    assert refused.value.errors == {"playerPassword": [PASSWORD_RULE]}
    viewer = make_manager(portal, "viewer@example.com")
    with pytest.raises(Forbidden):
        services.reset_player_password(subscriber, caller=Caller(portal=portal, manager=viewer))
    changed = services.reset_player_password(subscriber, caller=Caller(portal=portal), password="~!Tv_42*")
    assert changed.player_password == "~!Tv_42*" == Subscriber.objects.get().player_password


# --- Logging a player in ---------------------------------------------------------------------------------------


def test_a_player_logs_in_with_login_and_password_of_its_portal(portal, other_portal):
    alice = make_subscriber(portal)
    assert subscriber_for_player(portal, "12345678901", alice.player_password) == alice
    assert subscriber_for_player(portal.id, "12345678901", alice.player_password) == alice
    assert subscriber_for_player(portal, "12345678901", alice.player_password.upper() + "x") is None
    assert subscriber_for_player(portal, "12345678901", "") is None
    assert subscriber_for_player(portal, "unknown", alice.player_password) is None
    assert subscriber_for_player(other_portal, "12345678901", alice.player_password) is None


@pytest.mark.parametrize(("login", "password"), [
    ("", ""), (None, None), ("12345678901", None), ("1234\x005678901", "x"), ("12345678901", "pässwörd\udcff"),
    ("x" * 500, "y" * 500), (["12345678901"], b"bytes"),
])
def test_malformed_credentials_are_refused_without_an_error(portal, login, password):
    make_subscriber(portal)
    assert subscriber_for_player(portal, login, password) is None


def test_a_blocked_subscriber_is_still_found_for_the_access_rule_to_refuse(portal):
    alice = make_subscriber(portal)
    services.set_disabled(alice, True, caller=Caller(portal=portal))
    found = subscriber_for_player(portal, alice.login, alice.player_password)
    assert found == alice and found.disabled


def test_a_reset_or_a_login_change_takes_effect_on_the_next_login(portal):
    alice = make_subscriber(portal)
    old = alice.player_password
    caller = Caller(portal=portal)
    with transaction.atomic():
        services.reset_player_password(alice, caller=caller)
    new = Subscriber.objects.get().player_password
    assert subscriber_for_player(portal, "12345678901", old) is None
    assert subscriber_for_player(portal, "12345678901", new) == alice
    services.update_subscriber(alice, caller=caller, data={"login": "alice"})
    assert subscriber_for_player(portal, "12345678901", new) is None
    assert subscriber_for_player(portal, "alice", new) == alice


def test_a_reset_drops_the_cached_facts_of_the_subscribers_token_after_commit(portal,
                                                                              django_capture_on_commit_callbacks):
    from catena_site.access_events import cache, token_stamp_key

    alice = make_subscriber(portal)
    key = token_stamp_key(alice.playback_token)
    cache().set(key, "stamp")
    with django_capture_on_commit_callbacks(execute=True):
        services.reset_player_password(alice, caller=Caller(portal=portal))
        assert cache().get(key) == "stamp"  # not before the change is committed
    assert cache().get(key) is None
