"""``epgSourceName`` is a reference by name (management-api.md §5): a channel may name a source that does not
exist yet, and is linked as soon as a source of that name is created or renamed to it."""

from __future__ import annotations

from django.apps import apps

from content.epg import selectors as epg_selectors
from content.models import Channel, EpgSource
from monitoring.operations import Operation
from tests.conftest import API
from tests.epg.helpers import at, fetch_now, guide, make_source, program


def channel_json(api, name: str) -> dict:
    return next(c for c in api.get(f"{API}/channels").json()["channels"] if c["name"] == name)


def test_the_manuals_order_a_channel_naming_a_source_before_it_exists_is_linked_when_it_is_created(
        api, portal, server):
    response = api.post(f"{API}/channels", {"name": "news", "title": "News", "epgSourceName": "main-epg",
                                            "epgChannelName": "news.tv"}, format="json")
    assert response.status_code == 201, response.json()
    assert (response.json()["epgSourceName"], response.json()["epgChannelName"]) == ("main-epg", "news.tv")
    assert Channel.objects.get().epg_source is None
    assert channel_json(api, "news")["epgSourceName"] == "main-epg"

    response = api.post(f"{API}/epg-sources", {"name": "main-epg", "url": server.serve("/g.xml", guide(
        program("news.tv", 0, 1, "Morning news")))}, format="json")
    assert response.status_code == 201, response.json()
    source = EpgSource.objects.get()
    channel = Channel.objects.get()
    assert channel.epg_source == source
    assert channel_json(api, "news")["epgSourceName"] == "main-epg"
    assert Operation.objects.get(type="createEpgSource").payload["channels"] == 1

    assert fetch_now(source).status == "success"
    channel.refresh_from_db()
    assert epg_selectors.program_on_air(channel, at(0.5)).title == "Morning news"


def test_a_source_renamed_to_the_name_links_the_channels_naming_it(api, portal):
    api.post(f"{API}/channels", {"name": "news", "title": "News", "epgSourceName": "main-epg"}, format="json")
    source = make_source(portal, "other")
    api.post(f"{API}/channels", {"name": "sport", "title": "Sport", "epgSourceName": "other"}, format="json")
    response = api.put(f"{API}/epg-sources/{source.public_id}", {"name": "main-epg"}, format="json")
    assert response.status_code == 200, response.json()
    assert {c.name: (c.epg_source_id, c.epg_source_name) for c in Channel.objects.all()} == {
        "news": (source.id, "main-epg"), "sport": (source.id, "main-epg")}
    assert Operation.objects.get(type="updateEpgSource").payload["channels"] == 2


def test_any_valid_name_is_accepted_and_a_change_of_name_unlinks_or_links(api, portal):
    source = make_source(portal, "main-epg")
    created = api.post(f"{API}/channels", {"name": "news", "title": "News", "epgSourceName": "main-epg"},
                       format="json").json()
    url = f"{API}/channels/{created['channelId']}"
    assert Channel.objects.get().epg_source == source
    response = api.put(url, {"epgSourceName": "later.guide"}, format="json")
    assert response.status_code == 200 and response.json()["epgSourceName"] == "later.guide"
    assert Channel.objects.get().epg_source is None
    assert api.put(url, {"epgSourceName": "main-epg"}, format="json").json()["epgSourceName"] == "main-epg"
    assert Channel.objects.get().epg_source == source
    assert api.put(url, {"epgSourceName": None}, format="json").json()["epgSourceName"] is None
    assert (Channel.objects.get().epg_source, Channel.objects.get().epg_source_name) == (None, "")


def test_a_name_no_source_could_have_is_refused_and_nothing_is_stored(api, portal):
    response = api.post(f"{API}/channels", {"name": "news", "title": "News", "epgSourceName": "no such!"},
                        format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "epgSourceName": ["Must be 2–64 characters: letters, digits, '.', '-' or '_'."]}
    assert not Channel.objects.exists() and not Operation.objects.exists()


def test_a_source_of_another_portal_does_not_link(api, portal, other_portal):
    theirs = make_source(other_portal, "main-epg")
    api.post(f"{API}/channels", {"name": "news", "title": "News", "epgSourceName": "main-epg"}, format="json")
    assert Channel.objects.get().epg_source is None
    ours = make_source(portal, "main-epg")
    assert Channel.objects.get().epg_source == ours != theirs


def test_deleting_a_source_clears_the_name_of_its_channels(api, portal):
    source = make_source(portal, "main-epg")
    api.post(f"{API}/channels", {"name": "news", "title": "News", "epgSourceName": "main-epg",
                                 "epgChannelName": "news.tv"}, format="json")
    assert api.delete(f"{API}/epg-sources/{source.public_id}").status_code == 201
    body = channel_json(api, "news")
    assert (body["epgSourceName"], body["epgChannelName"]) == (None, "")
    make_source(portal, "main-epg")  # a new source of the old name does not bring the reference back
    assert Channel.objects.get().epg_source is None


def test_the_migration_fills_the_name_of_linked_channels(portal):
    from importlib import import_module

    fill = import_module("content.migrations.0004_channel_epg_source_name").fill_epg_source_names
    source = make_source(portal, "main-epg")
    Channel.objects.create(portal=portal, name="news", title="News", epg_source=source)
    Channel.objects.create(portal=portal, name="plain", title="Plain")
    fill(apps, None)
    assert dict(Channel.objects.values_list("name", "epg_source_name")) == {"news": "main-epg", "plain": ""}
