"""The managers screens: list, search, create, edit, delete, and the service's refusals."""

from __future__ import annotations

import re

from django.test import Client

from monitoring.operations import Operation, OperationType
from portals.models import Manager, Portal
from tests.factories import PASSWORD, make_manager

from .conftest import logged_in_client, page, table

NEW_PASSWORD = "Fresh-Pass-42!"


def row_of(html: str, email: str) -> str:
    """The table row of the manager with this email."""
    return next(row for row in re.findall(r"<tr>.*?</tr>", html, re.S) if email in row)


def test_the_list_shows_each_managers_permissions_and_last_login(web, managers, portal):
    html = page(web["viewer"].get("/managers/"))
    assert "Owner" in row_of(html, portal.owner.email)
    assert ">Admin<" in row_of(html, "admin@example.com")
    assert ">Content admin<" in row_of(html, "content@example.com")
    assert ">Subscriber admin<" in row_of(html, "subs@example.com")
    assert "Read-only" in row_of(html, "viewer@example.com")
    assert "Never" in row_of(html, "subs@example.com")
    assert "Never" not in row_of(html, "viewer@example.com")  # logged in to get this page


def test_the_owner_row_has_no_edit_or_delete(web, portal, managers):
    row = row_of(page(web["owner"].get("/managers/")), portal.owner.email)
    assert "/edit/" not in row and "/delete/" not in row


def test_search_finds_by_email_or_name(web, managers):
    rows = table(web["viewer"].get("/managers/", {"search": "cont"}))
    assert "content@example.com" in rows and "admin@example.com" not in rows
    rows = table(web["viewer"].get("/managers/", {"search": "Subs"}))
    assert "subs@example.com" in rows and "viewer@example.com" not in rows
    assert "No managers found" in page(web["viewer"].get("/managers/", {"search": "zzz"}))


def test_the_list_pages_with_next_and_first_page_links(web, portal, managers):
    for n in range(50):
        make_manager(portal, f"bulk-{n:02d}@example.com")
    client = web["viewer"]
    first = page(client.get("/managers/"))
    assert "bulk-44@example.com" in first and "bulk-45@example.com" not in first
    next_url = re.search(r'href="(\?cursor=[^"]+)" rel="next"', first).group(1)
    second = page(client.get("/managers/" + next_url.replace("&amp;", "&")))
    assert "bulk-45@example.com" in second and "bulk-49@example.com" in second
    assert "bulk-44@example.com" not in second
    assert "First page" in second and 'rel="next"' not in second


def test_an_invalid_page_link_is_not_found(web):
    assert web["viewer"].get("/managers/", {"cursor": "garbage!"}).status_code == 404


def test_creating_a_manager_stores_it_with_its_flags(web, portal):
    response = web["admin"].post("/managers/new/", {
        "email": "New.Person@Example.com", "name": "New Person", "password": NEW_PASSWORD,
        "is_content_admin": "on"})
    assert response.status_code == 302 and response["Location"] == "/managers/"
    manager = Manager.objects.get(portal=portal, email="new.person@example.com")
    assert (manager.name, manager.is_admin, manager.is_content_admin, manager.is_subscriber_admin) == (
        "New Person", False, True, False)
    assert manager.check_password(NEW_PASSWORD)
    assert Operation.objects.filter(portal=portal, type=OperationType.CREATE_MANAGER).exists()
    assert "Manager new.person@example.com saved." in page(web["admin"].get("/managers/"))


def test_creating_a_manager_with_a_taken_email_is_a_conflict_on_the_email_field(web, managers):
    response = web["owner"].post("/managers/new/", {"email": "viewer@example.com", "password": NEW_PASSWORD})
    assert response.status_code == 409
    assert "A manager with email viewer@example.com already exists in this portal." in page(response)


def test_creating_a_manager_with_a_weak_password_names_the_rule(web, portal):
    response = web["owner"].post("/managers/new/", {"email": "weak@example.com", "password": "password"})
    assert response.status_code == 400
    html = page(response)
    assert "Password must contain an upper-case letter." in html
    assert "Password is too common." in html
    assert not Manager.objects.filter(email="weak@example.com").exists()


def test_creating_a_manager_needs_a_password_and_a_valid_email(web):
    response = web["owner"].post("/managers/new/", {"email": "not-an-email", "password": ""})
    assert response.status_code == 400
    assert "Enter a valid email address." in page(response)


def test_the_same_email_may_be_a_manager_of_another_portal(web, other_portal):
    response = web["owner"].post("/managers/new/", {"email": other_portal.owner.email, "password": NEW_PASSWORD})
    assert response.status_code == 302


def test_editing_a_manager_changes_name_and_flags_and_keeps_a_blank_password(web, managers):
    viewer = managers["viewer"]
    response = web["admin"].post(f"/managers/{viewer.public_id}/edit/", {
        "email": viewer.email, "name": "Now Admin", "password": "", "is_admin": "on"})
    assert response.status_code == 302
    viewer.refresh_from_db()
    assert viewer.name == "Now Admin" and viewer.is_admin and not viewer.is_content_admin
    assert viewer.check_password(PASSWORD)


def test_editing_a_password_ends_the_managers_logins(web, managers):
    viewer_client = web["viewer"]
    viewer = managers["viewer"]
    web["owner"].post(f"/managers/{viewer.public_id}/edit/", {"email": viewer.email, "password": NEW_PASSWORD})
    viewer.refresh_from_db()
    assert viewer.check_password(NEW_PASSWORD)
    assert viewer_client.get("/").status_code == 302
    logged_in_client(viewer, NEW_PASSWORD)


def test_the_edit_form_shows_current_values(web, managers):
    html = page(web["owner"].get(f"/managers/{managers['content'].public_id}/edit/"))
    assert 'value="content@example.com"' in html
    assert re.search(r'name="is_content_admin"[^>]*checked', html)
    assert not re.search(r'name="is_admin"[^>]*checked', html)


def test_managers_cannot_change_their_own_flags(web, managers):
    admin = managers["admin"]
    html = page(web["admin"].get(f"/managers/{admin.public_id}/edit/"))
    assert re.search(r'name="is_admin"[^>]*disabled', html)
    assert "You cannot change your own permissions." in html
    response = web["admin"].post(f"/managers/{admin.public_id}/edit/", {
        "email": admin.email, "name": "Still Admin", "is_content_admin": "on"})
    assert response.status_code == 302
    admin.refresh_from_db()
    assert admin.name == "Still Admin" and admin.is_admin and not admin.is_content_admin


def test_the_owner_cannot_be_edited_or_deleted(web, portal):
    owner = portal.owner
    html = page(web["admin"].get(f"/managers/{owner.public_id}/edit/"))
    assert "the owner cannot be changed here" in html and ">Save<" not in html
    response = web["admin"].post(f"/managers/{owner.public_id}/edit/", {"email": "taken@example.com"})
    assert response.status_code == 403
    assert "owner cannot be changed" in page(response)
    response = web["admin"].post(f"/managers/{owner.public_id}/delete/")
    assert response.status_code == 403
    assert "owner cannot be deleted" in page(response)
    owner.refresh_from_db()
    assert owner.email != "taken@example.com"


def test_editing_to_a_taken_email_is_a_conflict(web, managers):
    viewer = managers["viewer"]
    response = web["owner"].post(f"/managers/{viewer.public_id}/edit/", {"email": "admin@example.com"})
    assert response.status_code == 409
    assert "already exists" in page(response)


def test_deleting_a_manager_asks_first_then_deletes(web, managers, portal):
    viewer = managers["viewer"]
    confirmation = web["admin"].get(f"/managers/{viewer.public_id}/delete/")
    assert "viewer@example.com" in page(confirmation) and 'method="post"' in page(confirmation)
    assert Manager.objects.filter(pk=viewer.pk).exists()
    response = web["admin"].post(f"/managers/{viewer.public_id}/delete/")
    assert response["Location"] == "/managers/"
    assert not Manager.objects.filter(pk=viewer.pk).exists()
    assert Operation.objects.filter(portal=portal, type=OperationType.DELETE_MANAGER).exists()


def test_the_last_admin_of_a_portal_without_owner_is_kept(portal, managers):
    Portal.objects.filter(pk=portal.pk).update(owner=None)
    managers["owner"].delete()
    admin = managers["admin"]
    helper = make_manager(portal, "helper@example.com", is_admin=True)
    client = logged_in_client(helper)
    client.post(f"/managers/{helper.public_id}/delete/")  # deleting oneself is allowed while another admin is left
    assert not Manager.objects.filter(pk=helper.pk).exists()

    client = logged_in_client(admin)
    response = client.post(f"/managers/{admin.public_id}/delete/")
    assert response.status_code == 409
    assert "last manager who can manage managers" in page(response)
    assert Manager.objects.filter(pk=admin.pk).exists()


def test_a_deleted_manager_is_logged_out(web, managers):
    viewer_client = web["viewer"]
    web["owner"].post(f"/managers/{managers['viewer'].public_id}/delete/")
    assert viewer_client.get("/").status_code == 302
    assert Client().post("/login/", {"email": "viewer@example.com", "password": PASSWORD}).status_code == 401


# --- Every rule in one answer; permissions by their names -------------------------------------------------------


def field_errors(html: str, field: str) -> str:
    """The error list shown under the form field ``field``."""
    match = re.search(rf'name="{field}".*?<ul class="field-errors">(.*?)</ul>', html, re.S)
    return match.group(1) if match else ""


def test_add_manager_shows_every_error_in_one_answer(web, portal):
    before = Manager.objects.filter(portal=portal).count()
    response = web["owner"].post("/managers/new/", {"email": "", "name": "x" * 201, "password": "password"})
    assert response.status_code == 400
    html = page(response)
    assert "This field is required." in field_errors(html, "email")
    assert "Must be at most 200 characters." in field_errors(html, "name")
    password = field_errors(html, "password")
    assert "Password must contain an upper-case letter." in password and "Password is too common." in password
    assert Manager.objects.filter(portal=portal).count() == before


def test_add_manager_with_a_taken_email_and_a_weak_password_names_both_at_once(web, managers, portal):
    response = web["owner"].post("/managers/new/", {"email": "Viewer@example.com", "password": "short"})
    assert response.status_code == 400
    html = page(response)
    assert "A manager with email viewer@example.com already exists in this portal." in field_errors(html, "email")
    assert "Password must be at least 8 characters long." in field_errors(html, "password")
    assert Manager.objects.filter(portal=portal).count() == 5


def test_add_manager_without_a_password_says_it_is_required(web, portal):
    response = web["owner"].post("/managers/new/", {"email": "someone@example.com"})
    assert response.status_code == 400
    assert "This field is required." in field_errors(page(response), "password")


def test_the_permission_checkboxes_are_labelled_as_everywhere_on_the_screens(web):
    html = page(web["owner"].get("/managers/new/"))
    for field, label in [("is_admin", "Admin"), ("is_content_admin", "Content admin"),
                         ("is_subscriber_admin", "Subscriber admin")]:
        assert re.search(rf'<label for="id_{field}"><input[^>]*>\s*{label}</label>', html), label


def test_a_screen_403_names_the_permission_and_its_flag(web):
    response = web["content"].get("/managers/new/")
    assert response.status_code == 403
    assert "This page requires the Admin permission (isAdmin)." in page(response)
