"""Portal settings: the organization number and the switch of the Icareus-compatible endpoint (catalog.md §4)."""

from __future__ import annotations

import re

from content import icareus
from monitoring.operations import Operation, OperationType
from tests.web.test_portal_settings import settings_form

from .conftest import page


def test_the_settings_show_the_organization_number_and_turn_the_endpoint_on(web, portal):
    client = web["admin"]
    html = page(client.get("/portal/settings/"))
    assert f'<code data-testid="organization-number">{portal.id}</code>' in html
    assert not re.search(r'name="icareus_api"[^>]*checked', html)
    url = f"/api/channels/admin?action=getChannels&organizationId={portal.id}"
    token = {"HTTP_AUTHORIZATION": f"Bearer {icareus.generated_token(portal.id, portal.api_key)}"}
    assert client.get(url, **token).status_code == 401  # off: as for an unknown organization

    response = client.post("/portal/settings/", settings_form(portal, icareus_api="on", default_archive_days="14"))
    assert response.status_code == 302
    portal.refresh_from_db()
    assert (portal.effective_settings["icareusApi"], portal.effective_settings["defaultArchiveDays"]) == (True, 14)
    html = page(client.get("/portal/settings/"))
    assert re.search(r'name="icareus_api"[^>]*checked', html) and 'value="14"' in html
    assert Operation.objects.get(type=OperationType.UPDATE_PORTAL).payload["settings"]
    assert client.get(url, **token).json() == {"status": "ok", "channels": []}

    client.post("/portal/settings/", settings_form(portal))  # unticked, blank: off and the default days
    portal.refresh_from_db()
    assert (portal.effective_settings["icareusApi"], portal.effective_settings["defaultArchiveDays"]) == (False, None)


def test_archive_days_out_of_range_are_refused_on_their_field(web, portal):
    response = web["owner"].post("/portal/settings/", settings_form(portal, icareus_api="on",
                                                                    default_archive_days="0"))
    assert response.status_code == 400
    errors = re.search(r'name="default_archive_days".*?<ul class="field-errors">(.*?)</ul>', page(response), re.S)
    assert errors and "Must be a whole number from 1 to 365, or empty for the default." in errors.group(1)
    portal.refresh_from_db()
    assert portal.effective_settings["icareusApi"] is False


def test_readers_see_the_switch_disabled(web, portal):
    html = page(web["viewer"].get("/portal/settings/"))
    assert re.search(r'name="icareus_api"[^>]*disabled', html)
    assert re.search(r'name="default_archive_days"[^>]*disabled', html)
