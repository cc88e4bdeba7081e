"""The Icareus-compatible channels endpoint (catalog.md §4) with the seed's examples (``seeds/003_…txt``):
request bodies verbatim, sent as its ``curl -d`` sends them (a form content type with a JSON body)."""

from __future__ import annotations

import io
import json
import time

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from content import icareus
from content.models import Channel, LogoRendition
from monitoring.operations import Operation
from portals import services as portal_services
from portals.auth import Caller
from tests.content.helpers import image_bytes
from tests.content.test_catalog_api import make_category, make_location, stored_state
from tests.content.test_channels_api import make_channel
from tests.factories import make_manager, session_token

PATH = "/api/channels/admin"
FORM = "application/x-www-form-urlencoded"  # what curl -d sends

# The seed's "Create Channel" example body, verbatim.
ADD_BODY = """{
"name": "Channel Example",
"description": "This is just an example.",
"logicalChannelNumber": 1,
"aspectRatio": "16:9",
"primaryLanguage": "fi_FI",
"audioOnly": false,
"categories": [],
"autoRecord": true,
"quality": 1,
"isPublic": true,
"isExclusive": false,
"locationRestrictions": []
}"""
# The seed's "Update Channel" example body, verbatim.
UPDATE_BODY = """{
 "description": "Updating the description.",
 "logicalChannelNumber": 69
}"""
# The keys of the seed's channel object.
CHANNEL_KEYS = {"locationRestrictions", "isExclusive", "originAddress", "aspectRatio", "largeIcon", "isPublic",
                "primaryLanguage", "cdnAddress", "smallIcon", "logicalChannelNumber", "serviceId", "mediumIcon",
                "description", "name", "quality", "autoRecord", "streams", "categories", "ingestUrl", "streamName",
                "audioOnly"}


def enable(portal, **settings):
    portal_services.update_portal(portal, caller=Caller(portal=portal),
                                  data={"settings": {"icareusApi": True, **settings}})
    portal.refresh_from_db()
    return portal


@pytest.fixture
def enabled(portal):
    return enable(portal)


def call(action, portal, token, method="get", body=None, content_type=FORM, organization=None, **query):
    """An Icareus request as the seed's curl examples make it."""
    params = {"action": action, "organizationId": portal.id if organization is None else organization, **query}
    url = PATH + "?" + "&".join(f"{key}={value}" for key, value in params.items())
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    if method == "get":
        return Client().get(url, **headers)
    if content_type is None:  # multipart
        return Client().post(url, body or {}, **headers)
    return Client().post(url, body or "", content_type=content_type, **headers)


def token_of(portal, now=None):
    return icareus.generated_token(portal.id, portal.api_key, now)


# --- Tokens ------------------------------------------------------------------------------------------------


def test_the_seeds_worked_example_of_a_generated_token(time_machine):
    assert icareus.token_signature(13509, "60af2750", "secret") == "cdbd38964c61a03f961763f0e25a09c0"
    time_machine.move_to(1622091600, tick=False)  # 27.05.2021 05:00:00 UTC
    assert icareus.generated_token(13509, "secret") == "60af2750cdbd38964c61a03f961763f0e25a09c0"


def test_a_generated_token_is_accepted_within_300_seconds_of_the_clock(enabled, time_machine):
    made = int(time.time())
    token = token_of(enabled, made)
    for offset, status in ((-301, 401), (-300, 200), (300, 200), (301, 401)):
        time_machine.move_to(made - offset, tick=False)  # the token made `offset` seconds from the server's now
        response = call("getChannels", enabled, token)
        assert response.status_code == status, offset
        if status == 401:
            assert response.json() == {"message": "invalid-token", "status": "error"}


@pytest.mark.parametrize("token", ["", "nonsense", "0" * 40, "60af2750cdbd38964c61a03f961763f0e25a09c0"])
def test_a_bad_token_is_invalid_token(enabled, token):
    response = call("getChannels", enabled, token)
    assert response.status_code == 401
    assert response.json() == {"message": "invalid-token", "status": "error"}


def test_the_api_key_itself_and_a_cookie_are_no_token(enabled, managers, client):
    assert call("getChannels", enabled, enabled.api_key).json() == {"message": "invalid-token", "status": "error"}
    response = client.get(f"{PATH}?action=getChannels&organizationId={enabled.id}",
                          HTTP_X_AUTH_TOKEN=session_token(managers["owner"]))
    assert response.status_code == 401


def test_a_token_of_another_organization_is_refused_and_changes_nothing(enabled, other_portal):
    enable(other_portal)
    before = stored_state()
    theirs = call("addChannel", enabled, token_of(other_portal), "post", ADD_BODY)
    assert (theirs.status_code, theirs.json()) == (401, {"message": "invalid-token", "status": "error"})
    session = call("addChannel", enabled, session_token(other_portal.owner), "post", ADD_BODY)
    assert (session.status_code, session.json()) == (400, {"message": "invalid-organization-id", "status": "error"})
    assert stored_state() == before


@pytest.mark.parametrize("organization", ["", "abc", "-5", "99999999999999999999"])
def test_a_call_without_a_valid_organization_id_is_refused(enabled, organization):
    before = stored_state()
    response = call("addChannel", enabled, token_of(enabled), "post", ADD_BODY, organization=organization)
    assert (response.status_code, response.json()) == (400, {"message": "invalid-organization-id", "status": "error"})
    url = f"{PATH}?action=getChannels"  # no organizationId at all
    response = Client().get(url, HTTP_AUTHORIZATION=f"Bearer {token_of(enabled)}")
    assert response.json() == {"message": "invalid-organization-id", "status": "error"}
    assert stored_state() == before


def test_a_portal_with_the_endpoint_off_answers_as_an_unknown_organization(portal):
    unknown = portal.id + 1
    for organization in (portal.id, unknown):
        generated = call("getChannels", portal, icareus.generated_token(organization, portal.api_key),
                         organization=organization)
        session = call("getChannels", portal, session_token(portal.owner), organization=organization)
        assert (generated.status_code, generated.json()) == (401, {"message": "invalid-token", "status": "error"})
        assert (session.status_code, session.json()) == (400, {"message": "invalid-organization-id",
                                                               "status": "error"})


def test_an_unknown_action_and_a_wrong_method_are_refused(enabled):
    response = call("renameEverything", enabled, token_of(enabled))
    assert (response.status_code, response.json()) == (400, {"message": "unknown-action", "status": "error"})
    response = call("addChannel", enabled, token_of(enabled))  # a GET
    assert (response.status_code, response.json()["status"]) == (405, "error")
    assert Channel.objects.count() == 0


# --- The seed's actions ------------------------------------------------------------------------------------


def test_add_channel_with_the_seeds_body(enabled):
    response = call("addChannel", enabled, token_of(enabled), "post", ADD_BODY)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == {"status", "channel"} and body["status"] == "ok"
    channel = body["channel"]
    assert set(channel) == CHANNEL_KEYS
    stored = Channel.objects.get()
    assert {key: channel[key] for key in CHANNEL_KEYS - {"streams", "originAddress", "cdnAddress", "ingestUrl"}} == {
        "locationRestrictions": [], "isExclusive": False, "aspectRatio": "16:9", "largeIcon": "", "isPublic": True,
        "primaryLanguage": "fi_FI", "smallIcon": "", "logicalChannelNumber": 1, "serviceId": stored.id,
        "mediumIcon": "", "description": "This is just an example.", "name": "Channel Example", "quality": 1,
        "autoRecord": True, "categories": [], "streamName": "channel-example", "audioOnly": False}
    assert channel["streams"] == {
        "total": 1, "transcoder": 0, "adaptiveItems": [], "playlist": 0,
        "items": [{"preset_name": "Source", "preset_id": 0, "devices": [
            {"protection": "", "typeName": "HLS", "id": stored.id,
             "url": "http://127.0.0.1:8080/channel-example/index.m3u8"}]}]}
    assert (channel["originAddress"], channel["cdnAddress"], channel["ingestUrl"]) == (
        "127.0.0.1", "127.0.0.1", "rtmp://127.0.0.1")
    assert (stored.name, stored.title, stored.number, stored.language, stored.quality, stored.archive_days) == (
        "channel-example", "Channel Example", 1, "fi_FI", "SD", 7)
    operation = Operation.objects.get(type="createChannel")
    assert operation.actor_type == "apiKey" and operation.payload["channelId"] == stored.public_id


def test_add_channel_defaults_and_derived_names(enabled):
    enable(enabled, defaultArchiveDays=30, streamBaseUrl="https://live.example.com:8443")
    token = token_of(enabled)
    first = call("addChannel", enabled, token, "post", '{"name": "Channel Example"}').json()["channel"]
    second = call("addChannel", enabled, token, "post", '{"name": "Channel Example", "autoRecord": true}').json()
    odd = call("addChannel", enabled, token, "post", '{"name": "Ä"}').json()["channel"]
    assert (first["streamName"], second["channel"]["streamName"], odd["streamName"]) == (
        "channel-example", "channel-example-2", "a-channel")
    assert {key: first[key] for key in ("logicalChannelNumber", "primaryLanguage", "quality", "autoRecord",
                                        "aspectRatio", "isPublic", "isExclusive", "description")} == {
        "logicalChannelNumber": 0, "primaryLanguage": "en_US", "quality": 0, "autoRecord": False, "aspectRatio": "",
        "isPublic": True, "isExclusive": False, "description": ""}
    assert Channel.objects.get(name="channel-example-2").archive_days == 30
    assert first["streams"]["items"][0]["devices"][0]["url"] == (
        "https://live.example.com:8443/channel-example/index.m3u8")
    assert first["cdnAddress"] == "live.example.com"


def test_update_get_list_and_delete_with_the_seeds_examples(enabled, managers):
    token = session_token(managers["owner"])
    added = call("addChannel", enabled, token, "post", ADD_BODY).json()["channel"]
    channel_id = added["serviceId"]
    response = call("updateChannel", enabled, token, "post", UPDATE_BODY, channelId=channel_id)
    assert response.status_code == 200, response.json()
    updated = response.json()["channel"]
    assert updated == {**added, "description": "Updating the description.", "logicalChannelNumber": 69}
    operation = Operation.objects.get(type="updateChannel")
    assert set(operation.payload["changes"]) == {"description", "number"}
    assert (operation.actor_type, operation.actor_manager_id) == ("manager", managers["owner"].id)

    got = call("getChannel", enabled, token, channelId=channel_id)
    assert (got.status_code, got.json()) == (200, {"status": "ok", "channel": updated})
    make_channel(enabled, "first", "First", number=2)
    listed = call("getChannels", enabled, token).json()
    assert listed["status"] == "ok"
    assert [item["streamName"] for item in listed["channels"]] == ["first", "channel-example"]  # by number
    assert listed["channels"][1] == updated

    deleted = call("deleteChannel", enabled, token, "post", channelId=channel_id)
    assert (deleted.status_code, deleted.json()) == (200, {"message": str(channel_id), "status": "ok"})
    assert not Channel.objects.filter(pk=channel_id).exists()
    assert Operation.objects.filter(type="deleteChannel", actor_manager_id=managers["owner"].id).count() == 1
    gone = call("getChannel", enabled, token, channelId=channel_id)
    assert (gone.status_code, gone.json()) == (404, {"message": "invalid-channel-id", "status": "error"})


def test_update_changes_only_the_fields_given_and_maps_every_one(enabled):
    news, sport = make_category(enabled, "news", "News"), make_category(enabled, "sport", "Sport")
    finland = make_location(enabled, countries=["FI"])
    channel = make_channel(enabled, "yle1", "Yle", number=5, archiveDays=3, language="fi_FI")
    token = token_of(enabled)
    body = json.dumps({"name": "Yle TV1", "categories": [sport.id, news.id], "locationRestrictions": [finland.id],
                       "quality": 1, "audioOnly": True, "isPublic": False, "isExclusive": True, "aspectRatio": "4:3",
                       "autoRecord": True})
    answer = call("updateChannel", enabled, token, "post", body, channelId=channel.id).json()["channel"]
    assert (answer["name"], answer["categories"], answer["locationRestrictions"]) == (
        "Yle TV1", [sport.id, news.id], [finland.id])
    channel.refresh_from_db()
    assert (channel.title, channel.quality, channel.audio_only, channel.is_public, channel.is_exclusive,
            channel.aspect_ratio, channel.number, channel.language) == (
        "Yle TV1", "SD", True, False, True, "4:3", 5, "fi_FI")
    assert channel.archive_days == 3  # already recording: autoRecord true keeps its days
    call("updateChannel", enabled, token, "post", '{"autoRecord": false, "logicalChannelNumber": 0}',
         channelId=channel.id)
    channel.refresh_from_db()
    assert (channel.archive_days, channel.number) == (0, None)


# --- Refusals ----------------------------------------------------------------------------------------------


def test_invalid_values_come_back_in_the_seeds_error_shape_and_change_nothing(enabled):
    before = stored_state()
    body = '{"name": "Channel Example", "categories": [12345, 890], "primaryLanguage": "finnish", "quality": 7}'
    response = call("addChannel", enabled, token_of(enabled), "post", body)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert response.json()["status"] == "error" and set(errors) == {"categories", "primaryLanguage", "quality"}
    assert errors["categories"] == [{"message": "No category 12345, 890 in this portal.", "name": "invalid-value"}]
    assert errors["quality"] == [{"message": "Must be 0 (HD) or 1 (SD).", "name": "invalid-value"}]
    assert errors["primaryLanguage"][0]["name"] == "invalid-value"
    bad_ids = call("addChannel", enabled, token_of(enabled), "post", '{"name": "X", "locationRestrictions": ["a", 0]}')
    assert bad_ids.json()["errors"] == {"locationRestrictions": [{"message": "invalid location ids: a 0",
                                                                  "name": "invalid-value"}]}
    assert stored_state() == before


def test_a_category_of_another_portal_is_an_unknown_category_id(enabled, other_portal):
    theirs = make_category(other_portal, "news", "News")
    channel = make_channel(enabled)
    before = stored_state()
    response = call("updateChannel", enabled, token_of(enabled), "post", f'{{"categories": [{theirs.id}]}}',
                    channelId=channel.id)
    assert response.status_code == 400
    assert response.json() == {"status": "error", "errors": {"categories": [
        {"message": f"No category {theirs.id} in this portal.", "name": "invalid-value"}]}}
    assert stored_state() == before


def test_update_with_an_empty_name_and_a_taken_number(enabled):
    make_channel(enabled, "first", "First", number=69)
    channel = make_channel(enabled, "second", "Second")
    before = stored_state()
    empty = call("updateChannel", enabled, token_of(enabled), "post", '{"name": ""}', channelId=channel.id)
    assert (empty.status_code, empty.json()) == (400, {"status": "error", "errors": {"name": [
        {"message": "This field is required.", "name": "invalid-value"}]}})
    taken = call("updateChannel", enabled, token_of(enabled), "post", UPDATE_BODY, channelId=channel.id)
    assert (taken.status_code, taken.json()) == (409, {"status": "error", "errors": {"logicalChannelNumber": [
        {"message": "number is taken by first", "name": "invalid-value"}]}})
    not_json = call("updateChannel", enabled, token_of(enabled), "post", "name=x", channelId=channel.id)
    assert (not_json.status_code, not_json.json()["errors"]) == (400, {"body": [
        {"message": "Must be a JSON object.", "name": "invalid-value"}]})
    assert stored_state() == before


@pytest.mark.parametrize("action", ["getChannel", "updateChannel", "deleteChannel", "addChannelIcon"])
def test_a_channel_of_another_portal_is_an_invalid_channel_id(enabled, other_portal, action):
    theirs = make_channel(other_portal)
    before = stored_state()
    method = "get" if action == "getChannel" else "post"
    for channel_id in (theirs.id, "abc", ""):
        response = call(action, enabled, token_of(enabled), method, UPDATE_BODY if action == "updateChannel" else None,
                        content_type=None if action == "addChannelIcon" else FORM, channelId=channel_id)
        assert (response.status_code, response.json()) == (404, {"message": "invalid-channel-id", "status": "error"})
    assert stored_state() == before


def test_a_viewer_may_read_but_not_change(enabled, managers):
    channel = make_channel(enabled)
    viewer = session_token(managers["viewer"])
    assert call("getChannels", enabled, viewer).status_code == 200
    assert call("getChannel", enabled, viewer, channelId=channel.id).status_code == 200
    before = stored_state()
    for action, body in (("addChannel", ADD_BODY), ("addChannel", '{"name": "X", "quality": 7}'),
                         ("updateChannel", UPDATE_BODY), ("deleteChannel", None),
                         ("addChannelIcon", {"channelIcon": _upload(image_bytes())})):
        response = call(action, enabled, viewer, "post", body, content_type=None if action == "addChannelIcon" else FORM,
                        channelId=channel.id)
        assert response.status_code == 403
        assert response.json() == {"status": "error", "message": "This action requires the Content admin permission "
                                                                 "(isContentAdmin)."}
    assert stored_state() == before
    content = make_manager(enabled, "icareus-content@example.com", is_content_admin=True)
    assert call("addChannel", enabled, session_token(content), "post", ADD_BODY).status_code == 200
    assert Operation.objects.get(type="createChannel", actor_manager_id=content.id)


# --- Icons -------------------------------------------------------------------------------------------------


def test_add_channel_icon_uploads_a_logo_with_its_renditions(enabled):
    channel = make_channel(enabled)
    image = image_bytes(size=(600, 300))
    response = call("addChannelIcon", enabled, token_of(enabled), "post", {"channelIcon": _upload(image)},
                    content_type=None, channelId=channel.id)
    assert response.status_code == 200, response.json()
    answer = response.json()["channel"]
    base = f"http://testserver/tv-management/api/v1/channels/{channel.public_id}/logo"
    assert (answer["smallIcon"], answer["mediumIcon"], answer["largeIcon"]) == (
        f"{base}/small", f"{base}/medium", f"{base}/large")
    channel.refresh_from_db()
    assert bytes(channel.logo) == image
    assert LogoRendition.objects.filter(channel=channel).count() == 3
    assert Operation.objects.filter(type="updateChannel", payload__changes__has_key="logo").exists()


@pytest.mark.parametrize("upload", [b"GIF89a not really", b"not an image at all", None])
def test_an_icon_that_is_not_an_image_is_refused(enabled, upload):
    channel = make_channel(enabled)
    before = stored_state()
    files = {"channelIcon": _upload(upload)} if upload is not None else {}
    response = call("addChannelIcon", enabled, token_of(enabled), "post", files, content_type=None,
                    channelId=channel.id)
    assert response.status_code == 400 and response.json()["status"] == "error"
    assert set(response.json()["errors"]) == {"channelIcon"}
    assert stored_state() == before and not LogoRendition.objects.exists()


def test_the_seeds_gif_icon_is_stored_as_a_png_of_its_first_frame(enabled):
    from PIL import Image

    channel = make_channel(enabled)
    frames = [Image.new("RGB", (600, 400), colour) for colour in ("red", "blue")]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:])
    response = call("addChannelIcon", enabled, token_of(enabled), "post",
                    {"channelIcon": _upload(gif.getvalue(), "wizard.gif", "image/gif")}, content_type=None,
                    channelId=channel.id)
    assert response.status_code == 200, response.json()
    channel.refresh_from_db()
    with Image.open(io.BytesIO(bytes(channel.logo))) as stored:
        assert (stored.format, stored.size) == ("PNG", (600, 400))
        assert stored.convert("RGB").getpixel((5, 5)) == (255, 0, 0)  # the first frame
    assert LogoRendition.objects.filter(channel=channel).count() == 3


def _upload(data: bytes, name: str = "wizard.png", content_type: str = "image/png"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type=content_type)


def test_get_channels_reads_a_fixed_number_of_queries(enabled):
    news = make_category(enabled, "news", "News")
    token = token_of(enabled)
    counts = []
    for batch in (("a1", "a2"), ("b1", "b2", "b3", "b4")):
        for name in batch:
            make_channel(enabled, name, name.upper(), categories=[news.public_id], logo=image_bytes())
        with CaptureQueriesContext(connection) as queries:
            assert len(call("getChannels", enabled, token).json()["channels"]) in (2, 6)
        counts.append(len(queries))
    assert counts[0] == counts[1]
