"""Management commands: ``create_portal`` and ``demo_portal``."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from catena_site.ids import encode_id
from portals.management.commands.demo_portal import DEMO_EMAIL, DEMO_NAME, DEMO_PASSWORD
from portals.models import Portal
from tests.conftest import API, api_client

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def create(name="cmd-portal", domain="cmd-portal.example.com", email="cmd@example.com",
           password="Strong-Pass-77", *extra: str) -> str:
    return run("create_portal", "--name", name, "--domain", domain, "--owner-email", email,
               "--owner-password", password, *extra)


def test_create_portal_json_prints_ids_and_a_working_api_key():
    result = json.loads(create("cmd-portal", "cmd-portal.example.com", "cmd@example.com", "Strong-Pass-77", "--json"))
    assert set(result) == {"portalId", "apiKey", "ownerId"}
    portal = Portal.objects.get(name="cmd-portal")
    assert result["portalId"] == portal.public_id == encode_id(portal.pk)
    assert result["ownerId"] == portal.owner.public_id
    assert portal.owner.check_password("Strong-Pass-77")

    response = api_client(result["apiKey"]).get(f"{API}/portal")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["portalId"] == result["portalId"]
    assert body["ownerId"] == result["ownerId"]
    assert body["name"] == "cmd-portal"
    assert body["apiKey"] == result["apiKey"]


def test_create_portal_with_title_and_plain_output():
    out = create("titled", "titled.example.com", "t@example.com", "Strong-Pass-77", "--title", "Titled TV")
    assert "titled" in out
    assert Portal.objects.get(name="titled").title == "Titled TV"


def test_duplicate_name_is_a_command_error():
    create("dup", "dup.example.com")
    with pytest.raises(CommandError, match="already exists"):
        create("dup", "other-domain.example.com", "x@example.com")
    assert Portal.objects.filter(name="dup").count() == 1


def test_duplicate_domain_is_a_command_error():
    create("first", "same.example.com")
    with pytest.raises(CommandError, match="already exists"):
        create("second", "same.example.com", "y@example.com")
    assert not Portal.objects.filter(name="second").exists()


@pytest.mark.parametrize("password", ["short1!", "alllowercase-1", "NoDigits-here", "NoSpecial123", ""])
def test_weak_password_is_a_command_error(password):
    with pytest.raises(CommandError, match="[Pp]assword"):
        create("weak", "weak.example.com", "w@example.com", password)
    assert not Portal.objects.filter(name="weak").exists()


def test_invalid_email_is_a_command_error():
    with pytest.raises(CommandError):
        create("bad-mail", "bad-mail.example.com", "not-an-email")
    assert not Portal.objects.filter(name="bad-mail").exists()


def test_every_broken_rule_is_named_in_one_command_error():
    with pytest.raises(CommandError) as caught:
        create("Not a slug!", "bad.example.com", "not-an-email", "short")
    message = str(caught.value)
    assert message.startswith("Invalid portal: name: ")
    assert "ownerEmail: Enter a valid email address." in message
    assert "ownerPassword: Password must be at least 8 characters long." in message
    assert not Portal.objects.exists()


def test_demo_portal_is_created_once_and_prints_its_credentials():
    first = json.loads(run("demo_portal", "--json", "--url", "http://127.0.0.1:9000"))
    second = json.loads(run("demo_portal", "--json", "--url", "http://127.0.0.1:9000"))
    assert first["created"] is True
    assert second["created"] is False
    assert Portal.objects.filter(name=DEMO_NAME).count() == 1
    for key in ("portalId", "apiKey", "ownerEmail", "ownerPassword"):
        assert first[key] == second[key]
    assert first["ownerEmail"] == DEMO_EMAIL
    assert first["ownerPassword"] == DEMO_PASSWORD
    assert first["url"] == "http://127.0.0.1:9000/"
    assert api_client(first["apiKey"]).get(f"{API}/portal").status_code == 200

    text = run("demo_portal")
    for value in (DEMO_EMAIL, DEMO_PASSWORD, first["apiKey"], "http://127.0.0.1:8000/"):
        assert value in text


def test_demo_portal_does_not_print_a_password_that_no_longer_works():
    run("demo_portal")
    owner = Portal.objects.get(name=DEMO_NAME).owner
    owner.set_password("Changed-Pass-99")
    owner.save()
    details = json.loads(run("demo_portal", "--json"))
    assert details["ownerPassword"] is None
    assert DEMO_PASSWORD not in run("demo_portal")
