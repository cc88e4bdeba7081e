"""The guided mapping's suggestions are computed once per stored XMLTV channel list and channel name, then read
from the shared cache: a fetch computes them at its end, and anything a suggestion depends on (the stored list,
a channel's name or title) gives a fresh one at once."""

from __future__ import annotations

import logging

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from content.epg import mapping
from content.epg.channels import replace_source_channels
from content.models import Channel, EpgSource
from tests.conftest import API
from tests.content.test_channels_api import make_channel
from tests.epg.helpers import fetch_now, make_source, program
from tests.epg.test_mapping import GUIDE, channel_element, fetched, xmltv  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db


def suggestions(api, source) -> dict[str, tuple | None]:
    """Each channel's suggestion on the API, by channel name: ``(epgChannelName, method, score)`` or None."""
    rows = api.get(f"{API}/epg-sources/{source.public_id}/mapping").json()["mapping"]
    return {row["name"]: row["suggestion"] and tuple(row["suggestion"].values()) for row in rows}


def reads_the_xmltv_channels(call) -> bool:
    """Whether ``call`` read the stored XMLTV channels' names (what computing a suggestion needs)."""
    with CaptureQueriesContext(connection) as queries:
        call()
    return any("display_names" in query["sql"] for query in queries.captured_queries)


def test_after_a_fetch_the_mapping_is_read_without_computing_a_suggestion(api, fetched):  # noqa: F811
    source, _ = fetched  # fetched before its channels were made: the fetch had none to compute
    assert fetch_now(source).status == "success"  # the same guide again: only the suggestions are computed
    assert not reads_the_xmltv_channels(lambda: suggestions(api, source))
    assert suggestions(api, source) == {
        "discovery": ("discovery", "id", 100), "bbc1": ("bbcone.uk", "name", 100),
        "disc": ("discovery", "fuzzy", 98), "c4": None, "cartoon": None}


def test_a_warm_mapping_read_takes_a_pinned_number_of_queries(api, portal, fetched, django_assert_num_queries):  # noqa: F811
    source, _ = fetched
    for number in range(20):
        make_channel(portal, f"extra{number}", f"Extra channel {number}")
    suggestions(api, source)  # computes the new channels' suggestions
    # The API key, the source, the portal's channels, which mapped names the guide lists.
    with django_assert_num_queries(4):
        assert len(suggestions(api, source)) == 25


def test_a_renamed_channel_gets_the_suggestion_of_its_new_title_at_once(api, fetched):  # noqa: F811
    source, channels = fetched
    assert suggestions(api, source)["cartoon"] is None
    response = api.put(f"{API}/channels/{channels['none'].public_id}", {"title": "Channel 4 +1 HD"}, format="json")
    assert response.status_code == 200
    assert suggestions(api, source)["cartoon"] == ("c4plus1.uk", "name", 100)
    # Renamed back: the old answer again (kept in the cache, read without computing).
    api.put(f"{API}/channels/{channels['none'].public_id}", {"title": "Cartoon Network"}, format="json")
    assert not reads_the_xmltv_channels(lambda: suggestions(api, source))
    assert suggestions(api, source)["cartoon"] is None


def test_a_new_channel_gets_a_suggestion_at_once(api, portal, fetched):  # noqa: F811
    source, _ = fetched
    suggestions(api, source)
    make_channel(portal, "bbc1plus", "BBC One +1", number=9)
    assert suggestions(api, source)["bbc1plus"] is None  # "+1" is another channel: no guide lists it
    make_channel(portal, "c4p1", "Channel 4 +1", number=10)
    assert suggestions(api, source)["c4p1"] == ("c4plus1.uk", "name", 100)


def test_a_reimport_with_another_channel_list_gives_fresh_suggestions_at_once(api, server, fetched):  # noqa: F811
    source, _ = fetched
    assert suggestions(api, source)["disc"] == ("discovery", "fuzzy", 98)
    # The guide renames an id and lists a channel of the same name as the portal's Cartoon Network.
    server.serve("/guide.xml", xmltv(channel_element("discovery.eu", "Discovery Channel Europe"),
                                     channel_element("bbcone.uk", "BBC One"), channel_element("cn.tv", "Cartoon Network"),
                                     program("cn.tv", 0, 1, "Cartoons")))
    assert fetch_now(source).status == "success"
    assert suggestions(api, source) == {
        "discovery": ("discovery.eu", "name", 100), "bbc1": ("bbcone.uk", "name", 100),
        "disc": ("discovery.eu", "fuzzy", 98), "c4": None, "cartoon": ("cn.tv", "name", 100)}


def test_a_reimport_that_only_renames_a_guides_channel_gives_fresh_suggestions(api, server, fetched):  # noqa: F811
    source, _ = fetched
    assert suggestions(api, source)["cartoon"] is None
    server.serve("/guide.xml", GUIDE.replace(b"Discovery Channel Europe", b"Cartoon Network"))
    assert fetch_now(source).status == "success"
    assert suggestions(api, source)["cartoon"] == ("discovery", "name", 100)
    assert suggestions(api, source)["disc"] is None  # no longer close to any name of the guide


def test_a_reimport_of_the_same_channels_keeps_their_suggestions(api, server, fetched):  # noqa: F811
    source, _ = fetched
    digest = EpgSource.objects.get(pk=source.pk).channels_digest
    # Other programmes, other icons and languages: the ids and names, all a suggestion depends on, are the same.
    server.serve("/guide.xml", GUIDE.replace(b"Weather", b"Forecast").replace(b"bbc1.png", b"bbc-one.png")
                 .replace(b'lang="en"', b'lang="de"'))
    assert fetch_now(source).status == "success"
    assert EpgSource.objects.get(pk=source.pk).channels_digest == digest
    assert not reads_the_xmltv_channels(lambda: suggestions(api, source))


def test_the_stored_lists_digest_changes_only_with_its_ids_and_names(portal):
    source = make_source(portal)
    assert not replace_source_channels(source.id, [])
    assert replace_source_channels(source.id, [("b.tv", [["B", "en"]], "", 3, True), ("a.tv", [], "", 1, False)])
    first = EpgSource.objects.get(pk=source.pk).channels_digest
    assert first
    assert not replace_source_channels(source.id, [("a.tv", [], "i.png", 9, True), ("b.tv", [["B", ""]], "", 0, True)])
    assert replace_source_channels(source.id, [("a.tv", [], "", 1, True), ("b.tv", [["B", ""], ["B2", ""]], "", 3, True)])
    assert replace_source_channels(source.id, [])
    assert EpgSource.objects.get(pk=source.pk).channels_digest == ""


def test_a_mapped_channel_shows_no_suggestion_and_unmapped_again_shows_it(api, fetched):  # noqa: F811
    source, channels = fetched
    assert suggestions(api, source)["bbc1"] == ("bbcone.uk", "name", 100)
    url = f"{API}/channels/{channels['by_name'].public_id}"
    api.put(url, {"epgSourceName": source.name, "epgChannelName": "bbcone.uk"}, format="json")
    assert suggestions(api, source)["bbc1"] is None
    api.put(url, {"epgSourceName": "", "epgChannelName": ""}, format="json")
    assert suggestions(api, source)["bbc1"] == ("bbcone.uk", "name", 100)


def test_accept_all_uses_the_suggestions_of_the_current_names(api, fetched):  # noqa: F811
    source, channels = fetched
    suggestions(api, source)
    api.put(f"{API}/channels/{channels['none'].public_id}", {"title": "Channel 4 +1"}, format="json")
    response = api.post(f"{API}/epg-sources/{source.public_id}/mapping", {"acceptAll": True}, format="json")
    assert response.status_code == 200
    assert Channel.objects.get(pk=channels["none"].pk).epg_channel_name == "c4plus1.uk"


def test_a_view_that_read_the_source_before_an_import_committed_suggests_from_the_list_stored(
        api, portal, server, fetched):  # noqa: F811
    source, _ = fetched
    read_before = EpgSource.objects.get(pk=source.pk)
    server.serve("/guide.xml", xmltv(channel_element("cn.tv", "Cartoon Network"), program("cn.tv", 0, 1, "Toons")))
    assert fetch_now(source).status == "success"
    make_channel(portal, "toons", "Cartoon Network HD", number=11)  # not in any cache entry yet
    rows = {row.channel.name: row.suggestion for row in mapping.mapping_rows(read_before)}
    assert rows["toons"] == mapping.Suggestion("cn.tv", "name", 100)
    assert rows["cartoon"] == mapping.Suggestion("cn.tv", "name", 100)
    assert rows["bbc1"] is None


def test_a_fetch_succeeds_and_the_mapping_answers_when_the_cache_fails(api, portal, server, settings, tmp_path,
                                                                       caplog):
    """The cache's directory is a file: every read and write of it fails. The suggestions are then computed by
    each view, as before they were cached; the fetch is not affected."""
    source = make_source(portal, url=server.serve("/guide.xml", GUIDE))
    make_channel(portal, "bbc1", "BBC One HD")
    broken = tmp_path / "not-a-directory"
    broken.write_text("")
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                                   "LOCATION": str(broken)}}
    with caplog.at_level(logging.WARNING, logger="content.epg.mapping"):
        assert fetch_now(source).status == "success"
    assert "could not cache the EPG mapping suggestions" in caplog.text
    source.refresh_from_db()
    assert suggestions(api, source) == {"bbc1": ("bbcone.uk", "name", 100)}


@pytest.mark.django_db(transaction=True)
def test_the_migration_records_the_digest_of_the_channels_stored_before_it(portal):
    """Sources fetched before the digest existed get it from their stored channels, as an import computes it (so
    their suggestions are cached from the first view, not only after their next fetch)."""
    from django.db.migrations.executor import MigrationExecutor

    from content.epg.channels import channel_list_digest

    before, after = [("content", "0010_epg_source_channels")], [("content", "0011_epg_source_channels_digest")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    OldSource, OldChannel = old.get_model("content", "EpgSource"), old.get_model("content", "EpgSourceChannel")
    was_fetched, never_fetched = (OldSource.objects.create(id=5000 + number, portal_id=portal.id, name=name,
                                                url="https://epg.example.com/guide.xml")
                      for number, name in enumerate(["fetched", "never"]))
    OldChannel.objects.create(epg_source=was_fetched, xmltv_id="b.tv", display_names=[["Bé", "fr"], ["B HD", ""]])
    OldChannel.objects.create(epg_source=was_fetched, xmltv_id="a.tv", display_names=[])
    executor = MigrationExecutor(connection)  # reload the graph, as a new ``migrate`` would
    executor.migrate(after)
    digests = dict(EpgSource.objects.filter(id__in=[5000, 5001]).values_list("name", "channels_digest"))
    executor = MigrationExecutor(connection)  # the later migrations back, for the tests after this one
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert digests == {"fetched": channel_list_digest([("a.tv", []), ("b.tv", ["Bé", "B HD"])]), "never": ""}


def test_accept_all_with_a_source_read_before_an_import_committed_takes_ids_of_the_list_stored(
        api, portal, server, fetched):  # noqa: F811
    """The old list's entry covers every channel, but the guide now calls BBC One "bbc1.uk": accept-all maps to
    that id, not to the previous list's "bbcone.uk"."""
    from portals.auth import Caller

    source, channels = fetched
    assert suggestions(api, source)["bbc1"] == ("bbcone.uk", "name", 100)  # the old list's entry, complete
    read_before = EpgSource.objects.get(pk=source.pk)
    server.serve("/guide.xml", GUIDE.replace(b"bbcone.uk", b"bbc1.uk"))
    assert fetch_now(source).status == "success"
    mapping.apply_mapping(read_before, caller=Caller(portal=portal), data={"acceptAll": True})
    assert Channel.objects.get(pk=channels["by_name"].pk).epg_channel_name == "bbc1.uk"
