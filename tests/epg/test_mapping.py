"""Issue 19, guided mapping: the XMLTV channels an import stores (both parsing paths), the suggestions (exact id,
normalised name, fuzzy), accepting them through the Management API and the screens, the warning when a channel
names an EPG channel its source does not list, and the channel page's schedule for today."""

from __future__ import annotations

import datetime as dt
from xml.sax.saxutils import escape, quoteattr

import pytest
import time_machine

from content.epg import pipeline
from content.epg.mapping import Matcher, Suggestion, normalise
from content.epg.xmltv import XmltvParser
from content.inputs import MAX_EPG_SOURCES
from content.models import Channel, EpgSourceChannel
from monitoring.operations import Operation, OperationType
from portals.auth import Caller
from portals.services import update_portal
from tests.conftest import API
from tests.content.test_channels_api import make_channel
from tests.epg.helpers import fetch_now, make_source, program
from tests.web.conftest import page, web  # noqa: F401  (the screens' fixture)

pytestmark = pytest.mark.django_db


def channel_element(channel_id: str, *names: str | tuple[str, str], icon: str = "") -> str:
    """A ``<channel>`` with display names (``(name, lang)`` or a name) and an icon."""
    inner = "".join(f"<display-name lang={quoteattr(name[1])}>{escape(name[0])}</display-name>"
                    if isinstance(name, tuple) else f"<display-name>{escape(name)}</display-name>" for name in names)
    if icon:
        inner += f"<icon src={quoteattr(icon)}/>"
    return f"  <channel id={quoteattr(channel_id)}>{inner}</channel>\n"


def xmltv(*parts: str) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<tv>\n' + "".join(parts) + "</tv>\n").encode()


GUIDE = xmltv(
    channel_element("bbcone.uk", ("BBC One", "en"), ("BBC 1", "en"), "BBC One HD", icon="https://img.example/bbc1.png"),
    channel_element("c4.uk", "Channel 4"),
    channel_element("c4plus1.uk", "Channel 4 +1"),
    channel_element("discovery", "Discovery Channel Europe"),
    channel_element("empty.tv"),
    program("bbcone.uk", 0, 1, "News"), program("bbcone.uk", 1, 2, "Weather"),
    program("c4.uk", 0, 2, "Film"),
    program("unlisted.tv", 0, 1, "Orphan"),
)


def stored_channels(source) -> list[tuple]:
    return list(EpgSourceChannel.objects.filter(epg_source=source).order_by("xmltv_id").values_list(
        "xmltv_id", "display_names", "icon", "program_count", "listed"))


EXPECTED = [
    ("bbcone.uk", [["BBC One", "en"], ["BBC 1", "en"], ["BBC One HD", ""]], "https://img.example/bbc1.png", 2, True),
    ("c4.uk", [["Channel 4", ""]], "", 1, True),
    ("c4plus1.uk", [["Channel 4 +1", ""]], "", 0, True),
    ("discovery", [["Discovery Channel Europe", ""]], "", 0, True),
    ("empty.tv", [], "", 0, True),
    ("unlisted.tv", [], "", 1, False),
]


@pytest.fixture(params=["parser process", "in process"])
def parsing(request, monkeypatch):
    """Both ways of reading a guide: in a forked parser process, and in the worker itself (a platform that
    cannot fork)."""
    if request.param == "parser process":
        if not pipeline.available():
            pytest.skip("the parser process needs os.fork")
    else:
        monkeypatch.setattr(pipeline, "available", lambda: False)
    return request.param


def test_an_import_stores_the_guides_channels_with_names_icon_and_program_counts(portal, server, parsing):
    source = make_source(portal, url=server.serve("/guide.xml", GUIDE))
    assert fetch_now(source).status == "success"
    assert stored_channels(source) == EXPECTED


def test_a_new_import_replaces_the_channels_and_a_failed_one_keeps_them(portal, server, parsing):
    source = make_source(portal, url=server.serve("/guide.xml", GUIDE))
    assert fetch_now(source).status == "success"
    server.serve("/guide.xml", xmltv(channel_element("c4.uk", "Channel Four"), program("c4.uk", 0, 1, "Film")))
    assert fetch_now(source).status == "success"
    assert stored_channels(source) == [("c4.uk", [["Channel Four", ""]], "", 1, True)]
    server.serve("/guide.xml", xmltv(channel_element("x.tv", "X"), program("x.tv", 0, 1, "Film"))[:-8])  # cut
    assert fetch_now(source).status == "error"
    assert stored_channels(source) == [("c4.uk", [["Channel Four", ""]], "", 1, True)]


def test_the_parser_keeps_channel_elements_bounded():
    names = [f"Name {n} " + "x" * 300 for n in range(15)]
    parser = XmltvParser()
    parser.feed(xmltv(channel_element("a.tv", *names, icon="https://i.example/" + "i" * 2100),
                      channel_element("a.tv", "Second element of a.tv"), channel_element(""),
                      program("a.tv", 0, 1, "Show")))
    parser.close()
    [(channel_id, kept, icon, count, listed)] = parser.channel_listing()
    assert (channel_id, icon, count, listed) == ("a.tv", "", 1, True)  # an icon URL too long is dropped
    assert len(kept) == 10 and kept[0] == [names[0][:200], ""]  # the first 10 names, 200 characters each


# --- Suggestions -------------------------------------------------------------------------------------------


def test_normalising_folds_case_accents_punctuation_quality_and_the_ids_country_but_keeps_plus_one():
    assert normalise("BBC One HD") == normalise("bbc-one") == normalise("BBCOne.uk") == "bbcone"
    assert normalise("Télé Monte-Carlo FHD") == "telemontecarlo"
    assert normalise("Channel 4 +1") == "channel4plus1" != normalise("Channel 4")
    assert normalise("HD") == "hd"  # a name that is only a quality word keeps it


MATCHER = Matcher([
    ("bbcone.uk", ["BBC One", "BBC 1"]),
    ("c4.uk", ["Channel 4"]),
    ("c4plus1.uk", ["Channel 4 +1"]),
    ("discovery", ["Discovery Channel Europe"]),
    ("News24", []),
])


@pytest.mark.parametrize(("name", "title", "expected"), [
    ("news24", "Rolling news", Suggestion("News24", "id", 100)),  # the id, any case
    ("bbc1", "BBC One HD", Suggestion("bbcone.uk", "name", 100)),
    ("c4", "Channel 4", Suggestion("c4.uk", "name", 100)),
    ("c4p1", "Channel 4 +1 HD", Suggestion("c4plus1.uk", "name", 100)),
    ("disc", "Discovery Channel Europ", Suggestion("discovery", "fuzzy", 98)),
    ("c5", "Channel 5", None),  # close to "Channel 4" but another number: never suggested
    ("c4p2", "Channel 4 +2", None),
    ("cartoon", "Cartoon Network", None),
])
def test_suggestions_try_the_exact_id_then_normalised_names_then_fuzzy_names_with_the_same_numbers(
        name, title, expected):
    assert MATCHER.suggest_for(name, title) == expected


# --- Management API ----------------------------------------------------------------------------------------


@pytest.fixture
def fetched(portal, server):
    """A source fetched once (GUIDE), and channels: one to be matched by id, one by name, one fuzzy, one
    already mapped, one without a match."""
    source = make_source(portal, url=server.serve("/guide.xml", GUIDE))
    assert fetch_now(source).status == "success"
    channels = {
        "by_id": make_channel(portal, "discovery", "Discovery", number=1),
        "by_name": make_channel(portal, "bbc1", "BBC One HD", number=2),
        "fuzzy": make_channel(portal, "disc", "Discovery Channel Europ", number=3),
        "mapped": make_channel(portal, "c4", "Channel 4", number=4, epgSourceName=source.name,
                               epgChannelName="c4.uk"),
        "none": make_channel(portal, "cartoon", "Cartoon Network", number=5),
    }
    return source, channels


def test_the_api_lists_the_sources_xmltv_channels(api, fetched):
    source, _ = fetched
    response = api.get(f"{API}/epg-sources/{source.public_id}/channels")
    assert response.status_code == 200
    assert response.json()["epgChannels"][0] == {
        "id": "bbcone.uk", "displayNames": [{"name": "BBC One", "lang": "en"}, {"name": "BBC 1", "lang": "en"},
                                            {"name": "BBC One HD", "lang": ""}],
        "icon": "https://img.example/bbc1.png", "programCount": 2, "listed": True}
    assert [(c["id"], c["programCount"], c["listed"]) for c in response.json()["epgChannels"]] == [
        (channel_id, count, listed) for channel_id, _, _, count, listed in EXPECTED]


def test_a_source_never_fetched_lists_no_channels_and_suggests_nothing(api, portal):
    source = make_source(portal)
    make_channel(portal, "bbc1", "BBC One")
    assert api.get(f"{API}/epg-sources/{source.public_id}/channels").json() == {"epgChannels": []}
    assert api.get(f"{API}/epg-sources/{source.public_id}/mapping").json()["mapping"][0]["suggestion"] is None


def test_the_api_suggests_and_shows_what_is_mapped(api, fetched):
    source, channels = fetched
    rows = api.get(f"{API}/epg-sources/{source.public_id}/mapping").json()["mapping"]
    assert [(row["name"], row["epgChannelName"], row["inGuide"], row["suggestion"]) for row in rows] == [
        ("discovery", "", False, {"epgChannelName": "discovery", "method": "id", "score": 100}),
        ("bbc1", "", False, {"epgChannelName": "bbcone.uk", "method": "name", "score": 100}),
        ("disc", "", False, {"epgChannelName": "discovery", "method": "fuzzy", "score": 98}),
        ("c4", "c4.uk", True, None),
        ("cartoon", "", False, None),
    ]
    assert rows[0]["channelId"] == channels["by_id"].public_id
    assert set(rows[0]) == {"channelId", "name", "title", "epgChannelName", "inGuide", "suggestion"}


def test_accepting_all_suggestions_maps_them_in_one_go_each_recorded_as_a_channel_update(api, fetched):
    source, channels = fetched
    response = api.post(f"{API}/epg-sources/{source.public_id}/mapping", {"acceptAll": True}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json() == {"mapped": [
        {"channelId": channels["by_id"].public_id, "epgChannelName": "discovery"},
        {"channelId": channels["by_name"].public_id, "epgChannelName": "bbcone.uk"},
        {"channelId": channels["fuzzy"].public_id, "epgChannelName": "discovery"}]}
    assert dict(Channel.objects.filter(epg_source=source).values_list("name", "epg_channel_name")) == {
        "discovery": "discovery", "bbc1": "bbcone.uk", "disc": "discovery", "c4": "c4.uk"}
    operations = Operation.objects.filter(type=OperationType.UPDATE_CHANNEL).order_by("id")
    assert [op.payload["name"] for op in operations] == ["discovery", "bbc1", "disc"]
    assert operations[1].payload["changes"]["epgChannelName"] == {"old": "", "new": "bbcone.uk"}


def test_accepting_one_mapping_adds_the_source_after_another_sources_pair(api, portal, fetched):
    source, channels = fetched
    other = make_source(portal, "other-epg")
    channel = make_channel(portal, "plus", "Channel 4 +1", epgSourceName=other.name, epgChannelName="c4p1")
    response = api.post(f"{API}/epg-sources/{source.public_id}/mapping",
                        {"accept": [{"channelId": channel.public_id, "epgChannelName": "c4plus1.uk"}]}, format="json")
    assert response.status_code == 200, response.json()
    channel.refresh_from_db()
    assert channel.epg_sources == [{"epgSourceName": "other-epg", "epgChannelName": "c4p1"},
                                   {"epgSourceName": source.name, "epgChannelName": "c4plus1.uk"}]
    # Accepting it again changes nothing and records nothing.
    count = Operation.objects.count()
    again = api.post(f"{API}/epg-sources/{source.public_id}/mapping",
                     {"accept": [{"channelId": channel.public_id, "epgChannelName": "c4plus1.uk"}]}, format="json")
    assert again.json() == {"mapped": []} and Operation.objects.count() == count


def test_an_accept_naming_another_portals_channel_is_404_and_changes_nothing(api, fetched, other_portal):
    source, channels = fetched
    foreign = make_channel(other_portal, "bbc1", "BBC One")
    response = api.post(f"{API}/epg-sources/{source.public_id}/mapping", {"acceptAll": True, "accept": [
        {"channelId": channels["none"].public_id, "epgChannelName": "bbcone.uk"},
        {"channelId": foreign.public_id, "epgChannelName": "bbcone.uk"}]}, format="json")
    assert response.status_code == 404
    assert Channel.objects.filter(epg_source=source).count() == 1  # only the channel mapped before
    assert not Operation.objects.filter(type=OperationType.UPDATE_CHANNEL).exists()


def test_an_accept_refused_for_one_channel_maps_none_of_them(api, portal, fetched):
    source, channels = fetched
    # A channel whose guide already merges the most sources a channel may list: one more is refused.
    others = [make_source(portal, f"other-{index}") for index in range(MAX_EPG_SOURCES)]
    full = make_channel(portal, "full", "Full", epgSources=[
        {"epgSourceName": other.name, "epgChannelName": "x"} for other in others])
    response = api.post(f"{API}/epg-sources/{source.public_id}/mapping", {"accept": [
        {"channelId": channels["none"].public_id, "epgChannelName": "bbcone.uk"},  # accepted first, then undone
        {"channelId": full.public_id, "epgChannelName": "discovery"}]}, format="json")
    assert response.status_code == 400 and "epgSources" in response.json()["errors"], response.json()
    assert Channel.objects.get(pk=channels["none"].pk).epg_sources == []
    assert len(Channel.objects.get(pk=full.pk).epg_sources) == MAX_EPG_SOURCES
    assert not Operation.objects.filter(type=OperationType.UPDATE_CHANNEL).exists()


@pytest.mark.parametrize(("body", "field"), [
    ({"acceptAll": "yes"}, "acceptAll"),
    ({"accept": "all"}, "accept"),
    ({"accept": [{"channelId": "nope", "epgChannelName": "x"}]}, "accept.0.channelId"),
    ({"accept": [{"channelId": None, "epgChannelName": ""}]}, "accept.0.epgChannelName"),
    ({"accept": [{"epgChannelName": "x"}]}, "accept.0.channelId"),
])
def test_bad_mapping_input_is_400_naming_the_field_and_changes_nothing(api, fetched, body, field):
    source, _ = fetched
    response = api.post(f"{API}/epg-sources/{source.public_id}/mapping", body, format="json")
    assert response.status_code == 400 and field in response.json()["errors"], response.json()
    assert not Operation.objects.filter(type=OperationType.UPDATE_CHANNEL).exists()


def test_a_channel_listed_twice_is_400(api, fetched):
    source, channels = fetched
    entry = {"channelId": channels["none"].public_id, "epgChannelName": "bbcone.uk"}
    response = api.post(f"{API}/epg-sources/{source.public_id}/mapping", {"accept": [entry, entry]}, format="json")
    assert response.status_code == 400 and response.json()["errors"]["accept"] == ["A channel is listed twice."]


def test_mapping_needs_a_content_admin_and_another_portals_source_is_404(clients, stranger, fetched):
    source, _ = fetched
    url = f"{API}/epg-sources/{source.public_id}/mapping"
    assert clients["viewer"].get(url).status_code == 200
    assert clients["viewer"].post(url, {"acceptAll": True}, format="json").status_code == 403
    assert clients["content"].post(url, {"acceptAll": True}, format="json").status_code == 200
    assert stranger.get(url).status_code == 404
    assert stranger.get(f"{API}/epg-sources/{source.public_id}/channels").status_code == 404
    assert stranger.post(url, {"acceptAll": True}, format="json").status_code == 404


def test_saving_a_channel_whose_epg_channel_is_not_in_the_fetched_guide_warns_but_saves(api, portal, fetched):
    source, channels = fetched
    url = f"{API}/channels/{channels['none'].public_id}"
    response = api.put(url, {"epgSourceName": source.name, "epgChannelName": "cartoon.tv"}, format="json")
    assert response.status_code == 200
    assert response["Warning"] == (f'299 - "The EPG channel cartoon.tv is not in the guide of {source.name} as last '
                                   'fetched; the channel shows no programmes from it until the guide lists it."')
    assert response.json()["epgChannelName"] == "cartoon.tv"
    assert "Warning" not in api.put(url, {"epgChannelName": "c4.uk"}, format="json")
    # A source never fetched gives no warning: its guide may come later.
    later = make_source(portal, "later-epg")
    created = api.post(f"{API}/channels", {"name": "new", "title": "New", "epgSourceName": later.name,
                                           "epgChannelName": "anything"}, format="json")
    assert created.status_code == 201 and "Warning" not in created



def test_a_warning_for_a_name_with_a_newline_or_accents_is_a_valid_header(api, fetched):
    """A name is free text: the header escapes what a header cannot hold, and the answer is the save's 200."""
    source, channels = fetched
    url = f"{API}/channels/{channels['none'].public_id}"
    response = api.put(url, {"epgSourceName": source.name, "epgChannelName": "bb\nc1 é"}, format="json")
    assert response.status_code == 200
    assert response["Warning"].startswith('299 - "The EPG channel bb\\nc1 \\xe9 is not in the guide of')
    assert Channel.objects.get(pk=channels["none"].pk).epg_channel_name == "bb\nc1 é"


@pytest.mark.django_db(transaction=True)
def test_accepting_while_another_save_holds_the_portal_waits_instead_of_deadlocking(portal, server):
    """A channel save locks the portal, then the channel; the accept takes them in the same order (PostgreSQL:
    the other order ended in "deadlock detected", a 500)."""
    import threading

    from django.db import connection, transaction

    from content import services as content_services
    from content.epg import mapping

    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's (SQLite serialises every write transaction)")
    source = make_source(portal, url=server.serve("/guide.xml", GUIDE))
    assert fetch_now(source).status == "success"
    channel = make_channel(portal, "cartoon", "Cartoon Network", number=5)
    holding, errors = threading.Event(), []

    def save_elsewhere():
        try:
            with transaction.atomic():
                content_services.lock_portal(portal)
                holding.set()
                threading.Event().wait(0.5)  # the accept starts meanwhile
                Channel.objects.select_for_update().get(pk=channel.pk)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=save_elsewhere)
    thread.start()
    assert holding.wait(10)
    changed = mapping.accept_mappings(source, [(channel, "discovery")], caller=Caller(portal=portal))
    thread.join()
    assert errors == []
    assert [name for _, name in changed] == ["discovery"]
    assert Channel.objects.get(pk=channel.pk).epg_channel_name == "discovery"

# --- Screens -----------------------------------------------------------------------------------------------


def test_the_mapping_screen_lists_the_guides_channels_beside_the_portals_with_suggestions(web, fetched):  # noqa: F811
    source, _ = fetched
    html = page(web["viewer"].get(f"/epg-sources/{source.public_id}/"))
    assert f"/epg-sources/{source.public_id}/mapping/" in html  # linked from the source page and its fetch result
    assert 'data-testid="map-channels"' in html
    response = web["viewer"].get(f"/epg-sources/{source.public_id}/mapping/")
    assert response.status_code == 200
    html = page(response)
    assert html.count('data-testid="xmltv-channel"') == 6 and "https://img.example/bbc1.png" in html
    assert "BBC One <span class=\"muted small\">en</span>; BBC 1" in html
    assert html.count('data-testid="mapping-row"') == 4  # unmapped only, by default
    assert "same name · 100%" in html and "similar name · 98%" in html
    assert 'data-testid="accept-all"' not in html  # a viewer reads, never accepts
    html = page(web["content"].get(f"/epg-sources/{source.public_id}/mapping/?show=mapped"))
    assert html.count('data-testid="mapping-row"') == 1 and 'data-channel="c4"' in html
    html = page(web["content"].get(f"/epg-sources/{source.public_id}/mapping/?show=all&search=bbc"))
    assert html.count('data-testid="mapping-row"') == 1 and html.count('data-testid="xmltv-channel"') == 1
    assert 'data-testid="accept-all"' in html


def test_accepting_one_suggestion_then_all_on_the_screen(web, fetched):  # noqa: F811
    source, channels = fetched
    url = f"/epg-sources/{source.public_id}/mapping/"
    response = web["content"].post(url, {"channel": channels["by_name"].public_id,
                                         "epg_channel_name": "bbcone.uk", "back": "show=all"}, follow=True)
    assert response.redirect_chain == [(url + "?show=all", 302)]
    assert "1 channel now reads its guide from main-epg: BBC One HD → bbcone.uk." in page(response)
    assert Channel.objects.get(pk=channels["by_name"].pk).epg_channel_name == "bbcone.uk"
    response = web["content"].post(url, {"accept_all": "1"}, follow=True)
    assert "2 channels now read their guide from main-epg" in page(response)
    assert Operation.objects.filter(type=OperationType.UPDATE_CHANNEL).count() == 3
    assert Operation.objects.filter(type=OperationType.UPDATE_CHANNEL).latest("id").actor_email == \
        "content@example.com"
    response = web["content"].post(url, {"accept_all": "1"}, follow=True)
    assert "Nothing to map: no channel changed." in page(response)


def test_the_screen_refuses_viewers_and_other_portals_channels(web, fetched, other_portal):  # noqa: F811
    source, channels = fetched
    url = f"/epg-sources/{source.public_id}/mapping/"
    assert web["viewer"].post(url, {"accept_all": "1"}).status_code == 403
    foreign = make_channel(other_portal, "bbc1", "BBC One")
    response = web["content"].post(url, {"channel": foreign.public_id, "epg_channel_name": "bbcone.uk"})
    assert response.status_code == 404
    assert not Operation.objects.filter(type=OperationType.UPDATE_CHANNEL).exists()


def test_the_mapping_screen_of_a_source_never_fetched_says_what_to_do(web, portal):  # noqa: F811
    source = make_source(portal)
    html = page(web["content"].get(f"/epg-sources/{source.public_id}/mapping/"))
    assert "No XMLTV channels yet" in html and "Update now" in html


def test_saving_a_channel_on_its_page_warns_when_the_guide_lacks_its_epg_channel(web, fetched):  # noqa: F811
    source, channels = fetched
    form = {"name": "cartoon", "title": "Cartoon Network", "epg_source": source.name,
            "epg_channel_name": "cartoon.tv", "quality": "HD", "archive_days": "0", "epg_offset_minutes": "0"}
    response = web["content"].post(f"/channels/{channels['none'].public_id}/", form, follow=True)
    html = page(response)
    assert "Channel cartoon saved." in html
    assert "The EPG channel cartoon.tv is not in the guide of main-epg as last fetched" in html
    assert Channel.objects.get(pk=channels["none"].pk).epg_channel_name == "cartoon.tv"
    html = page(web["content"].post(f"/channels/{channels['none'].public_id}/",
                                     {**form, "epg_channel_name": "c4.uk"}, follow=True))
    assert "Channel cartoon saved." in html and "is not in the guide" not in html


def test_the_channel_page_shows_todays_schedule_in_the_portals_time_zone(web, portal, server):  # noqa: F811
    """Frozen at 10:00 UTC; the portal shows Moscow time (UTC+3): the day is 00:00–24:00 Moscow time, so a
    programme at 22:00 UTC (01:00 Moscow, tomorrow) is left out and one at 21:30 the previous UTC day is in."""
    now = dt.datetime(2030, 6, 10, 10, 0, tzinfo=dt.UTC)
    update_portal(portal, caller=Caller(portal=portal), data={"settings": {"timeZone": "Europe/Moscow"}})

    def xml_time(hour: float, day: int = 10) -> str:
        return (dt.datetime(2030, 6, day, tzinfo=dt.UTC) + dt.timedelta(hours=hour)).strftime("%Y%m%d%H%M%S +0000")

    body = xmltv(channel_element("one.tv", "One"), *[
        f'<programme start="{xml_time(start, day)}" stop="{xml_time(stop, day)}" channel="one.tv">'
        f"<title>{title}</title></programme>"
        for start, stop, title, day in [(21.5, 22, "Late yesterday UTC", 9), (8, 9, "Morning", 10),
                                        (22, 23, "After midnight Moscow", 10)]])
    source = make_source(portal, url=server.serve("/g.xml", body))
    assert fetch_now(source).status == "success"  # the guide lies in the future: kept whatever today is
    channel = make_channel(portal, "one", "One", epgSourceName=source.name, epgChannelName="one.tv")
    empty = make_channel(portal, "two", "Two")
    with time_machine.travel(now, tick=False):
        html = page(web["viewer"].get(f"/channels/{channel.public_id}/"))
        assert "Schedule for today, 2030-06-10" in html
        assert html.count('data-testid="schedule-program"') == 2
        assert "00:30–01:00" in html and "11:00–12:00" in html and "After midnight" not in html
        html = page(web["viewer"].get(f"/channels/{empty.public_id}/"))
        assert "No programmes today" in html


def test_the_mapping_reads_take_a_fixed_number_of_queries_whatever_the_channel_count(
        api, portal, fetched, django_assert_max_num_queries):
    source, _ = fetched
    for number in range(20):
        make_channel(portal, f"extra{number}", f"Extra channel {number}")
    with django_assert_max_num_queries(8):
        rows = api.get(f"{API}/epg-sources/{source.public_id}/mapping").json()["mapping"]
    assert len(rows) == 25
    with django_assert_max_num_queries(8):
        api.get(f"{API}/epg-sources/{source.public_id}/channels")
