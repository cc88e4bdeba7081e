"""Poison values on the screens: one form per app, the CSV imports and the list filters.

A form refuses NUL with the field's error and stores nothing; form data cannot carry a lone surrogate (Django
decodes it with replacement characters), so a surrogate's bytes are ordinary, storable text. An import file
with a NUL is refused naming its line, and extreme dates in list filters are explained, never a 500.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from content.models import Channel
from monitoring.operations import Operation
from portals.models import Manager
from subscribers.models import Subscriber

from .conftest import page

NUL_ERROR = "Null characters are not allowed."


def test_the_manager_form_refuses_a_nul_and_stores_nothing(web, portal):
    before = Manager.objects.count(), Operation.objects.count()
    response = web["owner"].post("/managers/new/", {"email": "new@example.com", "name": "New\x00",
                                                    "password": "Vq7#mLp2-Xr9!tZk"})
    assert response.status_code == 400 and NUL_ERROR in page(response)
    assert (Manager.objects.count(), Operation.objects.count()) == before


def test_the_channel_form_refuses_a_nul_and_stores_nothing(web, portal):
    response = web["content"].post("/channels/new/", {"name": "news", "title": "News\x00", "epg_source": "",
                                                      "epg_channel_name": ""})
    assert response.status_code == 400 and NUL_ERROR in page(response)
    assert not Channel.objects.exists()


def test_the_bytes_of_a_lone_surrogate_in_a_form_are_stored_as_replacement_characters(web, portal):
    response = web["content"].post("/channels/new/", "name=news&title=News+%ED%A0%80&epg_source=&epg_channel_name=",
                                   content_type="application/x-www-form-urlencoded")
    assert response.status_code == 302
    assert Channel.objects.get().title == "News \ufffd\ufffd\ufffd"


def test_the_subscriber_form_refuses_a_nul_and_stores_nothing(web, portal):
    response = web["subscribers"].post("/subscribers/new/", {"name": "Bob\x00", "phone_country_code": "44",
                                                             "phone": "7700900123"})
    assert response.status_code == 400 and NUL_ERROR in page(response)
    assert not Subscriber.objects.exists()


def _csv(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("import.csv", text.encode(), content_type="text/csv")


@pytest.mark.parametrize(("url", "persona", "text", "model"), [
    pytest.param("/channels/import/", "content",
                 "name,title,epgSourceName,epgChannelName,packages\nnews,News,,,\nsport,Sp\x00rt,,,\n", Channel,
                 id="channels"),
    pytest.param("/subscribers/import/", "subscribers",
                 "name,country_code,phone,packages\nAlice,1,2025550143,\nB\x00b,1,2025550144,\n", Subscriber,
                 id="subscribers"),
])
@pytest.mark.parametrize("action", ["check", "import"])
def test_an_import_file_with_a_nul_is_refused_naming_the_line(url, persona, text, model, action, web, portal):
    """csv reads NUL as an ordinary character: SQLite stored it, PostgreSQL failed at the end of the import."""
    response = web[persona].post(url, {"action": action, "file": _csv(text)})
    assert response.status_code in (200, 400)
    assert f"Line 3: {NUL_ERROR}" in page(response)
    assert not model.objects.exists()


@pytest.mark.parametrize("query", [{"to": "9999-12-31"}, {"from": "9999-12-31", "to": "9999-12-31"},
                                   {"from": "9999-12-31T23:59:59-23:59"}, {"from": "0001-01-01"},
                                   {"subscriberId": "100%"}, {"type": "%"}])
def test_the_operations_log_answers_extreme_filters(query, web, portal, managers):
    response = web["viewer"].get("/operations/", query)
    assert response.status_code == 200


def test_to_the_last_day_of_the_calendar_has_no_upper_bound(web, portal, managers):
    html = page(web["viewer"].get("/operations/", {"to": "9999-12-31"}))
    assert "createManager" in html or "Create manager" in html
    assert "Out of range" not in html


@pytest.mark.parametrize("query", [{"to": "9999-12-31"}, {"from": "9999-12-31"}, {"from": "0001-01-01"},
                                   {"subscriberId": "%"}])
def test_the_play_session_history_answers_extreme_filters(query, web, portal):
    response = web["viewer"].get("/play-sessions/history/", query)
    assert response.status_code == 200


def test_an_offset_beyond_postgresql_in_the_operations_log_is_the_same_moment_in_utc(web, portal, managers):
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).astimezone(dt.timezone(dt.timedelta(hours=20)))
    response = web["viewer"].get("/operations/", {"from": later.isoformat()})
    assert response.status_code == 200


@pytest.mark.parametrize("url", ["/channels/new/?epg_source=%00&epg_channel_name=x", "/channels/?search=%00",
                                 "/subscribers/?phone=%00", "/managers/?search=%00", "/operations/?from=%00",
                                 "/play-sessions/history/?subscriberId=%00", "/packages/?search=%00"])
def test_a_nul_in_a_screens_query_string_is_never_a_500(url, web, portal):
    """PostgreSQL refuses NUL in a query: each parameter is checked before it reaches one."""
    web["owner"].raise_request_exception = False
    assert web["owner"].get(url).status_code in (200, 400, 404)
    assert web["owner"].get(url, headers={"HX-Request": "true"}).status_code in (200, 400, 404)  # live blocks
