"""``/epg-sources``: the documented JSON, every rule, permissions, tenancy and the operations log."""

from __future__ import annotations

import pytest

from content import services as content_services
from content.models import Channel, EpgFetch, EpgSource, Program
from monitoring.operations import Operation
from portals.auth import Caller
from tests.conftest import API, PERSONAS
from tests.epg.helpers import every_page, fetch_now, guide, make_source, program

pytestmark = pytest.mark.django_db

SOURCE_KEYS = {"epgSourceId", "portalId", "name", "url", "period", "offsetMinutes", "forceOffset", "last_fetch_result"}
RESULT_KEYS = {"epgSourceId", "fetched_at", "job_id", "status", "message", "channels", "foundPrograms",
               "importedPrograms", "deletedPrograms", "fetchDuration", "importDuration"}
WRITERS = {"api_key", "owner", "content"}


def make_channel(portal, name: str, source_name: str | None = None, epg_channel: str = "") -> Channel:
    return content_services.create_channel(portal, caller=Caller(portal=portal), data={
        "name": name, "title": name.title(), "epgSourceName": source_name, "epgChannelName": epg_channel})


def test_create_returns_the_documented_object(api, portal):
    response = api.post(f"{API}/epg-sources", {"name": "main-epg", "url": "https://epg.example.com/xmltv.xml",
                                               "period": 7}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == SOURCE_KEYS
    source = EpgSource.objects.get()
    assert body == {"epgSourceId": source.public_id, "portalId": portal.public_id, "name": "main-epg",
                    "url": "https://epg.example.com/xmltv.xml", "period": 7, "offsetMinutes": 0, "forceOffset": False,
                    "last_fetch_result": None}
    operation = Operation.objects.get(type="createEpgSource")
    assert operation.payload == {"epgSourceId": source.public_id, "name": "main-epg",
                                 "url": "https://epg.example.com/xmltv.xml", "period": 7, "offsetMinutes": 0,
                                 "forceOffset": False}
    assert not EpgFetch.objects.exists()  # creating does not fetch; the dispatcher will


def test_period_defaults_to_one_day_and_read_only_fields_are_ignored(api, portal, other_portal):
    response = api.post(f"{API}/epg-sources/", {"name": "a.b_c-d", "url": "http://x.example/g.xml",
                                                "epgSourceId": "AAAAAAAAAAE.", "portalId": other_portal.public_id,
                                                "last_fetch_result": {"status": "success"}}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["period"] == 1 and response.json()["portalId"] == portal.public_id
    assert response.json()["last_fetch_result"] is None


@pytest.mark.parametrize(("body", "field"), [
    ({"url": "https://e.example/g.xml"}, "name"),
    ({"name": "x", "url": "https://e.example/g.xml"}, "name"),
    ({"name": "x" * 65, "url": "https://e.example/g.xml"}, "name"),
    ({"name": "with space", "url": "https://e.example/g.xml"}, "name"),
    ({"name": "ok-name"}, "url"),
    ({"name": "ok-name", "url": ""}, "url"),
    ({"name": "ok-name", "url": "ftp://e.example/g.xml"}, "url"),
    ({"name": "ok-name", "url": "file:///etc/passwd"}, "url"),
    ({"name": "ok-name", "url": "https:///no-host"}, "url"),
    ({"name": "ok-name", "url": "https://e.example:99999/g.xml"}, "url"),
    ({"name": "ok-name", "url": 42}, "url"),
    ({"name": "ok-name", "url": "https://e.example/" + "x" * 2000}, "url"),
    ({"name": "ok-name", "url": "https://e.example/guide é.xml"}, "url"),  # not a URI: unescaped
    ({"name": "ok-name", "url": "https://e.example/{guide}.xml"}, "url"),
    ({"name": "ok-name", "url": "https://e.example/g.xml", "period": None}, "period"),
    ({"name": "ok-name", "url": "https://e.example/g.xml", "period": 0}, "period"),
    ({"name": "ok-name", "url": "https://e.example/g.xml", "period": -1}, "period"),
    ({"name": "ok-name", "url": "https://e.example/g.xml", "period": 1.5}, "period"),
    ({"name": "ok-name", "url": "https://e.example/g.xml", "period": "7"}, "period"),
    ({"name": "ok-name", "url": "https://e.example/g.xml", "period": True}, "period"),
])
def test_invalid_sources_are_400_and_nothing_is_stored(api, body, field):
    response = api.post(f"{API}/epg-sources", body, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"], response.json()
    assert response.json()["message"]
    assert not EpgSource.objects.exists() and not Operation.objects.filter(type="createEpgSource").exists()


def test_a_url_with_escapes_a_query_and_a_fragment_is_accepted_as_sent(api):
    url = "https://epg.example.com/guide%20%C3%A9.xml?day=1&lang=ru#now"
    response = api.post(f"{API}/epg-sources", {"name": "escaped", "url": url}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["url"] == url and EpgSource.objects.get().url == url


def test_malformed_json_is_400(api):
    response = api.generic("POST", f"{API}/epg-sources", "{not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["message"]
    assert not EpgSource.objects.exists() and not Operation.objects.exists()


def test_duplicate_name_is_409_but_another_portal_may_use_it(api, portal, other_portal):
    make_source(other_portal, "main-epg")
    assert api.post(f"{API}/epg-sources", {"name": "main-epg", "url": "https://a.example/"},
                    format="json").status_code == 201
    response = api.post(f"{API}/epg-sources", {"name": "main-epg", "url": "https://b.example/"}, format="json")
    assert response.status_code == 409
    assert response.json() == {"message": "An EPG source named main-epg already exists.",
                               "errors": {"name": ["Name must be unique: an EPG source named main-epg already exists."]}}


def test_get_and_list_show_the_newest_finished_fetch(api, portal, server):
    source = make_source(portal, url=server.serve("/g.xml", guide(program("one.tv", 0, 1))))
    fetch = fetch_now(source)
    make_source(portal, "second")
    body = api.get(f"{API}/epg-sources/{source.public_id}").json()
    assert set(body) == SOURCE_KEYS
    result = body["last_fetch_result"]
    assert set(result) == RESULT_KEYS
    assert result == {
        "epgSourceId": source.public_id, "fetched_at": fetch.fetched_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "job_id": fetch.job_id, "status": "success", "message": fetch.message, "channels": 1, "foundPrograms": 1,
        "importedPrograms": 1, "deletedPrograms": 0, "fetchDuration": fetch.fetch_duration,
        "importDuration": fetch.import_duration}
    listing = api.get(f"{API}/epg-sources").json()
    assert set(listing) == {"epgSources", "next"} and listing["next"] is None
    assert [s["name"] for s in listing["epgSources"]] == ["main-epg", "second"]
    assert listing["epgSources"][0] == body and listing["epgSources"][1]["last_fetch_result"] is None


def test_a_queued_fetch_does_not_hide_the_last_finished_one(api, portal, server):
    from content.epg import services as epg_services

    source = make_source(portal, url=server.serve("/g.xml", guide(program("one.tv", 0, 1))))
    done = fetch_now(source)
    epg_services.request_fetch(source)
    assert api.get(f"{API}/epg-sources/{source.public_id}").json()["last_fetch_result"]["job_id"] == done.job_id


def test_list_has_constant_queries_and_paginates(api, portal, django_assert_max_num_queries):
    for i in range(12):
        make_source(portal, f"src-{i:02d}")
    with django_assert_max_num_queries(3):
        first = api.get(f"{API}/epg-sources?limit=5").json()
    assert len(first["epgSources"]) == 5
    names = [s["name"] for s in every_page(api, f"{API}/epg-sources?limit=5", "epgSources", first)]
    assert names == [f"src-{i:02d}" for i in range(12)]
    assert api.get(f"{API}/epg-sources?name=src-03").json()["epgSources"][0]["name"] == "src-03"
    assert api.get(f"{API}/epg-sources?cursor=garbage").status_code == 400


def test_update_changes_url_and_period_without_fetching(api, portal):
    source = make_source(portal)
    url = f"{API}/epg-sources/{source.public_id}"
    body = api.get(url).json()
    body.update(url="https://epg.example.com/updated-xmltv.xml", period=3)
    response = api.put(url, body, format="json")  # a GET → change → PUT round trip
    assert response.status_code == 200, response.json()
    assert response.json()["url"] == "https://epg.example.com/updated-xmltv.xml" and response.json()["period"] == 3
    assert not EpgFetch.objects.exists()
    operation = Operation.objects.get(type="updateEpgSource")
    assert operation.payload["changes"] == {
        "url": {"old": "https://epg.example.com/guide.xml", "new": "https://epg.example.com/updated-xmltv.xml"},
        "period": {"old": 1, "new": 3}}
    assert api.put(url, body, format="json").status_code == 200
    assert Operation.objects.filter(type="updateEpgSource").count() == 1  # nothing changed: nothing recorded


def test_renaming_a_source_shows_in_its_channels(api, portal):
    source = make_source(portal, "old-name")
    make_channel(portal, "news", "old-name", "news.tv")
    response = api.put(f"{API}/epg-sources/{source.public_id}", {"name": "new-name"}, format="json")
    assert response.status_code == 200, response.json()
    channel = api.get(f"{API}/channels").json()["channels"][0]
    assert (channel["epgSourceName"], channel["epgChannelName"]) == ("new-name", "news.tv")
    assert Operation.objects.get(type="updateEpgSource").payload["channels"] == 1


def test_renaming_to_a_taken_name_is_409(api, portal):
    make_source(portal, "taken")
    source = make_source(portal, "mine")
    response = api.put(f"{API}/epg-sources/{source.public_id}", {"name": "taken"}, format="json")
    assert response.status_code == 409
    source.refresh_from_db()
    assert source.name == "mine"


def test_invalid_update_is_400_and_changes_nothing(api, portal):
    source = make_source(portal)
    response = api.put(f"{API}/epg-sources/{source.public_id}", {"period": 0, "url": "gopher://x"}, format="json")
    assert response.status_code == 400 and set(response.json()["errors"]) == {"period", "url"}
    source.refresh_from_db()
    assert (source.period, source.url) == (1, "https://epg.example.com/guide.xml")


def test_delete_removes_programs_and_clears_channels(api, portal, server):
    source = make_source(portal, url=server.serve("/g.xml", guide(program("news.tv", 0, 1))))
    keep = make_source(portal, "keep", url=server.url("/g.xml"))
    fetch_now(source)
    fetch_now(keep)
    make_channel(portal, "news", source.name, "news.tv")
    make_channel(portal, "other", "keep", "news.tv")
    response = api.delete(f"{API}/epg-sources/{source.public_id}")
    assert (response.status_code, response.json()) == (201, {"deleted": source.public_id})
    assert not EpgSource.objects.filter(pk=source.pk).exists()
    assert not Program.objects.filter(epg_source_id=source.pk).exists()
    assert not EpgFetch.objects.filter(epg_source_id=source.pk).exists()
    assert Program.objects.filter(epg_source=keep).count() == 1
    news, other = Channel.objects.order_by("name")
    assert (news.epg_source_id, news.epg_channel_name) == (None, "")
    assert (other.epg_source_id, other.epg_channel_name) == (keep.id, "news.tv")
    assert Operation.objects.get(type="deleteEpgSource").payload == {
        "epgSourceId": source.public_id, "name": "main-epg", "channels": ["news"]}


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_another_portals_source_is_404(stranger, portal, method):
    source = make_source(portal)
    response = getattr(stranger, method)(f"{API}/epg-sources/{source.public_id}", {"name": "x-y"}, format="json")
    assert response.status_code == 404 and response.json()["message"]
    assert stranger.post(f"{API}/epg-sources/{source.public_id}/update").status_code == 404
    assert stranger.get(f"{API}/epg-sources/{source.public_id}/programs").status_code == 404
    assert stranger.get(f"{API}/epg-sources").json()["epgSources"] == []
    assert EpgSource.objects.filter(pk=source.pk, name="main-epg").exists()


def test_malformed_or_unknown_ids_are_404(api):
    assert api.get(f"{API}/epg-sources/nonsense").status_code == 404
    assert api.get(f"{API}/epg-sources/AAAAAAAAAAE.").status_code == 404
    assert api.post(f"{API}/epg-sources/AAAAAAAAAAE./update").status_code == 404


def test_without_a_token_everything_is_401(anonymous, portal):
    source = make_source(portal)
    assert anonymous.get(f"{API}/epg-sources").status_code == 401
    assert anonymous.post(f"{API}/epg-sources/{source.public_id}/update").status_code == 401
    assert anonymous.get(f"{API}/epg-fetches").status_code == 401


@pytest.mark.parametrize("persona", PERSONAS)
def test_everyone_reads_and_only_content_admins_write(clients, portal, persona):
    client = clients[persona]
    source = make_source(portal)
    assert client.get(f"{API}/epg-sources").status_code == 200
    assert client.get(f"{API}/epg-sources/{source.public_id}").status_code == 200
    assert client.get(f"{API}/epg-sources/{source.public_id}/programs").status_code == 200
    assert client.get(f"{API}/epg-fetches").status_code == 200
    allowed = persona in WRITERS
    expected = {True: (201, 200, 202, 201), False: (403, 403, 403, 403)}[allowed]
    created = client.post(f"{API}/epg-sources", {"name": f"by-{persona}", "url": "https://x.example/"}, format="json")
    updated = client.put(f"{API}/epg-sources/{source.public_id}", {"period": 2}, format="json")
    fetched = client.post(f"{API}/epg-sources/{source.public_id}/update")
    deleted = client.delete(f"{API}/epg-sources/{source.public_id}")
    assert (created.status_code, updated.status_code, fetched.status_code, deleted.status_code) == expected
    if not allowed:
        assert created.json()["message"] == "This action requires the Content admin permission (isContentAdmin)."
        assert EpgSource.objects.filter(pk=source.pk, period=1).exists() and not EpgFetch.objects.exists()
        assert not EpgSource.objects.filter(name=f"by-{persona}").exists()
    else:
        assert EpgSource.objects.filter(name=f"by-{persona}").exists()
        assert not EpgSource.objects.filter(pk=source.pk).exists()


def test_every_fields_error_comes_back_in_one_answer_in_plain_words(api, portal):
    response = api.post(f"{API}/epg-sources", {"name": "x", "url": "ftp://guide.example.com/g.xml", "period": "7"},
                        format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "name": ["Must be 2–64 characters: letters, digits, '.', '-' or '_'."],
        "url": ["Only http:// and https:// URLs are supported."],
        "period": ["Must be a whole number of days from 1 to 3650."],
    }
    assert not EpgSource.objects.exists()
