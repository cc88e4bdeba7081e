"""Issue 19: time offsets (a source's ``offsetMinutes``/``forceOffset`` applied by the importer, a channel's
``epgOffsetMinutes`` applied when read) and several sources per channel (``epgSources``, merged by priority) —
through the real importer fed by a real HTTP server, the Management API, the client API, the XMLTV export, the
play sessions' programme lookup and the screens."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import re

import pytest

from content.models import Channel, EpgSource, Program
from monitoring import on_air
from monitoring.operations import Operation, OperationType
from portals.auth import Caller
from subscribers import services as subscriber_services
from tests.client.conftest import CLIENT, app  # noqa: F401  (the client API's fixture)
from tests.client.test_watching import app_token
from tests.conftest import API
from tests.content.test_channels_api import make_channel, make_package
from tests.epg.helpers import BASE, at, fetch_now, guide, make_source, program, stored
from tests.subscribers.test_subscribers_api import make_subscriber
from tests.web.conftest import page, web  # noqa: F401  (the screens' fixture)


def xmltv_local(hours: float, offset_minutes: int) -> str:
    """``at(hours)`` written as a local time of UTC+offset without any offset (``20300101150000``)."""
    return (at(hours) + dt.timedelta(minutes=offset_minutes)).strftime("%Y%m%d%H%M%S")


def source_programs(api, source: EpgSource) -> list[tuple[str, str, str]]:
    body = api.get(f"{API}/epg-sources/{source.public_id}/programs?date={BASE.date().isoformat()}").json()
    return [(p["title"], p["start"], p["end"]) for p in body["programs"]]


def iso(hours: float) -> str:
    return at(hours).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- A source's offset -----------------------------------------------------------------------------------


def test_a_source_offset_applies_to_times_without_one_and_plus_0300_times_stay_exact(api, portal, server):
    url = server.serve("/moscow.xml", guide(
        program("one.tv", 1, 2, "Explicit", offset=180),  # 20..T04:00:00 +0300 = 01:00 UTC
        program("one.tv", xmltv_local(2, 180), xmltv_local(3, 180), "Local"),  # no offset: the source's
    ))
    response = api.post(f"{API}/epg-sources", {"name": "moscow", "url": url, "offsetMinutes": 180}, format="json")
    assert response.status_code == 201, response.json()
    assert (response.json()["offsetMinutes"], response.json()["forceOffset"]) == (180, False)
    source = EpgSource.objects.get()
    assert fetch_now(source).status == "success"
    assert source_programs(api, source) == [("Explicit", iso(1), iso(2)), ("Local", iso(2), iso(3))]


def test_changing_the_offset_re_imports_and_force_offset_replaces_the_guides_offsets(api, portal, server):
    url = server.serve("/wrong.xml", guide(program("one.tv", 5, 6, "Labelled UTC", offset=0)))
    source = make_source(portal, "wrong", url)
    assert fetch_now(source).status == "success"
    assert source_programs(api, source) == [("Labelled UTC", iso(5), iso(6))]
    EpgSource.objects.filter(pk=source.pk).update(next_fetch_at=at(48))

    response = api.put(f"{API}/epg-sources/{source.public_id}", {"offsetMinutes": 120, "forceOffset": True},
                       format="json")
    assert response.status_code == 200, response.json()
    operation = Operation.objects.get(type=OperationType.UPDATE_EPG_SOURCE).payload
    assert operation["changes"] == {"offsetMinutes": {"old": 0, "new": 120},
                                    "forceOffset": {"old": False, "new": True}}
    # The programmes stored with the old offset are gone and the source is due for its re-import at once.
    assert operation["deletedPrograms"] == 1 and source_programs(api, source) == []
    source.refresh_from_db()
    assert source.next_fetch_at <= at(0)
    assert fetch_now(source).status == "success"
    assert source_programs(api, source) == [("Labelled UTC", iso(3), iso(4))]  # 05:00 read as UTC+2
    # Other changes keep the programmes.
    api.put(f"{API}/epg-sources/{source.public_id}", {"period": 2}, format="json")
    assert source_programs(api, source) == [("Labelled UTC", iso(3), iso(4))]


@pytest.mark.parametrize("value", [1441, -1441, "abc", "60", 1.5, None])
def test_a_bad_source_offset_is_400_naming_the_field_and_changes_nothing(api, portal, value):
    source = make_source(portal, "steady")
    before = Operation.objects.count()
    response = api.put(f"{API}/epg-sources/{source.public_id}", {"offsetMinutes": value}, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["offsetMinutes"]
    assert "from -1440 to 1440" in response.json()["errors"]["offsetMinutes"][0]
    source.refresh_from_db()
    assert source.offset_minutes == 0 and Operation.objects.count() == before
    response = api.post(f"{API}/epg-sources", {"name": "new-one", "url": "https://e.example.com/g.xml",
                                               "offsetMinutes": value}, format="json")
    assert response.status_code == 400 and list(response.json()["errors"]) == ["offsetMinutes"]
    assert not EpgSource.objects.filter(name="new-one").exists()


# --- Merged guides, read by the client API, the XMLTV export and play sessions ------------------------------


@pytest.fixture
def merged_world(portal, server):
    """Channel ``news``: source ``primary`` covers hours 0–2 and 4–6, ``backup`` every hour 0–8 (other titles);
    ``sport`` has ``backup`` only, shifted by +30 minutes."""
    primary = make_source(portal, "primary", server.serve("/primary.xml", guide(
        program("news.p", 0, 1, "P0"), program("news.p", 1, 2, "P1"),
        program("news.p", 4, 5, "P4"), program("news.p", 5, 6, "P5"))))
    backup = make_source(portal, "backup", server.serve("/backup.xml", guide(
        *[program("news.b", hour, hour + 1, f"B{hour}") for hour in range(8)],
        program("sport.b", 1, 2, "Match"))))
    assert fetch_now(primary).status == fetch_now(backup).status == "success"
    news = make_channel(portal, "news", "News", epgSources=[
        {"epgSourceName": "primary", "epgChannelName": "news.p"},
        {"epgSourceName": "backup", "epgChannelName": "news.b"}])
    sport = make_channel(portal, "sport", "Sport", epgSourceName="backup", epgChannelName="sport.b",
                         epgOffsetMinutes=30)
    package = make_package(portal, "basic", [news, sport])
    subscriber = make_subscriber(portal)
    subscriber_services.subscribe(subscriber, package, caller=Caller(portal=portal))
    return {"news": news, "sport": sport, "subscriber": subscriber, "primary": primary, "backup": backup}


MERGED = ["P0", "P1", "B2", "B3", "P4", "P5", "B6", "B7"]


def test_two_sources_covering_different_hours_are_merged_in_the_client_api(app, merged_world):  # noqa: F811
    token = app_token(merged_world["subscriber"])
    url = f"{CLIENT}/channels/{merged_world['news'].public_id}/programs?date={BASE.date().isoformat()}"
    response = app.get(url, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    programs = response.json()["programs"]
    assert [p["title"] for p in programs] == MERGED
    assert [p["start"] for p in programs] == [iso(hour) for hour in range(8)]
    assert {p["epgSourceId"] for p in programs} == {merged_world["primary"].public_id,
                                                    merged_world["backup"].public_id}


def test_a_channel_offset_shifts_its_programs_when_read_and_never_the_stored_ones(app, api, merged_world):  # noqa: F811
    token = app_token(merged_world["subscriber"])
    url = f"{CLIENT}/channels/{merged_world['sport'].public_id}/programs?date={BASE.date().isoformat()}"
    programs = app.get(url, HTTP_AUTHORIZATION=f"Bearer {token}").json()["programs"]
    assert [(p["title"], p["start"], p["end"]) for p in programs] == [("Match", iso(1.5), iso(2.5))]
    assert ("sport.b", at(1), at(2), "Match") in stored(merged_world["backup"])

    response = api.put(f"{API}/channels/{merged_world['sport'].public_id}", {"epgOffsetMinutes": -60}, format="json")
    assert response.status_code == 200 and response.json()["epgOffsetMinutes"] == -60
    programs = app.get(url, HTTP_AUTHORIZATION=f"Bearer {token}").json()["programs"]
    assert [(p["title"], p["start"]) for p in programs] == [("Match", iso(0))]  # no re-import needed
    change = Operation.objects.filter(type=OperationType.UPDATE_CHANNEL).latest("id").payload["changes"]
    assert change == {"epgOffsetMinutes": {"old": 30, "new": -60}}


def test_the_xmltv_export_gives_the_merged_and_shifted_guides(app, merged_world):  # noqa: F811
    token = merged_world["subscriber"].playback_token
    response = app.get(f"{CLIENT}/epg.xml.gz?token={token}")
    assert response.status_code == 200
    xml = gzip.decompress(b"".join(response.streaming_content)).decode()
    news = re.findall(r'<programme start="(\d{14}) \+0000" stop="\d{14} \+0000" channel="news"><title[^>]*>(\w+)<', xml)
    assert [title for _, title in news] == MERGED
    assert [start for start, _ in news] == [at(hour).strftime("%Y%m%d%H%M%S") for hour in range(8)]
    sport = re.findall(r'<programme start="(\d{14}) \+0000" stop="(\d{14}) \+0000" channel="sport">', xml)
    assert sport == [(at(1.5).strftime("%Y%m%d%H%M%S"), at(2.5).strftime("%Y%m%d%H%M%S"))]


def test_play_sessions_find_the_program_on_the_merged_guide(merged_world):
    news, sport = merged_world["news"].id, merged_world["sport"].id
    moments = [(news, at(0.5)), (news, at(3.5)), (news, at(9)), (sport, at(1.25)), (sport, at(1.75))]
    titles = on_air.titles_on_air(moments)
    assert titles == ["P0", "B3", None, None, "Match"]
    ids = on_air.programs_on_air(moments)
    assert ids[1] == Program.objects.get(title="B3").id and ids[2] is None


def test_the_client_channel_list_shows_now_and_next_on_the_merged_guide(app, merged_world, monkeypatch):  # noqa: F811
    from django.utils import timezone

    monkeypatch.setattr(timezone, "now", lambda: at(3.5))
    token = app_token(merged_world["subscriber"])
    listed = {c["name"]: c for c in app.get(f"{CLIENT}/channels", HTTP_AUTHORIZATION=f"Bearer {token}").json()["channels"]}
    assert (listed["news"]["now"]["title"], listed["news"]["next"]["title"]) == ("B3", "P4")


def test_the_xtream_short_epg_is_the_merged_and_shifted_guide(api, portal, merged_world, monkeypatch):
    from django.test import Client
    from django.utils import timezone

    from tests.xtream.conftest import api as player_api
    from tests.xtream.conftest import enable_xtream

    enable_xtream(portal)
    clock = {"now": at(3.5)}
    monkeypatch.setattr(timezone, "now", lambda: clock["now"])
    player, subscriber = Client(HTTP_HOST=portal.domain), merged_world["subscriber"]
    subscriber.refresh_from_db()

    def short_epg(channel) -> list[tuple[str, int]]:
        response = player_api(player, subscriber, "get_short_epg", stream_id=channel.id, limit=3)
        assert response.status_code == 200, response.content
        return [(base64.b64decode(p["title"]).decode(), int(p["start_timestamp"]))
                for p in response.json()["epg_listings"]]

    def starts(*hours: float) -> list[int]:
        return [int(at(hour).timestamp()) for hour in hours]

    assert short_epg(merged_world["news"]) == list(zip(["B3", "P4", "P5"], starts(3, 4, 5)))
    clock["now"] = at(1.25)  # sport's Match, stored 01:00–02:00, is shifted by its +30 minutes
    assert short_epg(merged_world["sport"]) == [("Match", *starts(1.5))]
    # Without the offset the channel has one guide as stored (the one-query path): the next request sees it.
    response = api.put(f"{API}/channels/{merged_world['sport'].public_id}", {"epgOffsetMinutes": 0}, format="json")
    assert response.status_code == 200
    assert short_epg(merged_world["sport"]) == [("Match", *starts(1))]


# --- The channel's epgSources in the Management API ------------------------------------------------------


def test_epg_sources_are_the_pair_first_then_the_further_sources(api, portal):
    source = make_source(portal, "primary")
    response = api.post(f"{API}/channels", {"name": "news", "title": "News", "epgSources": [
        {"epgSourceName": "primary", "epgChannelName": "news.p"},
        {"epgSourceName": "later", "epgChannelName": "news.l"}]}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["epgSourceName"], body["epgChannelName"], body["epgOffsetMinutes"]) == ("primary", "news.p", 0)
    assert body["epgSources"] == [{"epgSourceName": "primary", "epgChannelName": "news.p"},
                                  {"epgSourceName": "later", "epgChannelName": "news.l"}]
    channel = Channel.objects.get()
    assert channel.epg_source == source and channel.epg_extra_sources == [["later", "news.l", None]]
    created = Operation.objects.get(type=OperationType.CREATE_CHANNEL).payload["changes"]
    assert created["epgSources"]["new"] == body["epgSources"]

    later = make_source(portal, "later")  # linked when a source takes the name
    channel.refresh_from_db()
    assert channel.epg_extra_sources == [["later", "news.l", later.id]]
    api.put(f"{API}/epg-sources/{later.public_id}", {"name": "renamed"}, format="json")
    assert api.get(f"{API}/channels/{channel.public_id}").json()["epgSources"][1]["epgSourceName"] == "renamed"

    # The pair alone still works as in the manual, and keeps the further sources.
    response = api.put(f"{API}/channels/{channel.public_id}", {"epgChannelName": "news.p2"}, format="json")
    assert response.json()["epgSources"] == [{"epgSourceName": "primary", "epgChannelName": "news.p2"},
                                             {"epgSourceName": "renamed", "epgChannelName": "news.l"}]
    # Deleting the first source makes the next one first; the channel keeps a guide.
    assert api.delete(f"{API}/epg-sources/{source.public_id}").status_code == 201  # the manual's status
    body = api.get(f"{API}/channels/{channel.public_id}").json()
    assert (body["epgSourceName"], body["epgChannelName"]) == ("renamed", "news.l")
    assert body["epgSources"] == [{"epgSourceName": "renamed", "epgChannelName": "news.l"}]
    assert Operation.objects.get(type=OperationType.DELETE_EPG_SOURCE).payload["channels"] == ["news"]
    channel.refresh_from_db()
    assert channel.epg_source_id == later.id and channel.epg_extra_sources == []
    assert api.put(f"{API}/channels/{channel.public_id}", {"epgSources": []}, format="json").json()[
        "epgSources"] == []


def test_a_get_change_put_round_trip_changes_the_pair_or_the_list_whichever_was_edited(api, portal):
    channel = make_channel(portal, "news", "News", epgSources=[{"epgSourceName": "a-src", "epgChannelName": "a"},
                                                               {"epgSourceName": "b-src", "epgChannelName": "b"}])
    url = f"{API}/channels/{channel.public_id}"
    body = api.get(url).json()
    response = api.put(url, {**body, "epgSourceName": "c-src"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["epgSources"] == [{"epgSourceName": "c-src", "epgChannelName": "a"},
                                             {"epgSourceName": "b-src", "epgChannelName": "b"}]
    body = response.json()
    response = api.put(url, {**body, "epgSources": body["epgSources"][::-1]}, format="json")
    assert response.status_code == 200, response.json()
    assert (response.json()["epgSourceName"], response.json()["epgChannelName"]) == ("b-src", "b")
    response = api.put(url, {**body, "epgSourceName": "d-src", "epgSources": []}, format="json")  # both changed
    assert response.json()["epgSources"] == [{"epgSourceName": "d-src", "epgChannelName": "a"}]  # the pair leads
    response = api.put(url, {"epgSourceName": None, "epgSources": body["epgSources"]}, format="json")
    assert response.status_code == 400 and list(response.json()["errors"]) == ["epgSources"]


@pytest.mark.parametrize(("data", "field"), [
    ({"epgOffsetMinutes": 1441}, "epgOffsetMinutes"),
    ({"epgOffsetMinutes": "abc"}, "epgOffsetMinutes"),
    ({"epgSources": [{"epgSourceName": "a-src", "epgChannelName": "x"},
                     {"epgSourceName": "a-src", "epgChannelName": "y"}]}, "epgSources"),
    ({"epgSources": [{"epgSourceName": "a-src", "epgChannelName": "x"}, {"epgSourceName": "b-src",
                                                                         "epgChannelName": "y"}],
      "epgSourceName": "b-src"}, "epgSources"),  # the pair sent leads the list: b-src twice
    ({"epgSources": [{"epgSourceName": "a src", "epgChannelName": "x"}]}, "epgSources.0.epgSourceName"),
    ({"epgSources": [{"epgSourceName": "a-src"}]}, "epgSources.0.epgChannelName"),
    ({"epgSources": "a-src"}, "epgSources"),
    ({"epgSourceName": "b-src"}, "epgSourceName"),  # already among its further sources
])
def test_bad_epg_fields_are_400_naming_the_field_and_change_nothing(api, portal, data, field):
    channel = make_channel(portal, "news", "News", epgSources=[{"epgSourceName": "a-src", "epgChannelName": "a"},
                                                               {"epgSourceName": "b-src", "epgChannelName": "b"}])
    before = (Operation.objects.count(), Channel.objects.values_list(
        "epg_source_name", "epg_channel_name", "epg_extra_sources", "epg_offset_minutes").get())
    response = api.put(f"{API}/channels/{channel.public_id}", data, format="json")
    assert response.status_code == 400, response.json()
    assert list(response.json()["errors"]) == [field]
    assert (Operation.objects.count(), Channel.objects.values_list(
        "epg_source_name", "epg_channel_name", "epg_extra_sources", "epg_offset_minutes").get()) == before


def test_another_portals_channel_cannot_be_given_sources(api, portal, other_portal):
    theirs = make_channel(other_portal, "theirs", "Theirs")
    response = api.put(f"{API}/channels/{theirs.public_id}", {"epgOffsetMinutes": 5}, format="json")
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.epg_offset_minutes == 0


# --- Screens ---------------------------------------------------------------------------------------------


def test_the_source_form_sets_the_offset(web, portal):  # noqa: F811
    response = web["content"].post("/epg-sources/new/", {"name": "moscow", "url": "https://e.example.com/g.xml",
                                                         "period": "1", "offset_minutes": "180",
                                                         "force_offset": "on"})
    assert response.status_code == 302
    source = EpgSource.objects.get(name="moscow")
    assert (source.offset_minutes, source.force_offset) == (180, True)
    html = page(web["content"].get(f"/epg-sources/{source.public_id}/edit/"))
    assert re.search(r'name="offset_minutes"[^>]*value="180"', html)
    response = web["content"].post(f"/epg-sources/{source.public_id}/edit/", {
        "name": "moscow", "url": "https://e.example.com/g.xml", "period": "1", "offset_minutes": "1441"})
    assert response.status_code == 400 and "from -1440 to 1440" in page(response)
    source.refresh_from_db()
    assert (source.offset_minutes, source.force_offset) == (180, True)


def test_the_channel_form_sets_further_sources_and_the_offset(web, portal):  # noqa: F811
    make_source(portal, "primary")
    form = {"name": "news", "title": "News", "epg_source": "primary", "epg_channel_name": "news.p",
            "epg_extra_sources": "backup news.b\n\nthird news 3", "epg_offset_minutes": "-90",
            "quality": "HD", "archive_days": "0"}
    response = web["content"].post("/channels/new/", form)
    assert response.status_code == 302, page(response)[:2000]
    channel = Channel.objects.get(name="news")
    assert channel.epg_sources == [{"epgSourceName": "primary", "epgChannelName": "news.p"},
                                   {"epgSourceName": "backup", "epgChannelName": "news.b"},
                                   {"epgSourceName": "third", "epgChannelName": "news 3"}]
    assert channel.epg_offset_minutes == -90
    html = page(web["content"].get(f"/channels/{channel.public_id}/"))
    assert "backup news.b\nthird news 3" in html and re.search(r'name="epg_offset_minutes"[^>]*value="-90"', html)

    for bad, message in [({"epg_offset_minutes": "abc"}, "Enter a whole number."),
                         ({"epg_offset_minutes": "2000"}, "from -1440 to 1440"),
                         ({"epg_extra_sources": "primary again"}, "listed twice"),
                         ({"epg_extra_sources": "lonely"}, "write a source name, a space")]:
        response = web["content"].post(f"/channels/{channel.public_id}/", {**form, **bad})
        assert response.status_code == 400 and message in page(response), bad
    channel.refresh_from_db()
    assert channel.epg_offset_minutes == -90 and len(channel.epg_sources) == 3
    response = web["content"].post(f"/channels/{channel.public_id}/", {**form, "epg_extra_sources": ""})
    assert response.status_code == 302
    channel.refresh_from_db()
    assert channel.epg_extra_sources == []
    change = Operation.objects.filter(type=OperationType.UPDATE_CHANNEL).latest("id").payload["changes"]
    assert list(change) == ["epgSources"]
