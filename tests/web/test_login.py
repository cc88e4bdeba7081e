"""Logging in and out of the screens, the portal chooser, and the login-required redirect."""

from __future__ import annotations

import pytest
from django.test import Client

from portals.models import ManagerSession
from portals.web_auth import SESSION_KEY
from tests.factories import PASSWORD, make_manager, make_portal

from .conftest import logged_in_client, page


@pytest.mark.django_db
def test_login_page_has_email_password_and_csrf():
    response = Client().get("/login/")
    assert response.status_code == 200
    html = page(response)
    assert 'name="email"' in html and 'name="password"' in html and "csrfmiddlewaretoken" in html


def test_login_with_one_portal_opens_the_dashboard_of_that_portal(portal, managers):
    client = Client()
    response = client.post("/login/", {"email": "admin@example.com", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    html = page(client.get("/"))
    assert "Main TV" in html and "admin@example.com" in html
    assert managers["admin"].sessions.count() == 1


def test_login_accepts_the_email_in_any_case(portal, managers):
    response = Client().post("/login/", {"email": "  Admin@Example.COM", "password": PASSWORD})
    assert response.status_code == 302


def test_login_goes_back_to_the_page_asked_for(portal, managers):
    client = Client()
    response = client.post("/login/?next=/managers/", {"email": "viewer@example.com", "password": PASSWORD,
                                                       "next": "/managers/"})
    assert response["Location"] == "/managers/"


def test_login_never_redirects_to_another_site(portal, managers):
    response = Client().post("/login/", {"email": "viewer@example.com", "password": PASSWORD,
                                         "next": "https://evil.example.net/"})
    assert response["Location"] == "/"


@pytest.mark.parametrize("email, password", [("admin@example.com", "Wrong-Horse-9"),
                                             ("nobody@example.com", PASSWORD)])
def test_a_failed_login_shows_one_generic_message(email, password, portal, managers):
    client = Client()
    response = client.post("/login/", {"email": email, "password": password})
    assert response.status_code == 401
    assert "Invalid email or password." in page(response)
    assert SESSION_KEY not in client.session
    assert client.get("/").status_code == 302


def test_too_many_failed_logins_say_to_try_again_later(portal, managers, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    client = Client()
    for _ in range(2):
        client.post("/login/", {"email": "admin@example.com", "password": "Wrong-Horse-9"})
    response = client.post("/login/", {"email": "admin@example.com", "password": PASSWORD})
    assert response.status_code == 429
    assert "try again later" in page(response)
    assert int(response["Retry-After"]) >= 1
    assert SESSION_KEY not in client.session


def test_an_email_in_two_portals_chooses_a_portal_and_ends_the_other_session(db):
    first = make_portal("first-portal", title="First TV", owner_email="shared@example.com")
    second = make_portal("second-portal", title="Second TV", owner_email="shared@example.com")
    client = Client()
    response = client.post("/login/", {"email": "shared@example.com", "password": PASSWORD})
    assert response["Location"] == "/login/portal/"
    assert client.get("/").status_code == 302  # not logged in until a portal is chosen

    chooser = page(client.get("/login/portal/"))
    assert "First TV" in chooser and "Second TV" in chooser

    response = client.post("/login/portal/", {"portal": second.public_id})
    assert response.status_code == 302 and response["Location"] == "/"
    assert "Second TV" in page(client.get("/"))
    assert ManagerSession.objects.filter(manager=second.owner).count() == 1
    assert ManagerSession.objects.filter(manager=first.owner).count() == 0
    assert client.get("/login/portal/").status_code == 302  # the choice is made


def test_the_portal_chooser_offers_only_the_portals_of_the_login(db):
    make_portal("first-portal", owner_email="shared@example.com")
    make_portal("second-portal", owner_email="shared@example.com")
    elsewhere = make_portal("third-portal")
    client = Client()
    client.post("/login/", {"email": "shared@example.com", "password": PASSWORD})
    response = client.post("/login/portal/", {"portal": elsewhere.public_id})
    assert response.status_code == 400
    assert client.get("/").status_code == 302


def test_the_portal_chooser_without_a_login_goes_to_login(db):
    assert Client().get("/login/portal/")["Location"] == "/login/"


def test_a_password_valid_in_one_portal_only_logs_into_that_portal(db):
    first = make_portal("first-portal", title="First TV", owner_email="shared@example.com")
    second = make_portal("second-portal", title="Second TV")
    make_manager(second, "shared@example.com", password="Other-Horse-77")
    client = Client()
    response = client.post("/login/", {"email": "shared@example.com", "password": PASSWORD})
    assert response["Location"] == "/"
    assert "First TV" in page(client.get("/"))
    assert first.owner.sessions.count() == 1


def test_logout_ends_the_manager_session(portal, managers):
    client = logged_in_client(managers["viewer"])
    assert managers["viewer"].sessions.count() == 1
    response = client.post("/logout/")
    assert response["Location"] == "/login/"
    assert "You have been logged out." in page(client.get("/login/"))
    assert managers["viewer"].sessions.count() == 0
    assert client.get("/").status_code == 302


def test_logout_needs_a_post(portal, managers):
    client = logged_in_client(managers["viewer"])
    assert client.get("/logout/").status_code == 405
    assert client.get("/").status_code == 200


def test_a_logout_form_with_csrf_is_on_every_screen(web):
    html = page(web["viewer"].get("/"))
    assert 'action="/logout/"' in html and "csrfmiddlewaretoken" in html


def test_forms_refuse_a_post_without_csrf_token(portal, managers):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/login/", {"email": "admin@example.com", "password": PASSWORD})
    assert response.status_code == 403


def test_ending_the_manager_session_elsewhere_logs_the_browser_out(web, managers):
    client = web["viewer"]
    ManagerSession.objects.filter(manager=managers["viewer"]).delete()
    response = client.get("/managers/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_the_login_page_of_a_logged_in_manager_goes_to_the_dashboard(web):
    assert web["viewer"].get("/login/")["Location"] == "/"


def _web_login(email: str, password: str, ip: str):
    return Client(REMOTE_ADDR=ip).post("/login/", {"email": email, "password": password})


def test_a_stranger_failing_with_made_up_emails_does_not_lock_the_owner_out_of_the_screens(portal, managers):
    for attempt in range(12):
        assert _web_login(f"made-up-{attempt}@example.com", "Wrong-Horse-9", "192.0.2.7").status_code == 401
    response = _web_login("admin@example.com", PASSWORD, "192.0.2.7")
    assert response.status_code == 302 and response["Location"] == "/"


def test_the_screens_refuse_only_the_pair_then_the_spraying_address(portal, managers, settings):
    for _ in range(10):
        assert _web_login("admin@example.com", "Wrong-Horse-9", "192.0.2.8").status_code == 401
    refused = _web_login("admin@example.com", PASSWORD, "192.0.2.8")
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert _web_login("admin@example.com", PASSWORD, "192.0.2.9").status_code == 302  # another address
    assert _web_login("viewer@example.com", PASSWORD, "192.0.2.8").status_code == 302  # another account
    settings.LOGIN_FAILURES_PER_IP = 13  # 11 so far: the 10 failures and the refused try
    for attempt in range(2):
        assert _web_login(f"made-up-{attempt}@example.com", "Wrong-Horse-9", "192.0.2.8").status_code == 401
    sprayed = _web_login("viewer@example.com", PASSWORD, "192.0.2.8")
    assert sprayed.status_code == 429 and int(sprayed["Retry-After"]) >= 1


def test_a_login_without_email_or_password_names_both(portal, managers):
    response = Client().post("/login/", {"email": "", "password": ""})
    assert response.status_code == 400
    assert page(response).count("This field is required.") == 2
