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


def test_add_form_names_every_broken_rule_at_once(admin_client):
    response = admin_client.post(reverse("admin:portals_portal_add"), {
        "name": "fine-name", "domain": "fine.example.com", "title": "x" * 201, "owner_email": "not-an-email",
        "owner_password": "short",
    })
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"title", "owner_email", "owner_password"}
    assert errors["owner_email"] == ["Enter a valid email address."]
    assert "Password must be at least 8 characters long." in errors["owner_password"]
    assert not Portal.objects.filter(name="fine-name").exists()


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


# --- Streaming servers ---------------------------------------------------------------------------------------


def test_streaming_server_pages_render_and_the_list_shows_no_secret(admin_client, portal):
    from portals.models import StreamingServer
    from tests.factories import make_streaming_server

    server = make_streaming_server("edge-1", key="very-secret-key", api_url="http://edge-1:80/streamer/api/v3",
                                   api_user="admin", api_password="api-secret-pw", api_token="api-secret-token",
                                   allowed_ips="198.51.100.0/24")
    listing = admin_client.get(reverse("admin:portals_streamingserver_changelist"))
    assert listing.status_code == 200
    body = listing.content.decode()
    assert "edge-1" in body and "http://edge-1:80/streamer/api/v3" in body and "198.51.100.0/24" in body
    for secret in ("very-secret-key", "api-secret-pw", "api-secret-token"):
        assert secret not in body
    change = admin_client.get(reverse("admin:portals_streamingserver_change", args=[server.pk]))
    assert change.status_code == 200
    assert "api-secret-pw" not in change.content.decode() and "api-secret-token" not in change.content.decode()
    assert admin_client.get(reverse("admin:portals_streamingserver_add")).status_code == 200
    default = StreamingServer.objects.get(name="default")
    assert admin_client.get(reverse("admin:portals_streamingserver_change", args=[default.pk])).status_code == 200


def test_add_a_streaming_server_and_keep_its_secrets_on_change(admin_client):
    from portals.models import StreamingServer

    url = reverse("admin:portals_streamingserver_add")
    response = admin_client.post(url, {"name": "edge-2", "key": "edge-2-key", "allowed_ips": "10.0.0.0/8, 192.0.2.7",
                                       "api_url": "http://edge-2/api", "api_user": "u", "api_password": "pw",
                                       "api_token": ""})
    assert response.status_code == 302, response.content.decode()
    server = StreamingServer.objects.get(name="edge-2")
    assert (server.key, server.api_password) == ("edge-2-key", "pw")
    change = reverse("admin:portals_streamingserver_change", args=[server.pk])
    response = admin_client.post(change, {"name": "edge-2", "key": "edge-2-key", "allowed_ips": "",
                                          "api_url": "http://edge-2/api", "api_user": "u", "api_password": "",
                                          "api_token": ""})
    assert response.status_code == 302, response.content.decode()
    server.refresh_from_db()
    assert server.api_password == "pw" and server.allowed_ips == ""


@pytest.mark.parametrize(("fields", "field"), [
    ({"name": "edge-3", "key": ""}, "key"),  # only the default server may go without a key
    ({"name": "edge-3", "key": "k", "allowed_ips": "not-an-address"}, "allowed_ips"),
    ({"name": "edge-3", "key": "k", "api_url": "ftp://edge"}, "api_url"),
])
def test_a_bad_streaming_server_is_refused_on_its_field(admin_client, fields, field):
    from portals.models import StreamingServer

    data = {"name": "", "key": "", "allowed_ips": "", "api_url": "", "api_user": "", "api_password": "",
            "api_token": "", **fields}
    response = admin_client.post(reverse("admin:portals_streamingserver_add"), data)
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not StreamingServer.objects.filter(name="edge-3").exists()


def test_a_streaming_server_with_several_bad_fields_names_them_all_at_once(admin_client):
    from portals.models import StreamingServer

    response = admin_client.post(reverse("admin:portals_streamingserver_add"), {
        "name": "edge-8", "key": "", "allowed_ips": "10.0.0.0/8, nope", "api_url": "ftp://edge", "api_user": "",
        "api_password": "", "api_token": ""})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors == {"key": ["Every server but the default one needs its own key."],
                      "allowed_ips": ["'nope' is not an IP address or network."],
                      "api_url": ["Must be an http:// or https:// URL."]}
    assert not StreamingServer.objects.filter(name="edge-8").exists()


def test_the_service_applies_the_same_streaming_server_rules(db):
    from catena_site.errors import Invalid
    from portals import services
    from portals.models import StreamingServer

    with pytest.raises(Invalid) as caught:
        services.save_streaming_server(StreamingServer(name="Not a slug", key="", allowed_ips="x"))
    assert set(caught.value.errors) == {"name", "key", "allowed_ips"}
    assert not StreamingServer.objects.exclude(name="default").exists()


def test_a_key_of_another_server_is_refused(admin_client, settings):
    from portals.models import StreamingServer
    from tests.factories import make_streaming_server

    settings.STREAMER_KEY = "the-default-key"
    make_streaming_server("edge-4", key="taken-key")
    for key in ("taken-key", "the-default-key"):
        response = admin_client.post(reverse("admin:portals_streamingserver_add"), {
            "name": "edge-5", "key": key, "allowed_ips": "", "api_url": "", "api_user": "", "api_password": "",
            "api_token": ""})
        assert response.status_code == 200
        assert "Another streaming server uses this key." in response.context["adminform"].form.errors["key"]
    assert not StreamingServer.objects.filter(name="edge-5").exists()


def test_moving_a_portal_to_another_server_in_the_admin(admin_client, portal, other_portal):
    from content import services as content
    from portals.auth import Caller

    content.create_channel(portal, caller=Caller(portal=portal), data={"name": "news", "title": "News"})
    content.create_channel(other_portal, caller=Caller(portal=other_portal), data={"name": "news", "title": "News"})
    url = reverse("admin:portals_portal_change", args=[other_portal.pk])
    assert 'name="streaming_server"' in admin_client.get(url).content.decode()
    refused = admin_client.post(url, {"owner": other_portal.owner_id, "streaming_server": portal.streaming_server_id})
    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors["streaming_server"] == [
        "Channels named news already exist on streaming server default: delete them in one of the portals first."]
    other_portal.refresh_from_db()
    assert other_portal.streaming_server.name == "other-server"
    content.delete_channel(other_portal.channels.get(), caller=Caller(portal=other_portal))
    moved = admin_client.post(url, {"owner": other_portal.owner_id, "streaming_server": portal.streaming_server_id})
    assert moved.status_code == 302, moved.content.decode()
    other_portal.refresh_from_db()
    assert other_portal.streaming_server_id == portal.streaming_server_id


def test_a_new_portal_from_the_admin_gets_the_default_server(admin_client):
    admin_client.post(reverse("admin:portals_portal_add"), {
        "name": "admin-default", "domain": "admin-default.example.com", "title": "", "owner_email": "o@example.com",
        "owner_password": "Strong-Pass-77"})
    assert Portal.objects.get(name="admin-default").streaming_server.name == "default"


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


def test_the_admin_login_page_says_that_it_needs_createsuperuser(client):
    response = client.get("/admin/", follow=True)
    html = response.content.decode()
    assert response.redirect_chain[-1][0].startswith("/admin/login/") and response.status_code == 200
    assert "python manage.py createsuperuser" in html and "system administrators" in html
    assert 'href="/login/"' in html  # managers are sent to their own login
    assert 'name="username"' in html and 'name="password"' in html  # Django's form is still there

