"""The Django admin of system administrators: create a portal, change its owner, set a manager's password."""

from __future__ import annotations

import pytest
from django.urls import reverse

from monitoring.operations import Operation, OperationType
from portals.models import Manager, ManagerSession, Portal
from tests.factories import PASSWORD, make_manager, make_portal, session_token

pytestmark = pytest.mark.django_db


def test_portal_list_shows_name_domain_title_and_owner(admin_client, portal):
    response = admin_client.get(reverse("admin:portals_portal_changelist"))
    assert response.status_code == 200
    body = response.content.decode()
    for text in (portal.name, portal.domain, portal.title, portal.owner.email):
        assert text in body


def test_create_portal_through_the_add_form(admin_client):
    url = reverse("admin:portals_portal_add")
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {
        "name": "admin-made", "domain": "admin-made.example.com", "title": "Admin Made",
        "owner_email": "Boss@Example.com", "owner_password": "Strong-Pass-77",
    })
    assert response.status_code == 302, response.content.decode()
    portal = Portal.objects.get(name="admin-made")
    assert portal.domain == "admin-made.example.com"
    assert portal.title == "Admin Made"
    assert portal.owner.email == "boss@example.com"
    assert portal.owner.check_password("Strong-Pass-77")
    assert portal.api_key


def test_add_form_refuses_a_weak_owner_password(admin_client):
    response = admin_client.post(reverse("admin:portals_portal_add"), {
        "name": "weak", "domain": "weak.example.com", "title": "", "owner_email": "o@example.com",
        "owner_password": "password",
    })
    assert response.status_code == 200
    assert "owner_password" in response.context["adminform"].form.errors
    assert not Portal.objects.filter(name="weak").exists()


def test_add_form_refuses_a_duplicate_name(admin_client, portal):
    response = admin_client.post(reverse("admin:portals_portal_add"), {
        "name": portal.name, "domain": "another.example.com", "title": "", "owner_email": "o@example.com",
        "owner_password": "Strong-Pass-77",
    })
    assert response.status_code == 200
    assert "name" in response.context["adminform"].form.errors
    assert Portal.objects.filter(name=portal.name).count() == 1


def test_change_the_owner_to_another_manager_of_the_portal(admin_client, portal):
    new_owner = make_manager(portal, "next-owner@example.com")
    url = reverse("admin:portals_portal_change", args=[portal.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    assert "next-owner@example.com" in page.content.decode()

    response = admin_client.post(url, {"owner": new_owner.pk})
    assert response.status_code == 302, response.content.decode()
    portal.refresh_from_db()
    assert portal.owner_id == new_owner.pk
    op = Operation.objects.filter(portal=portal, type=OperationType.UPDATE_PORTAL).latest("id")
    assert op.actor_type == "system"
    assert op.payload["ownerId"]["new"] == new_owner.public_id


def test_refuses_an_owner_from_another_portal(admin_client, portal, other_portal):
    previous_owner = portal.owner_id
    response = admin_client.post(reverse("admin:portals_portal_change", args=[portal.pk]),
                                 {"owner": other_portal.owner_id})
    assert response.status_code == 200
    assert "owner" in response.context["adminform"].form.errors
    portal.refresh_from_db()
    assert portal.owner_id == previous_owner


def test_owner_choices_are_only_the_portals_managers(admin_client, portal, other_portal):
    form = admin_client.get(reverse("admin:portals_portal_change", args=[portal.pk])).context["adminform"].form
    choices = set(form.fields["owner"].queryset.values_list("pk", flat=True))
    assert choices == set(Manager.objects.filter(portal=portal).values_list("pk", flat=True))
    assert other_portal.owner_id not in choices


def test_manager_pages_are_read_only(admin_client, portal):
    owner = portal.owner
    assert admin_client.get(reverse("admin:portals_manager_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:portals_manager_add")).status_code == 403
    page = admin_client.get(reverse("admin:portals_manager_change", args=[owner.pk]))
    assert page.status_code == 200
    assert reverse("admin:portals_manager_password", args=[owner.pk]) in page.content.decode()


def test_set_a_manager_password_applies_the_policy_and_ends_sessions(admin_client, portal):
    manager = make_manager(portal, "reset-me@example.com")
    session_token(manager)
    url = reverse("admin:portals_manager_password", args=[manager.pk])
    assert admin_client.get(url).status_code == 200

    weak = admin_client.post(url, {"password1": "short", "password2": "short"})
    assert weak.status_code == 200
    assert "at least 8 characters" in weak.content.decode()
    manager.refresh_from_db()
    assert manager.check_password(PASSWORD)

    differ = admin_client.post(url, {"password1": "New-Secret-42", "password2": "New-Secret-43"})
    assert differ.status_code == 200
    manager.refresh_from_db()
    assert manager.check_password(PASSWORD)

    done = admin_client.post(url, {"password1": "New-Secret-42", "password2": "New-Secret-42"})
    assert done.status_code == 302
    manager.refresh_from_db()
    assert manager.check_password("New-Secret-42")
    assert not ManagerSession.objects.filter(manager=manager).exists()
    op = Operation.objects.filter(portal=portal, type=OperationType.UPDATE_MANAGER).latest("id")
    assert op.payload["passwordChanged"] is True


def test_admin_needs_a_staff_login(client, portal):
    response = client.get(reverse("admin:portals_portal_changelist"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_owner_password_can_be_set_too(admin_client):
    portal = make_portal("locked-out")
    url = reverse("admin:portals_manager_password", args=[portal.owner_id])
    assert admin_client.post(url, {"password1": "Back-In-2024!", "password2": "Back-In-2024!"}).status_code == 302
    portal.owner.refresh_from_db()
    assert portal.owner.check_password("Back-In-2024!")


def test_admin_login_is_throttled_per_account_and_address(client, settings):
    """M4: /admin/ login had no limit; now the eleventh wrong password from one address is 429."""
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser("root", "root@example.com", "Root-Horse-Battery-9")
    url = reverse("admin:login")
    for _ in range(10):
        response = client.post(url, {"username": "root", "password": "Wrong-Horse-9"}, REMOTE_ADDR="192.0.2.9")
        assert response.status_code == 200 and "_auth_user_id" not in client.session
    blocked = client.post(url, {"username": "root", "password": "Wrong-Horse-9"}, REMOTE_ADDR="192.0.2.9")
    assert blocked.status_code == 429 and 1 <= int(blocked["Retry-After"]) <= settings.LOGIN_FAILURE_WINDOW
    right_but_blocked = client.post(url, {"username": "root", "password": "Root-Horse-Battery-9"},
                                    REMOTE_ADDR="192.0.2.9")
    assert right_but_blocked.status_code == 429 and "_auth_user_id" not in client.session
    elsewhere = client.post(url, {"username": "root", "password": "Root-Horse-Battery-9"}, REMOTE_ADDR="192.0.2.10")
    assert elsewhere.status_code == 302 and "_auth_user_id" in client.session


def test_createsuperuser_style_validation_refuses_a_guessable_password(db):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    user = get_user_model()(username="kzorbaflux", email="kzorbaflux@example.com")
    with pytest.raises(ValidationError) as refused:
        validate_password("Kzorbaflux-2!", user)
    assert any("too easy to guess" in message for message in refused.value.messages)
    validate_password("Root-Horse-Battery-9", user)
