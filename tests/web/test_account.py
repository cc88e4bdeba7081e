"""My account on the screens: password, sessions, two-factor enrolment, the login's code step, require2fa."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.test import Client

from monitoring.operations import Actor, Operation
from portals import services
from portals.auth import Caller
from portals.models import Manager, ManagerSession, ManagerTotp, hash_token
from tests.conftest import API, api_client
from tests.factories import PASSWORD, session_token
from tests.factories import totp_code as code

from .conftest import logged_in_client, page

NEW_PASSWORD = "Brand-New-Pass-42!"



def enrol_on_screen(client) -> tuple[str, list[str]]:
    """Set up 2FA through the screens; the secret shown and the recovery codes."""
    assert client.post("/account/2fa/", {"action": "start"}).status_code == 302
    html = page(client.get("/account/2fa/"))
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', html).group(1)
    response = client.post("/account/2fa/", {"action": "confirm", "code": code(secret, -1)})
    assert response.status_code == 200
    codes = re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", page(response))
    assert len(codes) == 10
    return secret, codes


@pytest.mark.parametrize("persona", ["owner", "admin", "viewer"])
def test_every_manager_has_my_account_in_the_header(web, managers, persona):
    dashboard = page(web[persona].get("/"))
    assert 'href="/account/"' in dashboard
    response = web[persona].get("/account/")
    assert response.status_code == 200
    html = page(response)
    assert f'data-testid="account-email">{managers[persona].email}<' in html
    assert "Change password" in html and "Active sessions" in html and "Two-factor authentication" in html


def test_changing_the_password_on_the_screen_keeps_this_browser_and_ends_the_other_sessions(web, managers):
    viewer = managers["viewer"]
    api_token = session_token(viewer)
    response = web["viewer"].post("/account/password/", {"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert response.status_code == 302
    assert "Your password was changed" in page(web["viewer"].get("/account/"))
    assert api_client(api_token).get(f"{API}/me").status_code == 401
    assert Client().post("/login/", {"email": viewer.email, "password": PASSWORD}).status_code == 401
    logged_in_client(viewer, NEW_PASSWORD)


def test_a_wrong_current_password_on_the_screen_changes_nothing(web, managers):
    before = Manager.objects.get(pk=managers["owner"].pk).password
    response = web["owner"].post("/account/password/", {"current_password": "Wrong-One-1", "new_password": "short"})
    assert response.status_code == 400
    html = page(response)
    assert "The current password is not correct." in html
    assert "Password must be at least 8 characters long." in html
    assert Manager.objects.get(pk=managers["owner"].pk).password == before


def test_sessions_are_listed_and_can_be_ended(web, managers):
    viewer = managers["viewer"]
    services.login(viewer.email, PASSWORD, ip="198.51.100.7", user_agent="billing-script/1.0")
    api_session = ManagerSession.objects.get(manager=viewer, user_agent="billing-script/1.0")
    html = page(web["viewer"].get("/account/"))
    assert "198.51.100.7" in html and "billing-script/1.0" in html and "This browser" in html
    assert web["viewer"].post(f"/account/sessions/{api_session.pk}/end/").status_code == 302
    assert not ManagerSession.objects.filter(pk=api_session.pk).exists()
    # someone else's session is "not found" and stays
    other = ManagerSession.objects.get(token_hash=hash_token(session_token(managers["admin"])))
    assert web["viewer"].post(f"/account/sessions/{other.pk}/end/").status_code == 404
    assert ManagerSession.objects.filter(pk=other.pk).exists()


def test_ending_all_other_sessions_keeps_this_browser(web, managers):
    viewer = managers["viewer"]
    tokens = [session_token(viewer) for _ in range(2)]
    assert web["viewer"].post("/account/sessions/end-others/").status_code == 302
    assert [api_client(token).get(f"{API}/me").status_code for token in tokens] == [401, 401]
    assert web["viewer"].get("/account/").status_code == 200


def test_enrolling_shows_a_qr_code_drawn_on_the_server_and_recovery_codes_once(web, managers):
    client = web["content"]
    assert "Set up two-factor authentication" in page(client.get("/account/2fa/"))
    client.post("/account/2fa/", {"action": "start"})
    response = client.get("/account/2fa/")
    html = page(response)
    assert '<svg width="' in html and 'class="qr-code"' in html
    assert "<script" not in html.split('data-testid="totp-qr"')[1].split("</div>")[0]
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    wrong = client.post("/account/2fa/", {"action": "confirm", "code": "000000"})
    assert wrong.status_code == 400
    assert "Invalid or already used code." in page(wrong)
    assert not ManagerTotp.objects.get(manager=managers["content"]).enabled
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', html).group(1)
    response = client.post("/account/2fa/", {"action": "confirm", "code": code(secret, -1)})
    assert response.status_code == 200
    codes = re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", page(response))
    assert len(codes) == 10
    assert ManagerTotp.objects.get(manager=managers["content"]).enabled
    later = page(client.get("/account/2fa/")) + page(client.get("/account/"))
    assert not any(recovery in later for recovery in codes) and secret not in later  # shown once


def test_the_web_login_asks_for_the_code_on_a_second_step(web, managers):
    secret, _ = enrol_on_screen(web["viewer"])
    browser = Client()
    first = browser.post("/login/", {"email": "viewer@example.com", "password": PASSWORD, "next": "/channels/"})
    assert first.status_code == 302 and first["Location"] == "/login/code/"
    form = page(browser.get("/login/code/"))
    assert 'name="code"' in form and 'name="password"' not in form
    assert browser.get("/").status_code == 302  # not logged in yet
    wrong = browser.post("/login/code/", {"code": "abcde-fghij"})
    assert wrong.status_code == 401
    assert "Invalid or already used code." in page(wrong)
    right = browser.post("/login/code/", {"code": code(secret)})
    assert right.status_code == 302 and right["Location"] == "/channels/"
    assert browser.get("/").status_code == 200
    # the same code again, on another browser: refused
    again = Client()
    again.post("/login/", {"email": "viewer@example.com", "password": PASSWORD})
    assert again.post("/login/code/", {"code": code(secret)}).status_code == 401


def test_a_recovery_code_logs_in_on_the_screen(web):
    _, codes = enrol_on_screen(web["viewer"])
    browser = Client()
    browser.post("/login/", {"email": "viewer@example.com", "password": PASSWORD})
    assert browser.post("/login/code/", {"code": codes[5]}).status_code == 302
    assert browser.get("/").status_code == 200


def test_the_password_step_expires_after_five_minutes(web):
    secret, _ = enrol_on_screen(web["viewer"])
    browser = Client()
    with time_machine.travel(dt.datetime.now(dt.UTC), tick=True) as traveller:
        browser.post("/login/", {"email": "viewer@example.com", "password": PASSWORD})
        traveller.shift(dt.timedelta(minutes=6))
        response = browser.post("/login/code/", {"code": code(secret)})
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert "took too long" in page(browser.get("/login/"))
    assert browser.get("/login/code/").status_code == 302


def test_a_wrong_password_never_reaches_the_code_step(web):
    enrol_on_screen(web["viewer"])
    browser = Client()
    response = browser.post("/login/", {"email": "viewer@example.com", "password": "Wrong-Pass-77"})
    assert response.status_code == 401
    assert browser.get("/login/code/").status_code == 302


def test_turning_2fa_off_on_the_screen(web, managers):
    secret, _ = enrol_on_screen(web["viewer"])
    refused = web["viewer"].post("/account/2fa/", {"action": "disable", "code": "123"})
    assert refused.status_code == 400
    assert ManagerTotp.objects.filter(manager=managers["viewer"]).exists()
    response = web["viewer"].post("/account/2fa/", {"action": "disable", "code": code(secret)})
    assert response.status_code == 302
    assert not ManagerTotp.objects.filter(manager=managers["viewer"]).exists()
    logged_in_client(managers["viewer"])  # one step again


def test_require2fa_sends_a_manager_without_it_to_enrol_before_anything_else(portal, managers):
    services.update_portal(portal, caller=Caller(portal=portal), data={"settings": {"require2fa": True}})
    client = logged_in_client(managers["viewer"])  # the screens let them in…
    for path in ("/", "/channels/", "/managers/", "/account/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"] == "/account/2fa/", path
    assert "This portal requires two-factor authentication" in page(client.get("/account/2fa/"))
    enrol_on_screen(client)
    assert client.get("/").status_code == 200
    assert "cannot be turned off" in page(client.get("/account/2fa/"))


def test_only_the_owner_may_tick_require_2fa(web, portal):
    admin_form = page(web["admin"].get("/portal/settings/"))
    assert re.search(r'name="require_2fa"[^>]*disabled', admin_form)
    web["admin"].post("/portal/settings/", {"title": "Main TV", "require_2fa": "on"})
    portal.refresh_from_db()
    assert portal.effective_settings["require2fa"] is False
    assert not re.search(r'name="require_2fa"[^>]*disabled', page(web["owner"].get("/portal/settings/")))
    assert web["owner"].post("/portal/settings/", {"title": "Main TV", "require_2fa": "on"}).status_code == 302
    portal.refresh_from_db()
    assert portal.effective_settings["require2fa"] is True


def test_a_system_administrator_turns_off_the_2fa_of_a_manager_who_lost_everything(admin_client, web, managers):
    enrol_on_screen(web["viewer"])
    viewer = managers["viewer"]
    listing = admin_client.get("/admin/portals/manager/")
    assert listing.status_code == 200 and "2FA" in page(listing)
    response = admin_client.post("/admin/portals/manager/", {"action": "turn_off_two_factor",
                                                             "_selected_action": [viewer.pk]})
    assert response.status_code == 302
    assert not ManagerTotp.objects.filter(manager=viewer).exists()
    logged_in_client(viewer)  # password only again
    operation = Operation.objects.filter(portal=viewer.portal, type="updateManager").latest("id")
    assert operation.payload["changes"] == {"totp": "disabled"}
    assert operation.actor_type == Actor.system().type
