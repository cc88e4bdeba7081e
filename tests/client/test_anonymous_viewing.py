"""The client API without credentials (lifecycle.md §3): a portal with ``allowAnonymous`` lists exactly the
channels of its free packages, with stream URLs without a token; otherwise 401 as before."""

import gzip

import pytest
from rest_framework.test import APIClient

from content import services as content
from portals import services as portal_services
from portals.auth import Caller
from tests.client.conftest import CLIENT
from tests.client.m3u import parse_m3u
from tests.client.test_watching import app_token, channels, world  # noqa: F401  (world: a fixture)


def allow_anonymous(portal, allowed=True):
    portal_services.update_portal(portal, caller=Caller(portal=portal), data={"settings": {"allowAnonymous": allowed}})


@pytest.fixture
def free(world, portal):  # noqa: F811
    """``trial`` (kids, news) is free; ``basic`` (news, sport) is paid."""
    content.add_free_package(world["trial"], caller=world["caller"])
    return world


def test_without_the_setting_the_list_playlist_and_guide_need_credentials(app, free):
    assert app.get(f"{CLIENT}/channels").status_code == 401
    assert app.get(f"{CLIENT}/categories").status_code == 401
    assert app.get(f"{CLIENT}/playlist.m3u").status_code == 401
    assert app.get(f"{CLIENT}/playlist.m3u?token=").status_code == 401
    assert app.get(f"{CLIENT}/epg.xml.gz").status_code == 401


def test_the_channel_list_without_credentials_is_exactly_the_free_channels(app, portal, free):
    allow_anonymous(portal)
    response = app.get(f"{CLIENT}/channels")
    assert response.status_code == 200
    listed = response.json()["channels"]
    assert [c["name"] for c in listed] == ["kids", "news"]  # by title: Cartoons, World News; sport is paid
    assert listed[1]["streamUrl"] == "http://127.0.0.1:8080/news/index.m3u8"
    assert listed[1]["now"]["title"] == "Morning News"
    subscriber_view = {c["name"] for c in channels(app, app_token(free["subscriber"]))}
    assert subscriber_view == {"kids", "news", "sport"}  # a subscriber still sees their own, with a token


def test_the_portal_comes_from_portal_id_or_host_and_an_unknown_one_is_401(app, portal, free):
    allow_anonymous(portal)
    elsewhere = APIClient(HTTP_HOST="unknown.example.com")
    assert elsewhere.get(f"{CLIENT}/channels").status_code == 401
    listed = elsewhere.get(f"{CLIENT}/channels", {"portalId": portal.public_id}).json()["channels"]
    assert [c["name"] for c in listed] == ["kids", "news"]


def test_another_portal_without_the_setting_stays_closed(app, portal, other_portal, free):
    allow_anonymous(portal)
    assert APIClient().get(f"{CLIENT}/channels", {"portalId": other_portal.public_id}).status_code == 401


def test_a_wrong_bearer_is_still_401(app, portal, free):
    allow_anonymous(portal)
    assert app.get(f"{CLIENT}/channels", HTTP_AUTHORIZATION="Bearer nope").status_code == 401


def test_the_playlist_without_a_token_lists_the_free_channels_and_a_guide_for_the_portal(app, portal, free):
    allow_anonymous(portal)
    response = app.get(f"{CLIENT}/playlist.m3u")
    assert response.status_code == 200
    guide, entries = parse_m3u(response.content.decode())
    assert guide.endswith(f"/tv/api/v1/epg.xml.gz?portalId={portal.public_id}")
    assert [(e["attributes"]["tvg-id"], e["attributes"]["group-title"], e["url"]) for e in entries] == [
        ("kids", "trial", "http://127.0.0.1:8080/kids/index.m3u8"),
        ("news", "trial", "http://127.0.0.1:8080/news/index.m3u8")]
    xml = gzip.decompress(b"".join(app.get(guide).streaming_content)).decode()
    assert '<channel id="news">' in xml and '<channel id="kids">' in xml and 'id="sport"' not in xml
    token = free["subscriber"].playback_token
    _, own = parse_m3u(app.get(f"{CLIENT}/playlist.m3u?token={token}").content.decode())
    assert {e["attributes"]["tvg-id"] for e in own} == {"kids", "news", "sport"}


def test_switching_the_setting_off_closes_the_anonymous_list_again(app, portal, free):
    allow_anonymous(portal)
    assert app.get(f"{CLIENT}/channels").status_code == 200
    allow_anonymous(portal, False)
    assert app.get(f"{CLIENT}/channels").status_code == 401
    assert app.get(f"{CLIENT}/playlist.m3u").status_code == 401


def test_the_categories_without_credentials_are_those_of_the_free_channels(app, portal, free):
    allow_anonymous(portal)
    caller = free["caller"]
    films = content.create_category(portal, caller=caller, data={"name": "films", "title": "Films"})
    sports = content.create_category(portal, caller=caller, data={"name": "sports", "title": "Sports"})
    content.update_channel(free["channels"]["kids"], caller=caller, data={"categories": [films.public_id]})
    content.update_channel(free["channels"]["sport"], caller=caller, data={"categories": [sports.public_id]})
    response = app.get(f"{CLIENT}/categories")
    assert response.status_code == 200
    assert [c["name"] for c in response.json()["categories"]] == ["films"]  # sport is in a paid package only
