"""My account over the API: ``/me``, the password change, TOTP enrolment, login with a code, ``require2fa``."""

from __future__ import annotations

import json

import pyotp
import pytest

from monitoring.operations import Operation
from portals import password_reset
from portals.models import Manager, ManagerSession, ManagerTotp, RecoveryCode
from tests.conftest import API, api_client
from tests.factories import PASSWORD, make_manager, make_portal, session_token
from tests.factories import totp_code as code

ME = f"{API}/me"
LOGIN = f"{API}/login"
NEW_PASSWORD = "Brand-New-Pass-42!"
MANAGER_KEYS = {"managerId", "portalId", "email", "name", "isAdmin", "isContentAdmin", "isSubscriberAdmin",
                "createdAt", "updatedAt", "lastLoginAt"}



def enrol(client) -> tuple[str, list[str]]:
    """Turn 2FA on for the client's manager (confirmed with the previous step's code, so that the current
    one is still unused); the secret and the recovery codes."""
    secret = client.post(f"{ME}/totp").json()["secret"]
    response = client.post(f"{ME}/totp/confirm", {"code": code(secret, -1)}, format="json")
    assert response.status_code == 200, response.json()
    return secret, response.json()["recoveryCodes"]


def login(email: str, password: str = PASSWORD, **extra):
    return api_client().post(LOGIN, {"email": email, "password": password, **extra}, format="json")


def account_operations(manager) -> list[dict]:
    return [op.payload for op in Operation.objects.filter(portal=manager.portal, type="updateManager").order_by("id")]


# --- GET /me --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["owner", "admin", "content", "subscribers", "viewer"])
def test_every_manager_reads_their_own_account(clients, managers, persona):
    response = clients[persona].get(ME)
    assert response.status_code == 200
    body = response.json()
    manager = managers[persona]
    assert set(body) == MANAGER_KEYS | {"totpEnabled"}
    assert body["managerId"] == manager.public_id
    assert body["email"] == manager.email
    assert body["totpEnabled"] is False
    # the same object as GET /managers/{id}, plus totpEnabled
    detail = clients["owner"].get(f"{API}/managers/{manager.public_id}").json()
    assert {key: body[key] for key in MANAGER_KEYS} == detail


def test_the_api_key_has_no_account(api, portal):
    for method, path in [("get", ME), ("post", f"{ME}/password"), ("post", f"{ME}/totp"),
                         ("post", f"{ME}/totp/confirm"), ("delete", f"{ME}/totp")]:
        response = getattr(api, method)(path, {}, format="json")
        assert response.status_code == 403, path
        assert response.json() == {"message": "The API key has no account: log in as a manager (POST /login) "
                                              "and use that session."}
    assert not ManagerTotp.objects.exists()


def test_me_needs_a_token(anonymous):
    assert anonymous.get(ME).status_code == 401


# --- POST /me/password ---------------------------------------------------------------------------------------


def test_changing_the_own_password_ends_the_other_sessions_and_keeps_this_one(managers):
    viewer = managers["viewer"]
    this, other = session_token(viewer), session_token(viewer)
    response = api_client(this).post(f"{ME}/password", {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
                                     format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["managerId"] == viewer.public_id
    assert api_client(this).get(ME).status_code == 200
    assert api_client(other).get(ME).status_code == 401
    assert login(viewer.email).status_code == 401
    assert login(viewer.email, NEW_PASSWORD).status_code == 200
    payload = account_operations(viewer)[-1]
    assert (payload["managerId"], payload["email"]) == (viewer.public_id, viewer.email)
    assert payload["changes"] == {"password": "changed"}
    assert NEW_PASSWORD not in json.dumps(payload) and PASSWORD not in json.dumps(payload)


def test_the_owner_changes_their_own_password(clients, portal):
    response = clients["owner"].post(f"{ME}/password", {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
                                     format="json")
    assert response.status_code == 200
    assert login(portal.owner.email, NEW_PASSWORD).status_code == 200


def test_a_wrong_current_password_changes_nothing(clients, managers):
    viewer = managers["viewer"]
    other = session_token(viewer)
    before = Manager.objects.get(pk=viewer.pk).password
    operations = Operation.objects.count()
    response = clients["viewer"].post(f"{ME}/password", {"currentPassword": "Not-The-Pass-1",
                                                         "newPassword": NEW_PASSWORD}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"currentPassword": ["The current password is not correct."]}
    assert Manager.objects.get(pk=viewer.pk).password == before
    assert api_client(other).get(ME).status_code == 200
    assert Operation.objects.count() == operations


def test_every_password_change_error_comes_at_once(clients, managers):
    response = clients["viewer"].post(f"{ME}/password", {"currentPassword": "wrong", "newPassword": "short"},
                                      format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors["currentPassword"] == ["The current password is not correct."]
    assert "Password must be at least 8 characters long." in errors["newPassword"]
    missing = clients["viewer"].post(f"{ME}/password", {}, format="json").json()["errors"]
    assert missing == {"currentPassword": ["This field is required."], "newPassword": ["This field is required."]}
    typed = clients["viewer"].post(f"{ME}/password", {"currentPassword": 5, "newPassword": None}, format="json")
    assert typed.json()["errors"] == {"currentPassword": ["Must be text."], "newPassword": ["This field is required."]}


def test_the_new_password_follows_the_policy_of_managers(clients, managers):
    response = clients["viewer"].post(f"{ME}/password", {"currentPassword": PASSWORD, "newPassword": "password1"},
                                      format="json")
    assert response.status_code == 400
    assert "Password must contain an upper-case letter." in response.json()["errors"]["newPassword"]
    assert login(managers["viewer"].email).status_code == 200


def test_guessing_the_current_password_is_throttled(clients, managers):
    for _ in range(10):
        assert clients["viewer"].post(f"{ME}/password", {"currentPassword": "Wrong-Guess-1",
                                                         "newPassword": NEW_PASSWORD}, format="json").status_code == 400
    response = clients["viewer"].post(f"{ME}/password", {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
                                      format="json")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert login(managers["viewer"].email).status_code == 200  # unchanged


# --- TOTP enrolment ----------------------------------------------------------------------------------------------


def test_starting_an_enrolment_gives_a_secret_and_leaves_2fa_off(clients, managers, portal):
    response = clients["viewer"].post(f"{ME}/totp")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"secret", "otpauthUrl"}
    assert body["otpauthUrl"].startswith("otpauth://totp/")
    assert f"secret={body['secret']}" in body["otpauthUrl"]
    assert pyotp.parse_uri(body["otpauthUrl"]).name == "viewer@example.com"
    assert clients["viewer"].get(ME).json()["totpEnabled"] is False
    assert login("viewer@example.com").status_code == 200  # no code needed yet
    assert account_operations(managers["viewer"]) == []  # nothing about the account changed


def test_a_wrong_confirmation_code_leaves_2fa_off(clients, managers):
    secret = clients["viewer"].post(f"{ME}/totp").json()["secret"]
    wrong = str((int(code(secret)) + 1) % 1_000_000).zfill(6)
    response = clients["viewer"].post(f"{ME}/totp/confirm", {"code": wrong}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"code": ["Invalid or already used code."]}
    assert clients["viewer"].get(ME).json()["totpEnabled"] is False
    assert not RecoveryCode.objects.exists()
    assert login("viewer@example.com").status_code == 200
    assert clients["viewer"].post(f"{ME}/totp/confirm", {}, format="json").json()["errors"] == {
        "code": ["This field is required."]}
    assert clients["viewer"].post(f"{ME}/totp/confirm", {"code": 123456}, format="json").json()["errors"] == {
        "code": ["Must be text."]}


def test_confirming_turns_2fa_on_with_ten_single_use_recovery_codes_stored_hashed(clients, managers):
    viewer = managers["viewer"]
    secret, codes = enrol(clients["viewer"])
    assert len(codes) == len(set(codes)) == 10
    assert clients["viewer"].get(ME).json()["totpEnabled"] is True
    stored = set(RecoveryCode.objects.filter(manager=viewer).values_list("code_hash", flat=True))
    assert len(stored) == 10 and not stored & set(codes)
    payload = account_operations(viewer)[-1]
    assert payload["changes"] == {"totp": "enabled"}
    assert secret not in json.dumps(payload) and codes[0] not in json.dumps(payload)


def test_enrolment_states_are_checked(clients):
    assert clients["viewer"].post(f"{ME}/totp/confirm", {"code": "123456"}, format="json").status_code == 409
    assert clients["viewer"].delete(f"{ME}/totp", {"code": "123456"}, format="json").status_code == 409
    enrol(clients["viewer"])
    response = clients["viewer"].post(f"{ME}/totp")
    assert response.status_code == 409
    assert "already on" in response.json()["message"]


# --- Login with 2FA ---------------------------------------------------------------------------------------------


def test_login_with_2fa_asks_for_the_code_and_accepts_it_once(clients):
    secret, _ = enrol(clients["viewer"])
    asked = login("viewer@example.com")
    assert asked.status_code == 401
    assert asked.json() == {"message": "Enter the code from your authenticator app (or a recovery code).",
                            "totpRequired": True}
    current = code(secret)
    accepted = login("viewer@example.com", totp=current)
    assert accepted.status_code == 200, accepted.json()
    assert api_client(accepted.json()["portals"][0]["sessionId"]).get(ME).json()["email"] == "viewer@example.com"
    reused = login("viewer@example.com", totp=current)
    assert reused.status_code == 401
    assert reused.json() == {"message": "Invalid or already used code.", "totpRequired": True}
    assert login("viewer@example.com", totp=code(secret, -1)).status_code == 401  # an earlier step: too late
    assert login("viewer@example.com", totp=code(secret, +1)).status_code == 200  # the next step: clock drift


def test_a_wrong_code_is_401_and_a_wrong_password_does_not_tell_that_2fa_is_on(clients):
    secret, _ = enrol(clients["viewer"])
    wrong = str((int(code(secret)) + 500_000) % 1_000_000).zfill(6)
    assert login("viewer@example.com", totp=wrong).json() == {"message": "Invalid or already used code.",
                                                              "totpRequired": True}
    bad_password = login("viewer@example.com", "Wrong-Pass-77", totp=code(secret))
    assert bad_password.status_code == 401
    assert bad_password.json() == {"message": "Invalid email or password."}


def test_a_recovery_code_logs_in_once(clients):
    _, codes = enrol(clients["viewer"])
    assert login("viewer@example.com", totp=codes[0].upper()).status_code == 200
    assert login("viewer@example.com", totp=codes[0]).status_code == 401
    assert login("viewer@example.com", totp=codes[1].replace("-", "")).status_code == 200


def test_wrong_codes_are_throttled_like_wrong_passwords(clients, settings):
    secret, _ = enrol(clients["viewer"])
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        assert login("viewer@example.com", totp="000000" if code(secret) != "000000" else "111111").status_code == 401
    refused = login("viewer@example.com", totp=code(secret))
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0


def test_a_code_opens_only_the_portals_whose_authenticator_made_it(db):
    first, second = make_portal("first", title="First TV"), make_portal("second", title="Second TV")
    third = make_portal("third", title="Third TV")
    in_first, in_second = make_manager(first, "alice@example.com"), make_manager(second, "alice@example.com")
    make_manager(third, "alice@example.com")
    first_secret, _ = enrol(api_client(session_token(in_first)))
    second_secret, _ = enrol(api_client(session_token(in_second)))
    assert login("alice@example.com").json()["totpRequired"] is True
    response = login("alice@example.com", totp=code(first_secret))
    assert response.status_code == 200
    # the first portal's authenticator made the code; the third portal has no 2FA; the second is left out
    assert [p["portalId"] for p in response.json()["portals"]] == [first.public_id, third.public_id]
    response = login("alice@example.com", totp=code(second_secret))
    assert [p["portalId"] for p in response.json()["portals"]] == [second.public_id, third.public_id]


# --- DELETE /me/totp ------------------------------------------------------------------------------------------------


def test_turning_2fa_off_needs_a_valid_code(clients, managers):
    secret, _ = enrol(clients["viewer"])
    response = clients["viewer"].delete(f"{ME}/totp", {"code": "abcde-fghij"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"code": ["Invalid or already used code."]}
    assert clients["viewer"].get(ME).json()["totpEnabled"] is True
    assert clients["viewer"].delete(f"{ME}/totp", {"code": code(secret)}, format="json").status_code == 201
    assert clients["viewer"].get(ME).json()["totpEnabled"] is False
    assert not RecoveryCode.objects.filter(manager=managers["viewer"]).exists()
    assert login("viewer@example.com").status_code == 200
    assert account_operations(managers["viewer"])[-1]["changes"] == {"totp": "disabled"}


def test_a_recovery_code_turns_2fa_off(clients):
    _, codes = enrol(clients["viewer"])
    assert clients["viewer"].delete(f"{ME}/totp", {"code": codes[3]}, format="json").status_code == 201
    assert clients["viewer"].get(ME).json()["totpEnabled"] is False


# --- require2fa --------------------------------------------------------------------------------------------------------


def test_only_the_owner_requires_2fa(clients, portal):
    refused = clients["admin"].put(f"{API}/portal", {"settings": {"require2fa": True}}, format="json")
    assert refused.status_code == 403
    assert refused.json()["message"] == "Only the portal owner can change require2fa."
    portal.refresh_from_db()
    assert portal.effective_settings["require2fa"] is False
    # an admin's round trip of the unchanged settings is fine
    unchanged = clients["admin"].put(f"{API}/portal", {"settings": {"require2fa": False}}, format="json")
    assert unchanged.status_code == 200
    assert clients["admin"].put(f"{API}/portal", {"settings": {"require2fa": "yes"}},
                                format="json").json()["errors"] == {"settings.require2fa": ["Must be true or false."]}
    response = clients["owner"].put(f"{API}/portal", {"settings": {"require2fa": True}}, format="json")
    assert response.status_code == 200
    assert response.json()["settings"]["require2fa"] is True
    operation = Operation.objects.filter(portal=portal, type="updatePortal").latest("id")
    assert operation.payload["settings"]["new"]["require2fa"] is True


def test_with_require2fa_the_api_login_needs_an_enrolled_authenticator(clients, portal):
    secret, _ = enrol(clients["admin"])
    assert clients["owner"].put(f"{API}/portal", {"settings": {"require2fa": True}}, format="json").status_code == 200
    refused = login("viewer@example.com")
    assert refused.status_code == 401
    assert refused.json() == {"message": "This portal requires two-factor authentication: log in to the screens "
                                         "and enrol an authenticator app under My account first."}
    assert login("admin@example.com", totp=code(secret)).status_code == 200
    off = clients["admin"].delete(f"{ME}/totp", {"code": code(secret, 1)}, format="json")
    assert off.status_code == 409
    assert clients["admin"].get(ME).json()["totpEnabled"] is True
    assert ManagerSession.objects.filter(manager__email="viewer@example.com").count() == 1  # the fixture's only


def test_a_password_reset_by_email_keeps_2fa_on(clients, managers):
    secret, _ = enrol(clients["viewer"])
    token = password_reset.tokens.make_token(Manager.objects.get(pk=managers["viewer"].pk))
    password_reset.reset_password(managers["viewer"].public_id, token, {"newPassword": NEW_PASSWORD, "newPasswordAgain": NEW_PASSWORD})
    assert login("viewer@example.com", NEW_PASSWORD).json()["totpRequired"] is True
    assert login("viewer@example.com", NEW_PASSWORD, totp=code(secret)).status_code == 200
