"""Every screen for every persona: who sees what, who may change what, and the portal boundary."""

from __future__ import annotations

import pytest

from portals.models import Manager
from tests.factories import make_manager

from .conftest import PERSONAS, READERS, WRITERS, page

READ_SCREENS = ["/", "/managers/", "/operations/", "/portal/settings/"]


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("url", READ_SCREENS)
def test_every_manager_sees_every_read_screen_with_the_portal_header(url, persona, web, managers):
    response = web[persona].get(url)
    assert response.status_code == 200
    html = page(response)
    assert "Main TV" in html
    assert managers[persona].email in html
    for section in ("Dashboard", "Managers", "Operations log", "Portal settings"):
        assert section in html


@pytest.mark.parametrize("persona", READERS)
def test_read_only_managers_see_no_write_buttons(persona, web, portal):
    managers_page = page(web[persona].get("/managers/"))
    assert "Add manager" not in managers_page
    assert "/edit/" not in managers_page and "/delete/" not in managers_page
    settings_page = page(web[persona].get("/portal/settings/"))
    assert "Save settings" not in settings_page
    assert "Generate new API key" not in settings_page
    assert portal.api_key not in settings_page
    assert "disabled" in settings_page


@pytest.mark.parametrize("persona", WRITERS)
def test_admins_see_the_write_buttons(persona, web, portal):
    managers_page = page(web[persona].get("/managers/"))
    assert "Add manager" in managers_page and "/edit/" in managers_page
    settings_page = page(web[persona].get("/portal/settings/"))
    assert "Save settings" in settings_page and "Generate new API key" in settings_page
    assert portal.api_key in settings_page


@pytest.mark.parametrize("action", ["edit", "delete"])
def test_a_manager_of_another_portal_is_not_found(action, web, other_portal):
    stranger = make_manager(other_portal, "stranger@example.com", is_admin=True)
    assert web["owner"].get(f"/managers/{stranger.public_id}/{action}/").status_code == 404
    assert web["owner"].post(f"/managers/{stranger.public_id}/{action}/",
                             {"email": "x@example.com"}).status_code == 404
    assert Manager.objects.filter(pk=stranger.pk, email="stranger@example.com").exists()


@pytest.mark.parametrize("bad_id", ["not-an-id", "AAAAAAAAAAAA", "aKl9SW3AAAE"])
def test_a_malformed_manager_id_is_not_found(bad_id, web):
    assert web["owner"].get(f"/managers/{bad_id}/edit/").status_code == 404


def test_screens_show_only_the_callers_portal(web, stranger_web, managers, other_portal):
    html = page(stranger_web.get("/managers/"))
    assert "Other TV" in html
    assert "admin@example.com" not in html and "Main TV" not in html
    own = page(web["owner"].get("/managers/"))
    assert other_portal.owner.email not in own


def _queries(client, url) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize("url", ["/", "/managers/", "/operations/"])
def test_list_screens_cost_the_same_queries_for_few_or_many_rows(url, web, portal):
    client = web["viewer"]
    _queries(client, url)  # warm up: the session's first touch is a write
    few = _queries(client, url)
    for n in range(30):
        make_manager(portal, f"bulk-{n}@example.com")
    assert _queries(client, url) == few
