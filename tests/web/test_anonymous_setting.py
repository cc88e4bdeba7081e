"""The settings screen's switch for anonymous viewing of the free packages (lifecycle.md §3)."""

import re

from monitoring.operations import Operation
from tests.web.test_portal_settings import page, settings_form


def test_the_switch_is_shown_saved_recorded_and_cleared(web, portal):
    client = web["admin"]
    html = page(client.get("/portal/settings/"))
    assert re.search(r'<input type="checkbox" name="allow_anonymous"[^>]*id="id_allow_anonymous"', html)
    assert not re.search(r'name="allow_anonymous"[^>]*checked', html)
    assert client.post("/portal/settings/", settings_form(portal, allow_anonymous="on")).status_code == 302
    portal.refresh_from_db()
    assert portal.effective_settings["allowAnonymous"] is True
    assert re.search(r'name="allow_anonymous"[^>]*checked', page(client.get("/portal/settings/")))
    changes = Operation.objects.filter(type="updatePortal").latest("id").payload["settings"]
    assert (changes["old"]["allowAnonymous"], changes["new"]["allowAnonymous"]) == (False, True)
    client.post("/portal/settings/", settings_form(portal))  # unticked
    portal.refresh_from_db()
    assert portal.effective_settings["allowAnonymous"] is False


def test_readers_see_the_switch_disabled_and_cannot_change_it(web, portal):
    assert re.search(r'name="allow_anonymous"[^>]*disabled', page(web["viewer"].get("/portal/settings/")))
    web["viewer"].post("/portal/settings/", settings_form(portal, allow_anonymous="on"))
    portal.refresh_from_db()
    assert portal.effective_settings["allowAnonymous"] is False
