"""The settings screen's switch for the Xtream Codes API (players.md §3)."""

import re

from monitoring.operations import Operation
from tests.web.test_portal_settings import page, settings_form


def test_the_xtream_switch_is_shown_saved_recorded_and_cleared(web, portal):
    client = web["admin"]
    html = page(client.get("/portal/settings/"))
    assert re.search(r'<input type="checkbox" name="xtream_api"[^>]*id="id_xtream_api"', html)
    assert not re.search(r'name="xtream_api"[^>]*checked', html)
    assert client.post("/portal/settings/", settings_form(portal, xtream_api="on")).status_code == 302
    portal.refresh_from_db()
    assert portal.effective_settings["xtreamApi"] is True
    assert re.search(r'name="xtream_api"[^>]*checked', page(client.get("/portal/settings/")))
    changes = Operation.objects.filter(type="updatePortal").latest("id").payload["settings"]
    assert (changes["old"]["xtreamApi"], changes["new"]["xtreamApi"]) == (False, True)
    client.post("/portal/settings/", settings_form(portal))  # unticked
    portal.refresh_from_db()
    assert portal.effective_settings["xtreamApi"] is False


def test_readers_see_the_xtream_switch_disabled_and_cannot_change_it(web, portal):
    assert re.search(r'name="xtream_api"[^>]*disabled', page(web["viewer"].get("/portal/settings/")))
    web["viewer"].post("/portal/settings/", settings_form(portal, xtream_api="on"))
    portal.refresh_from_db()
    assert portal.effective_settings["xtreamApi"] is False
