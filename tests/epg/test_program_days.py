"""A programme listing for a day outside 1900-01-01 … 2200-12-31 (``date=9999-12-31`` has no next day) is a
400 naming the field, never a 500: client API, management API and the source screen alike."""

from __future__ import annotations

import pytest

from tests.client.test_watching import app_token, world  # noqa: F401  (a subscriber watching a channel)
from tests.conftest import API
from tests.epg.helpers import BASE, fetch_now, guide, make_source, program
from tests.web.conftest import web  # noqa: F401

pytestmark = pytest.mark.django_db

RULE = "Must be a day from 1900-01-01 to 2200-12-31 (YYYY-MM-DD)."
OUT_OF_RANGE = ["9999-12-31", "0001-01-01", "2201-01-01", "1899-12-31"]


@pytest.fixture
def app(portal):
    from rest_framework.test import APIClient

    return APIClient(HTTP_HOST=portal.domain)


@pytest.mark.parametrize("day", OUT_OF_RANGE)
def test_client_api_programs_of_a_day_out_of_range_is_400(app, world, day):  # noqa: F811
    token = {"HTTP_AUTHORIZATION": f"Bearer {app_token(world['subscriber'])}"}
    news = world["channels"]["news"]
    response = app.get(f"/tv/api/v1/channels/{news.public_id}/programs?date={day}", **token)
    assert (response.status_code, response.json()) == (400, {"message": f"date: {RULE}", "errors": {"date": [RULE]}})
    assert app.get(f"/tv/api/v1/channels/{news.public_id}/programs?date=2200-12-31", **token).status_code == 200


@pytest.fixture
def source(portal, server):
    source = make_source(portal, url=server.serve("/g.xml", guide(program("a.tv", 0, 1, "Show"))))
    fetch_now(source)
    return source


@pytest.mark.parametrize("day", OUT_OF_RANGE)
def test_management_api_programs_of_a_day_out_of_range_is_400(api, source, day):
    response = api.get(f"{API}/epg-sources/{source.public_id}/programs?date={day}")
    assert response.status_code == 400
    assert response.json()["errors"] == {"date": [RULE]}
    listed = api.get(f"{API}/epg-sources/{source.public_id}/programs?date={BASE.date().isoformat()}")
    assert [p["title"] for p in listed.json()["programs"]] == ["Show"]


def test_the_source_screen_shows_why_a_day_is_refused(web, source):  # noqa: F811
    response = web["viewer"].get(f"/epg-sources/{source.public_id}/?date=9999-12-31")
    assert response.status_code == 200
    assert f"Date: {RULE}" in response.content.decode()
    last = web["viewer"].get(f"/epg-sources/{source.public_id}/?date=2200-12-31")
    assert last.status_code == 200 and "Date: Must be" not in last.content.decode()
