import pytest

from content import services
from content.models import Channel, EpgSource, PackageChannel
from monitoring.operations import Operation
from portals.auth import Caller
from tests.conftest import API
from tests.content.helpers import data_uri, image_bytes, png_bomb

CHANNEL_KEYS = {"channelId", "portalId", "name", "title", "epgSourceName", "epgChannelName", "epgSources",
                "epgOffsetMinutes", "packages", "logoUrl",
                "logoUrls", "number", "description", "language", "aspectRatio", "audioOnly", "quality", "isPublic",
                "isExclusive", "categories", "locationRestrictions", "archiveDays"}


@pytest.fixture
def epg_source(portal):
    return EpgSource.objects.create(portal=portal, name="xmltv.main", url="https://epg.example.com/guide.xml")


def make_channel(portal, name="news", title="News 24", **extra):
    return services.create_channel(portal, caller=Caller(portal=portal), data={"name": name, "title": title, **extra})


def make_package(portal, name="basic", channels=()):
    package = services.create_package(portal, caller=Caller(portal=portal), data={"name": name})
    for channel in channels:
        services.add_channel_to_package(package, channel, caller=Caller(portal=portal))
    return package


def test_create_channel_returns_the_documented_object(api, portal, epg_source):
    response = api.post(f"{API}/channels", {"name": "bbc-1", "title": "BBC One", "epgSourceName": "xmltv.main",
                                            "epgChannelName": "bbc1.uk"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == CHANNEL_KEYS
    assert body["name"] == "bbc-1" and body["title"] == "BBC One"
    assert body["epgSourceName"] == "xmltv.main" and body["epgChannelName"] == "bbc1.uk"
    assert body["packages"] == [] and body["logoUrl"] is None and body["logoUrls"] is None
    assert body["portalId"] == portal.public_id
    operation = Operation.objects.get(portal=portal, type="createChannel")
    assert operation.payload["channelId"] == body["channelId"] and operation.payload["name"] == "bbc-1"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "a", "title": "T"}, "name"),
        ({"name": "x" * 21, "title": "T"}, "name"),
        ({"name": "bad name", "title": "T"}, "name"),
        ({"name": "ok", "title": ""}, "title"),
        ({"name": "ok"}, "title"),
        ({"name": "ok", "title": "x" * 201}, "title"),
        ({"name": "ok", "title": "T", "epgSourceName": "no such!"}, "epgSourceName"),
        ({"name": "ok", "title": "T", "epgSourceName": 5}, "epgSourceName"),
        ({"name": "ok", "title": "T", "epgChannelName": "x" * 201}, "epgChannelName"),
        ({"name": "ok", "title": "T", "logo": "data:image/png;base64,bm90IGFuIGltYWdl"}, "logo"),
    ],
)
def test_invalid_channels_are_400_and_nothing_is_stored(api, portal, body, field):
    response = api.post(f"{API}/channels", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert not Channel.objects.exists()
    assert not Operation.objects.filter(type="createChannel").exists()


def test_duplicate_channel_name_is_409(api, portal):
    make_channel(portal, "news")
    response = api.post(f"{API}/channels", {"name": "news", "title": "Other"}, format="json")
    assert response.status_code == 409
    assert response.json() == {"message": "A channel named news already exists.",
                               "errors": {"name": ["Name must be unique: a channel named news already exists."]}}
    assert Channel.objects.count() == 1


def test_the_same_channel_name_may_exist_in_another_portal(api, stranger, portal, other_portal):
    theirs = make_channel(other_portal, "news")
    response = api.post(f"{API}/channels", {"name": "news", "title": "Mine"}, format="json")
    assert response.status_code == 201, response.json()
    mine = Channel.objects.get(portal=portal, name="news")
    assert mine.public_id == response.json()["channelId"] and mine.title == "Mine"
    theirs.refresh_from_db()
    assert theirs.title == "News 24"  # the other portal's channel is untouched
    assert [c["title"] for c in stranger.get(f"{API}/channels").json()["channels"]] == ["News 24"]


def test_channel_name_is_immutable_but_other_fields_change(api, portal, epg_source):
    channel = make_channel(portal)
    url = f"{API}/channels/{channel.public_id}"
    assert api.put(url, {"name": "renamed", "title": "X"}, format="json").status_code == 400
    body = api.get(url).json()
    body.update(title="News 24/7", epgSourceName="xmltv.main", epgChannelName="news.id")
    response = api.put(url, body, format="json")  # a GET → change → PUT round trip
    assert response.status_code == 200, response.json()
    assert response.json()["title"] == "News 24/7"
    channel.refresh_from_db()
    assert (channel.name, channel.title, channel.epg_channel_name) == ("news", "News 24/7", "news.id")
    operation = Operation.objects.get(type="updateChannel")
    assert operation.payload["changes"]["title"] == {"old": "News 24", "new": "News 24/7"}


def test_channel_filters(api, portal):
    news, sport, _ = make_channel(portal, "news", "World News"), make_channel(portal, "sport", "Sport HD"), \
        make_channel(portal, "kids", "Cartoons")
    package = make_package(portal, "basic", [news, sport])

    def names(query):
        response = api.get(f"{API}/channels?{query}")
        assert response.status_code == 200
        return [c["name"] for c in response.json()["channels"]]

    assert names("") == ["kids", "sport", "news"]  # no numbers: by title
    assert names("name=sport") == ["sport"]
    assert names("search=NEWS") == ["news"]
    assert names("search=hd") == ["sport"]
    assert names(f"packageId={package.public_id}") == ["sport", "news"]
    assert api.get(f"{API}/channels?packageId=bogus").status_code == 400


def test_channel_list_has_constant_queries(api, portal, django_assert_max_num_queries):
    channels = [make_channel(portal, f"ch{i}", f"Channel {i}") for i in range(20)]
    make_package(portal, "p1", channels[:10])
    make_package(portal, "p2", channels[5:])
    with django_assert_max_num_queries(6):  # + the categories' and locations' links
        body = api.get(f"{API}/channels").json()
    assert len(body["channels"]) == 20
    assert next(c for c in body["channels"] if c["name"] == "ch6")["packages"] == ["p1", "p2"]


def test_deleting_a_channel_removes_it_from_every_package(api, portal):
    channel = make_channel(portal)
    make_package(portal, "basic", [channel])
    make_package(portal, "premium", [channel])
    response = api.delete(f"{API}/channels/{channel.public_id}")
    assert response.status_code == 201
    assert response.json() == {"deleted": channel.public_id}
    assert not PackageChannel.objects.exists()
    assert [p["channels"] for p in api.get(f"{API}/packages").json()["packages"]] == [[], []]
    operation = Operation.objects.get(type="deleteChannel")
    assert operation.payload["packages"] == ["basic", "premium"]


def test_content_admins_write_channels(clients, portal, managers):
    client = clients["content"]
    response = client.post(f"{API}/channels", {"name": "new", "title": "New"}, format="json")
    assert response.status_code == 201, response.json()
    url = f"{API}/channels/{response.json()['channelId']}"
    assert client.put(url, {"title": "Newer"}, format="json").status_code == 200
    assert Channel.objects.get(name="new").title == "Newer"
    created = Operation.objects.get(type="createChannel")
    assert created.actor_manager_id == managers["content"].id and created.payload["name"] == "new"
    assert client.delete(url).status_code == 201
    assert not Channel.objects.exists()
    assert Operation.objects.get(type="deleteChannel").actor_manager_id == managers["content"].id


def test_other_portals_channels_are_404(stranger, portal):
    channel = make_channel(portal, logo=data_uri(image_bytes()))
    for method in ("get", "delete"):
        assert getattr(stranger, method)(f"{API}/channels/{channel.public_id}").status_code == 404
    assert stranger.put(f"{API}/channels/{channel.public_id}", {"title": "X"}, format="json").status_code == 404
    assert stranger.get(f"{API}/channels/{channel.public_id}/logo").status_code == 404
    assert stranger.get(f"{API}/channels").json()["channels"] == []
    channel.refresh_from_db()  # neither the refused delete nor the refused update touched it
    assert channel.title == "News 24" and channel.has_logo
    assert not Operation.objects.filter(type__in=["updateChannel", "deleteChannel"]).exists()


# --- Logos ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "kind", "content_type"), [("PNG", "png", "image/png"),
                                                           ("JPEG", "jpeg", "image/jpeg"),
                                                           ("WEBP", "webp", "image/webp")])
def test_valid_logos_are_stored_and_served_with_caching_headers(api, portal, fmt, kind, content_type):
    raw = image_bytes(fmt=fmt)
    response = api.post(f"{API}/channels", {"name": "logo", "title": "L", "logo": data_uri(raw, kind)}, format="json")
    assert response.status_code == 201, response.json()
    logo_url = response.json()["logoUrl"]
    assert logo_url.endswith("/logo")
    served = api.get(logo_url)
    assert served.status_code == 200
    assert served["Content-Type"] == content_type
    assert served.content == raw
    assert served["ETag"] and "max-age" in served["Cache-Control"]
    assert api.get(logo_url, HTTP_IF_NONE_MATCH=served["ETag"]).status_code == 304
    assert api.get(logo_url, HTTP_IF_NONE_MATCH='"stale"').status_code == 200
    assert api.get(response.json()["logoUrls"]["small"]).content == raw  # 16 pixels wide: served as it is


@pytest.mark.parametrize(
    "logo",
    [
        data_uri(image_bytes()[:60]),  # truncated PNG
        data_uri(b"hello, I am text renamed to .png"),
        data_uri(image_bytes((5000, 5000), color=(0, 0, 0))),  # too many pixels
        data_uri(png_bomb(30000, 30000)),  # decompression bomb header
        data_uri(image_bytes((1500, 1500), fmt="PNG") + b"\0" * (1024 * 1024 + 1)),  # over 1 MB
        data_uri(b'<svg xmlns="http://www.w3.org/2000/svg"><rect width="1" height="1"/></svg>', "svg+xml"),
        data_uri(image_bytes(fmt="GIF"), "gif"),
        "data:image/png;base64,%%%not-base64",
        "https://example.com/logo.png",
        12,
    ],
)
def test_bad_logos_are_400_and_nothing_is_stored(api, portal, logo):
    channel = make_channel(portal)
    response = api.put(f"{API}/channels/{channel.public_id}", {"logo": logo}, format="json")
    assert response.status_code == 400
    assert "logo" in response.json()["errors"]
    channel.refresh_from_db()
    assert not channel.logo_etag and channel.logo is None
    assert api.get(f"{API}/channels/{channel.public_id}/logo").status_code == 404


def test_logo_null_removes_it_and_absent_keeps_it(api, portal):
    channel = make_channel(portal, logo=data_uri(image_bytes()))
    url = f"{API}/channels/{channel.public_id}"
    assert api.put(url, {"title": "Kept logo"}, format="json").json()["logoUrl"]
    assert api.put(url, {"logo": None}, format="json").json()["logoUrl"] is None
    assert api.get(f"{url}/logo").status_code == 404


def test_every_fields_error_comes_back_in_one_answer_and_nothing_is_stored(api, portal):
    response = api.post(f"{API}/channels", {"name": "x", "title": 5, "epgSourceName": "bad name",
                                            "epgChannelName": "e" * 201, "logo": "data:image/png;base64,bm90"},
                        format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors == {
        "name": ["Must be 2–20 characters: letters, digits, '-' or '_'."],
        "title": ["Must be text."],
        "epgSourceName": ["Must be 2–64 characters: letters, digits, '.', '-' or '_'."],
        "epgChannelName": ["Must be at most 200 characters."],
        "logo": errors["logo"],
    }
    assert errors["logo"] and response.json()["message"].startswith("Invalid channel: name: ")
    assert not Channel.objects.exists()


def test_an_update_reports_the_immutable_name_with_the_other_errors(api, portal):
    channel = make_channel(portal, "news", "News")
    response = api.put(f"{API}/channels/{channel.public_id}", {"name": "other", "title": ""}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"name": ["The channel name cannot be changed."],
                                         "title": ["This field is required."]}
    channel.refresh_from_db()
    assert (channel.name, channel.title) == ("news", "News")
