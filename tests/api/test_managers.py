import pytest

from monitoring.operations import Operation
from portals.models import Manager, ManagerSession
from tests.conftest import API, api_client
from tests.factories import PASSWORD, make_manager, session_token

MANAGER_KEYS = {"managerId", "portalId", "email", "name", "isAdmin", "isContentAdmin", "isSubscriberAdmin",
                "createdAt", "updatedAt", "lastLoginAt"}
NEW = {"email": "New.Person@Example.com", "name": "New Person", "password": "Str0ng-Passw0rd!",
       "isAdmin": False, "isContentAdmin": True, "isSubscriberAdmin": False}


def test_list_managers_shows_documented_fields_and_never_passwords(api, managers, portal):
    response = api.get(f"{API}/managers")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"managers", "next"}
    assert [m["email"] for m in body["managers"]] == [
        portal.owner.email, "admin@example.com", "content@example.com", "subs@example.com", "viewer@example.com"]
    for item in body["managers"]:
        assert set(item) == MANAGER_KEYS
        assert item["portalId"] == portal.public_id
    assert "password" not in response.content.decode().lower()


@pytest.mark.parametrize("persona", ["content", "subscribers", "viewer"])
def test_every_manager_may_read_managers(clients, managers, persona):
    assert clients[persona].get(f"{API}/managers").status_code == 200
    target = managers["admin"].public_id
    assert clients[persona].get(f"{API}/managers/{target}").json()["email"] == "admin@example.com"


def test_create_manager_stores_a_lowercase_email_and_a_slow_hash(clients, portal):
    response = clients["admin"].post(f"{API}/managers", NEW, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == MANAGER_KEYS
    assert body["email"] == "new.person@example.com"
    assert (body["isAdmin"], body["isContentAdmin"], body["isSubscriberAdmin"]) == (False, True, False)
    stored = Manager.objects.get(portal=portal, email="new.person@example.com")
    assert stored.password.startswith("argon2") and NEW["password"] not in stored.password
    operation = Operation.objects.filter(portal=portal, type="createManager").latest("id")
    assert operation.payload["managerId"] == body["managerId"]
    assert operation.payload["email"] == "new.person@example.com"
    assert NEW["password"] not in str(operation.payload)


def test_the_same_email_may_exist_in_another_portal(api, stranger, portal, other_portal):
    assert api.post(f"{API}/managers", NEW, format="json").status_code == 201
    other = {**NEW, "password": "An0ther-Passw0rd!"}
    assert stranger.post(f"{API}/managers", other, format="json").status_code == 201
    mine = Manager.objects.get(portal=portal, email="new.person@example.com")
    theirs = Manager.objects.get(portal=other_portal, email="new.person@example.com")
    assert mine.pk != theirs.pk  # one account per portal, each with its own password
    assert mine.check_password(NEW["password"]) and not mine.check_password(other["password"])
    assert theirs.check_password(other["password"]) and not theirs.check_password(NEW["password"])


def test_duplicate_email_in_a_portal_is_409(api, managers, portal):
    response = api.post(f"{API}/managers", {**NEW, "email": "ADMIN@example.com"}, format="json")
    assert response.status_code == 409
    assert Manager.objects.filter(portal=portal).count() == 5


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"email": "not-an-email"}, "email", "valid email"),
        ({"password": "short"}, "password", "at least 8 characters"),
        ({"password": "alllowercase1!"}, "password", "upper-case"),
        ({"password": "NoDigitsHere!"}, "password", "digit"),
        ({"password": "NoSpecial123"}, "password", "special"),
        ({"password": "P@ssw0rd"}, "password", "too common"),
        ({"password": "Passw0rd!"}, "password", "too easy to guess"),
        ({"password": "Qwerty123!"}, "password", "too easy to guess"),
        ({"password": "Welcome1!"}, "password", "too easy to guess"),
        ({"email": "kzorbaflux@example.com", "password": "Kzorbaflux-2!"}, "password", "too easy to guess"),
        ({"password": None}, "password", "required"),
        ({"isAdmin": "yes"}, "isAdmin", "true or false"),
    ],
)
def test_invalid_manager_is_400_naming_the_rule(api, portal, changes, field, reason):
    response = api.post(f"{API}/managers", {**NEW, **changes}, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert field in errors
    assert any(reason in message for message in errors[field]), errors
    assert Manager.objects.filter(portal=portal).count() == 1
    assert Operation.objects.filter(portal=portal).count() == 0


def test_managers_of_another_portal_are_404(stranger, managers):
    target = managers["viewer"].public_id
    assert stranger.get(f"{API}/managers/{target}").status_code == 404
    assert stranger.put(f"{API}/managers/{target}", {"name": "X"}, format="json").status_code == 404
    assert stranger.delete(f"{API}/managers/{target}").status_code == 404
    assert Manager.objects.filter(pk=managers["viewer"].pk, name="Viewer").exists()
    assert [m["email"] for m in stranger.get(f"{API}/managers").json()["managers"]] == [
        m.email for m in Manager.objects.exclude(portal=managers["viewer"].portal)]


def test_a_malformed_id_in_the_path_is_404(api):
    assert api.get(f"{API}/managers/not-an-id").status_code == 404
    assert api.get(f"{API}/managers/aKl9SW3AAAE.").status_code == 404


def test_update_manager_changes_fields_and_logs_old_and_new(clients, managers, portal):
    target = managers["viewer"]
    response = clients["admin"].put(
        f"{API}/managers/{target.public_id}",
        {"email": "viewer@example.com", "name": "Analyst", "isSubscriberAdmin": True},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["name"] == "Analyst" and response.json()["isSubscriberAdmin"] is True
    operation = Operation.objects.get(portal=portal, type="updateManager")
    assert operation.payload["changes"] == {"name": {"old": "Viewer", "new": "Analyst"},
                                            "isSubscriberAdmin": {"old": False, "new": True}}


def test_absent_password_keeps_the_old_one(api, managers):
    target = managers["viewer"]
    api.put(f"{API}/managers/{target.public_id}", {"name": "Still"}, format="json")
    target.refresh_from_db()
    assert target.check_password(PASSWORD)


def test_password_change_ends_that_managers_sessions(clients, managers):
    target = managers["viewer"]
    viewer = clients["viewer"]
    assert viewer.get(f"{API}/portal").status_code == 200
    response = clients["admin"].put(f"{API}/managers/{target.public_id}", {"password": "N3w-Secret-Pass"},
                                    format="json")
    assert response.status_code == 200
    assert viewer.get(f"{API}/portal").status_code == 401
    target.refresh_from_db()
    assert target.check_password("N3w-Secret-Pass")
    assert "N3w-Secret-Pass" not in str(Operation.objects.get(type="updateManager").payload)


def test_nobody_changes_their_own_flags(clients, managers):
    me = managers["admin"]
    response = clients["admin"].put(f"{API}/managers/{me.public_id}", {"isContentAdmin": True}, format="json")
    assert response.status_code == 403
    me.refresh_from_db()
    assert me.is_content_admin is False
    # Sending one's own flags unchanged, with another change, is fine.
    ok = clients["admin"].put(f"{API}/managers/{me.public_id}", {"isAdmin": True, "name": "Me"}, format="json")
    assert ok.status_code == 200


def test_the_owner_cannot_be_changed_or_deleted(clients, portal):
    owner_id = portal.owner.public_id
    assert clients["admin"].put(f"{API}/managers/{owner_id}", {"name": "X"}, format="json").status_code == 403
    assert clients["api_key"].delete(f"{API}/managers/{owner_id}").status_code == 403
    assert Manager.objects.filter(pk=portal.owner_id).exists()


def test_email_change_to_a_taken_one_is_409(api, managers):
    target = managers["viewer"]
    response = api.put(f"{API}/managers/{target.public_id}", {"email": "content@example.com"}, format="json")
    assert response.status_code == 409
    target.refresh_from_db()
    assert target.email == "viewer@example.com"


def test_delete_manager_answers_201_and_ends_its_sessions(clients, managers, portal):
    target = managers["viewer"]
    response = clients["admin"].delete(f"{API}/managers/{target.public_id}")
    assert response.status_code == 201
    assert response.json() == {"deleted": target.public_id}
    assert not Manager.objects.filter(pk=target.pk).exists()
    assert not ManagerSession.objects.filter(manager_id=target.pk).exists()
    assert clients["viewer"].get(f"{API}/portal").status_code == 401
    operation = Operation.objects.get(portal=portal, type="deleteManager")
    assert operation.payload == {"managerId": target.public_id, "email": "viewer@example.com",
                                 "managerEmail": "admin@example.com"}
    assert api_client(portal.api_key).get(f"{API}/operations/{operation.public_id}").status_code == 200


def test_without_an_owner_the_last_admin_keeps_the_flag(portal, managers):
    Manager.objects.filter(pk=portal.owner_id).update(is_admin=False)  # the former owner is no admin
    portal.owner = None
    portal.save()
    admin = managers["admin"]
    second = make_manager(portal, "second@example.com", is_admin=True)
    client = api_client(session_token(second))
    assert client.put(f"{API}/managers/{admin.public_id}", {"isAdmin": False}, format="json").status_code == 200
    last = api_client(session_token(admin))  # admin lost the flag: it can no longer manage managers
    assert last.delete(f"{API}/managers/{second.public_id}").status_code == 403
    key = api_client(portal.api_key)
    assert key.put(f"{API}/managers/{second.public_id}", {"isAdmin": False}, format="json").status_code == 409
    assert key.delete(f"{API}/managers/{second.public_id}").status_code == 409
    second.refresh_from_db()
    assert second.is_admin


def test_paths_work_with_and_without_trailing_slash(api, managers):
    target = managers["viewer"].public_id
    assert api.get(f"{API}/managers/").status_code == 200
    assert api.get(f"{API}/managers/{target}/").status_code == 200
    assert api.get(f"{API}/managers/{target}").status_code == 200


def test_a_password_built_from_a_managers_own_email_is_refused_on_change_too(api, managers):
    target = managers["viewer"]
    response = api.put(f"{API}/managers/{target.public_id}", {"email": "kzorbaflux@example.com",
                                                                 "password": "Kzorbaflux-2!"}, format="json")
    assert response.status_code == 400
    assert any("too easy to guess" in reason for reason in response.json()["errors"]["password"])
    target.refresh_from_db()
    assert target.email == "viewer@example.com" and target.check_password(PASSWORD)


# --- Every rule in one answer, in plain words ------------------------------------------------------------------


def test_every_broken_rule_of_a_new_manager_comes_back_in_one_answer(api, portal):
    response = api.post(f"{API}/managers", {"email": "not-an-email", "name": 5, "password": "short",
                                            "isAdmin": "yes", "isContentAdmin": 1, "isSubscriberAdmin": None},
                        format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors == {
        "email": ["Enter a valid email address."],
        "name": ["Must be text."],
        "password": ["Password must be at least 8 characters long.", "Password must contain an upper-case letter.",
                     "Password must contain a digit.", "Password must contain a special character."],
        "isAdmin": ["Must be true or false."],
        "isContentAdmin": ["Must be true or false."],
        "isSubscriberAdmin": ["This field is required."],
    }
    assert response.json()["message"].startswith("Invalid manager: email: Enter a valid email address.; name: ")
    assert Manager.objects.filter(portal=portal).count() == 1
    assert not Operation.objects.filter(portal=portal).exists()


def test_an_empty_manager_names_email_and_password_never_null(api, portal):
    response = api.post(f"{API}/managers", {"email": None, "password": None}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"email": ["This field is required."], "password": ["This field is required."]}
    assert "null" not in response.content.decode().lower()
    assert api.post(f"{API}/managers", {}, format="json").json()["errors"] == {
        "email": ["This field is required."], "password": ["This field is required."]}


def test_a_taken_email_is_409_in_plain_words(api, managers, portal):
    response = api.post(f"{API}/managers", {**NEW, "email": "ADMIN@example.com"}, format="json")
    assert response.status_code == 409
    message = "A manager with email admin@example.com already exists in this portal."
    assert response.json() == {"message": message, "errors": {"email": [message]}}
    target = managers["viewer"]
    response = api.put(f"{API}/managers/{target.public_id}", {"email": "Content@Example.com"}, format="json")
    assert response.status_code == 409
    assert response.json()["message"] == "A manager with email content@example.com already exists in this portal."


def test_a_taken_email_is_listed_with_the_other_errors_so_one_answer_names_all(api, managers, portal):
    response = api.post(f"{API}/managers", {**NEW, "email": "admin@example.com", "password": "short1!A",
                                            "isAdmin": "no"}, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors["email"] == ["A manager with email admin@example.com already exists in this portal."]
    assert errors["isAdmin"] == ["Must be true or false."]
    assert errors["password"]
    assert Manager.objects.filter(portal=portal).count() == 5


def test_keeping_ones_own_email_is_not_a_conflict(api, managers):
    target = managers["viewer"]
    response = api.put(f"{API}/managers/{target.public_id}", {"email": "VIEWER@example.com", "isAdmin": "x"},
                       format="json")
    assert response.json()["errors"] == {"isAdmin": ["Must be true or false."]}


def test_every_broken_rule_of_a_change_comes_back_in_one_answer(api, managers):
    target = managers["viewer"]
    response = api.put(f"{API}/managers/{target.public_id}",
                       {"email": "", "name": "x" * 201, "password": "", "isSubscriberAdmin": "true"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "email": ["This field is required."], "name": ["Must be at most 200 characters."],
        "password": ["This field is required."], "isSubscriberAdmin": ["Must be true or false."]}
    target.refresh_from_db()
    assert (target.email, target.name, target.is_subscriber_admin) == ("viewer@example.com", "Viewer", False)
    assert target.check_password(PASSWORD)


def test_a_change_without_any_field_changes_nothing(api, managers):
    target = managers["viewer"]
    response = api.put(f"{API}/managers/{target.public_id}", {}, format="json")
    assert response.status_code == 200
    assert response.json()["email"] == "viewer@example.com"
    assert not Operation.objects.filter(type="updateManager").exists()


def test_a_null_name_is_an_empty_name(api, portal):
    response = api.post(f"{API}/managers", {**NEW, "name": None}, format="json")
    assert response.status_code == 201
    assert response.json()["name"] == ""


# --- Permission names -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("persona", "method", "path", "sentence"), [
    ("content", "post", "/managers", "This action requires the Admin permission (isAdmin)."),
    ("viewer", "put", "/portal", "This action requires the Admin permission (isAdmin)."),
    ("subscribers", "post", "/channels", "This action requires the Content admin permission (isContentAdmin)."),
    ("content", "post", "/subscribers",
     "This action requires the Subscriber admin permission (isSubscriberAdmin)."),
])
def test_a_403_names_the_permission_as_the_screens_do_and_its_flag(clients, persona, method, path, sentence):
    response = getattr(clients[persona], method)(f"{API}{path}", {}, format="json")
    assert response.status_code == 403
    assert response.json() == {"message": sentence}
