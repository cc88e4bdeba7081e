"""Channel catalog fields, categories and locations through the Management API (catalog.md §1–2)."""

from __future__ import annotations

import pytest

from catena_site.errors import Invalid
from content import services
from content.models import Category, Channel, ChannelCategory, ChannelLocation, Location
from monitoring.operations import Operation
from portals.auth import Caller
from tests.conftest import API
from tests.content.test_channels_api import make_channel
from tests.factories import make_portal

CATEGORY_KEYS = {"categoryId", "portalId", "name", "title", "position"}
LOCATION_KEYS = {"locationId", "portalId", "name", "title", "countries", "networks"}


def make_category(portal, name="news", title="News", **extra):
    return services.create_category(portal, caller=Caller(portal=portal), data={"name": name, "title": title, **extra})


def make_location(portal, name="fi", title="Finland", **extra):
    return services.create_location(portal, caller=Caller(portal=portal), data={"name": name, "title": title, **extra})


def stored_state():
    return (list(Channel.objects.order_by("pk").values()), list(Category.objects.order_by("pk").values()),
            list(Location.objects.order_by("pk").values()), list(ChannelCategory.objects.values()),
            list(ChannelLocation.objects.values()), Operation.objects.count())


# --- Channel fields ---------------------------------------------------------------------------------------


def test_a_channel_created_without_catalog_fields_gets_the_documented_defaults(api, portal):
    body = api.post(f"{API}/channels", {"name": "news", "title": "News"}, format="json").json()
    assert {key: body[key] for key in ("number", "description", "language", "aspectRatio", "audioOnly", "quality",
                                       "isPublic", "isExclusive", "categories", "locationRestrictions",
                                       "archiveDays")} == {
        "number": None, "description": "", "language": "", "aspectRatio": "", "audioOnly": False, "quality": "HD",
        "isPublic": True, "isExclusive": False, "categories": [], "locationRestrictions": [], "archiveDays": 0}


def test_every_catalog_field_is_stored_and_shown(api, portal):
    sport, news = make_category(portal, "sport", "Sport"), make_category(portal, "news", "News")
    finland = make_location(portal, countries=["FI"])
    response = api.post(f"{API}/channels", {
        "name": "yle1", "title": "Yle TV1", "number": 1, "description": "Public service", "language": "fi_FI",
        "aspectRatio": "16:9", "audioOnly": False, "quality": "SD", "isPublic": False, "isExclusive": True,
        "categories": [sport.public_id, news.public_id], "locationRestrictions": [finland.public_id],
        "archiveDays": 7}, format="json")
    assert response.status_code == 201, response.json()
    body = api.get(f"{API}/channels/{response.json()['channelId']}").json()
    assert body["number"] == 1 and body["description"] == "Public service" and body["language"] == "fi_FI"
    assert (body["aspectRatio"], body["quality"], body["isPublic"], body["isExclusive"]) == ("16:9", "SD", False, True)
    assert body["categories"] == [sport.public_id, news.public_id]  # the order given, not the categories' order
    assert body["locationRestrictions"] == [finland.public_id] and body["archiveDays"] == 7
    changes = Operation.objects.get(type="createChannel").payload["changes"]
    assert changes["number"] == {"old": None, "new": 1}
    assert changes["categories"] == {"old": None, "new": ["sport", "news"]}
    assert changes["locationRestrictions"] == {"old": None, "new": ["fi"]}


def test_an_update_changes_only_the_fields_given_and_records_them(api, portal):
    news = make_category(portal)
    channel = make_channel(portal, number=5, language="en", categories=[news.public_id])
    response = api.put(f"{API}/channels/{channel.public_id}", {"number": 6, "audioOnly": True}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["number"], body["audioOnly"], body["language"], body["categories"]) == (6, True, "en", [news.public_id])
    operation = Operation.objects.filter(type="updateChannel").get()
    assert operation.payload["changes"] == {"number": {"old": 5, "new": 6}, "audioOnly": {"old": False, "new": True}}


def test_the_manuals_update_without_catalog_fields_keeps_them(api, portal):
    news = make_category(portal)
    channel = make_channel(portal, number=5, categories=[news.public_id], isPublic=False)
    response = api.put(f"{API}/channels/{channel.public_id}", {"name": "news", "title": "News 2"}, format="json")
    assert response.status_code == 200
    assert (response.json()["number"], response.json()["categories"], response.json()["isPublic"]) == (
        5, [news.public_id], False)


def test_a_taken_number_is_a_409_naming_the_holder_and_nothing_changes(api, portal):
    make_channel(portal, "news", "News", number=1)
    other = make_channel(portal, "sport", "Sport", number=2)
    before = stored_state()
    response = api.post(f"{API}/channels", {"name": "kids", "title": "Kids", "number": 1}, format="json")
    assert response.status_code == 409
    assert response.json()["errors"] == {"number": ["number is taken by news"]}
    response = api.put(f"{API}/channels/{other.public_id}", {"number": 1}, format="json")
    assert response.status_code == 409 and "news" in response.json()["errors"]["number"][0]
    assert stored_state() == before


def test_the_same_number_in_another_portal_is_fine(api, portal, other_portal):
    make_channel(other_portal, "news", "News", number=1)
    assert api.post(f"{API}/channels", {"name": "news", "title": "News", "number": 1}, format="json").status_code == 201


def test_a_channel_keeps_its_own_number_when_saved_again(api, portal):
    channel = make_channel(portal, number=3)
    assert api.put(f"{API}/channels/{channel.public_id}", {"number": 3, "title": "X"}, format="json").status_code == 200


def test_removing_a_number_frees_it(api, portal):
    channel = make_channel(portal, number=3)
    assert api.put(f"{API}/channels/{channel.public_id}", {"number": None}, format="json").json()["number"] is None
    assert api.post(f"{API}/channels", {"name": "bb", "title": "B", "number": 3}, format="json").status_code == 201


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("number", 0), ("number", 100000), ("number", "abc"), ("number", 1.5), ("number", "5"), ("number", True),
        ("description", "x" * 2001), ("language", "english"), ("language", "EN"), ("language", "en-US"),
        ("language", "en_us"), ("aspectRatio", "21:9"), ("quality", "4K"), ("quality", ""), ("audioOnly", "yes"),
        ("isPublic", 1), ("isExclusive", None), ("archiveDays", -1), ("archiveDays", 366),
        ("categories", "news"), ("categories", ["not-an-id"]), ("locationRestrictions", [5]),
    ],
)
def test_a_bad_catalog_value_is_a_400_naming_the_field_and_nothing_is_stored(api, portal, field, value):
    before = stored_state()
    response = api.post(f"{API}/channels", {"name": "news", "title": "News", field: value}, format="json")
    assert response.status_code == 400
    assert any(key == field or key.startswith(f"{field}.") for key in response.json()["errors"]), response.json()
    assert stored_state() == before


def test_every_bad_field_is_reported_at_once(api, portal):
    response = api.post(f"{API}/channels", {"name": "news", "title": "News", "number": 0, "language": "x",
                                            "archiveDays": 400, "quality": "4K"}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"number", "language", "archiveDays", "quality"}


def test_another_portals_category_or_location_is_a_400_naming_it(api, portal, other_portal):
    theirs = make_category(other_portal)
    their_place = make_location(other_portal)
    before = stored_state()
    response = api.post(f"{API}/channels", {"name": "news", "title": "News", "categories": [theirs.public_id],
                                            "locationRestrictions": [their_place.public_id]}, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert theirs.public_id in errors["categories"][0] and their_place.public_id in errors["locationRestrictions"][0]
    assert stored_state() == before


def test_the_list_sorts_by_number_then_title_unless_ordering_says_otherwise(api, portal):
    make_channel(portal, "cc", "Charlie")
    make_channel(portal, "aa", "Alpha")
    make_channel(portal, "two", "Zulu", number=2)
    make_channel(portal, "ten", "Yankee", number=10)

    def names(query=""):
        response = api.get(f"{API}/channels?{query}")
        assert response.status_code == 200, response.json()
        return [c["name"] for c in response.json()["channels"]]

    assert names() == ["two", "ten", "aa", "cc"]
    assert names("ordering=number") == ["two", "ten", "aa", "cc"]
    assert names("ordering=-number") == ["cc", "aa", "ten", "two"]
    assert names("ordering=title") == ["aa", "cc", "ten", "two"]
    assert names("ordering=-name") == ["two", "ten", "cc", "aa"]
    assert names("ordering=number&limit=1") == ["two"]
    first = api.get(f"{API}/channels?limit=3").json()
    assert [c["name"] for c in api.get(f"{API}/channels?limit=3&cursor={first['next']}").json()["channels"]] == ["cc"]
    response = api.get(f"{API}/channels?ordering=logo")
    assert response.status_code == 400 and "ordering" in response.json()["errors"]


def test_channels_filter_by_category_and_number(api, portal):
    news, sport = make_category(portal, "news", "News"), make_category(portal, "sport", "Sport")
    make_channel(portal, "bbc", "BBC", number=1, categories=[news.public_id])
    make_channel(portal, "eurosport", "Eurosport", number=2, categories=[sport.public_id])
    make_channel(portal, "both", "Both", categories=[sport.public_id, news.public_id])

    def names(query):
        response = api.get(f"{API}/channels?{query}")
        assert response.status_code == 200, response.json()
        return [c["name"] for c in response.json()["channels"]]

    assert names(f"categoryId={news.public_id}") == ["bbc", "both"]
    assert names(f"categoryId={news.public_id}&categoryId={sport.public_id}") == ["bbc", "eurosport", "both"]
    assert names("number=2") == ["eurosport"]
    for bad in ("abc", "0", "100000", "1.5"):
        response = api.get(f"{API}/channels?number={bad}")
        assert response.status_code == 400 and "number" in response.json()["errors"]


def test_channels_filter_by_location(api, portal, other_portal):
    finland, sweden = make_location(portal), make_location(portal, "se", "Sweden")
    make_channel(portal, "yle", "Yle", locationRestrictions=[finland.public_id])
    make_channel(portal, "svt", "SVT", locationRestrictions=[sweden.public_id])
    make_channel(portal, "nordic", "Nordic", locationRestrictions=[sweden.public_id, finland.public_id])
    make_channel(portal, "free", "Free")
    theirs = make_location(other_portal)

    def names(query):
        response = api.get(f"{API}/channels?{query}")
        assert response.status_code == 200, response.json()
        return [c["name"] for c in response.json()["channels"]]

    assert names(f"locationId={finland.public_id}") == ["nordic", "yle"]
    assert names(f"locationId={finland.public_id}&locationId={sweden.public_id}") == ["nordic", "svt", "yle"]
    assert names(f"locationId={theirs.public_id}") == []  # another portal's location restricts nothing here
    response = api.get(f"{API}/channels?locationId=abc")
    assert response.status_code == 400 and list(response.json()["errors"]) == ["locationId"]


# --- Categories -------------------------------------------------------------------------------------------


def test_creating_a_category_returns_the_documented_object_and_records_it(api, portal):
    response = api.post(f"{API}/categories", {"name": "news", "title": "News"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == CATEGORY_KEYS
    assert (body["name"], body["title"], body["position"], body["portalId"]) == ("news", "News", 0, portal.public_id)
    second = api.post(f"{API}/categories", {"name": "sport", "title": "Sport"}, format="json").json()
    assert second["position"] == 1  # after the last one
    operation = Operation.objects.filter(type="createCategory").order_by("id").first()
    assert operation.payload == {"categoryId": body["categoryId"], "name": "news",
                                 "changes": {"title": {"old": None, "new": "News"},
                                             "position": {"old": None, "new": 0}}}


def test_categories_are_listed_by_position(api, portal):
    make_category(portal, "bb", "B", position=5)
    make_category(portal, "aa", "A", position=1)
    make_category(portal, "cc", "C", position=3)
    assert [c["name"] for c in api.get(f"{API}/categories").json()["categories"]] == ["aa", "cc", "bb"]


def test_a_category_name_is_unique_and_immutable(api, portal):
    category = make_category(portal)
    response = api.post(f"{API}/categories", {"name": "news", "title": "Other"}, format="json")
    assert response.status_code == 409 and "name" in response.json()["errors"]
    response = api.put(f"{API}/categories/{category.public_id}", {"name": "renamed"}, format="json")
    assert response.status_code == 400 and "name" in response.json()["errors"]
    response = api.put(f"{API}/categories/{category.public_id}", {"title": "World news", "position": 4},
                       format="json")
    assert response.status_code == 200 and (response.json()["title"], response.json()["position"]) == (
        "World news", 4)
    assert Operation.objects.get(type="updateCategory").payload["changes"] == {
        "title": {"old": "News", "new": "World news"}, "position": {"old": 0, "new": 4}}


@pytest.mark.parametrize("body", [{"name": "n", "title": "T"}, {"name": "news"}, {"name": "news", "title": "x" * 101},
                                  {"name": "news", "title": "T", "position": "1"}, {"name": "news", "title": 5}])
def test_a_bad_category_is_a_400_and_nothing_is_stored(api, portal, body):
    before = stored_state()
    response = api.post(f"{API}/categories", body, format="json")
    assert response.status_code == 400 and response.json()["errors"]
    assert stored_state() == before


def test_deleting_a_category_removes_it_from_its_channels(api, portal):
    news, sport = make_category(portal, "news", "News"), make_category(portal, "sport", "Sport")
    channel = make_channel(portal, categories=[sport.public_id, news.public_id])
    response = api.delete(f"{API}/categories/{news.public_id}")
    assert response.status_code == 201 and response.json() == {"deleted": news.public_id}
    assert api.get(f"{API}/channels/{channel.public_id}").json()["categories"] == [sport.public_id]
    assert Operation.objects.get(type="deleteCategory").payload == {
        "categoryId": news.public_id, "name": "news", "channels": ["news"]}


def test_only_content_admins_change_categories_and_everyone_reads_them(clients, portal):
    category = make_category(portal)
    for persona in ("viewer", "subscribers"):
        client = clients[persona]
        assert client.get(f"{API}/categories").status_code == 200
        assert client.get(f"{API}/categories/{category.public_id}").status_code == 200
        assert client.post(f"{API}/categories", {"name": "x1", "title": "X"}, format="json").status_code == 403
        assert client.put(f"{API}/categories/{category.public_id}", {"title": "X"}, format="json").status_code == 403
        assert client.delete(f"{API}/categories/{category.public_id}").status_code == 403
    assert clients["content"].post(f"{API}/categories", {"name": "x1", "title": "X"}, format="json").status_code == 201
    assert Category.objects.filter(portal=portal).count() == 2


def test_another_portals_category_and_location_are_404(api, portal, other_portal):
    category, location = make_category(other_portal), make_location(other_portal)
    for path in (f"/categories/{category.public_id}", f"/locations/{location.public_id}"):
        assert api.get(f"{API}{path}").status_code == 404
        assert api.put(f"{API}{path}", {"title": "Mine"}, format="json").status_code == 404
        assert api.delete(f"{API}{path}").status_code == 404
    assert api.get(f"{API}/categories").json()["categories"] == []
    assert api.get(f"{API}/locations").json()["locations"] == []
    assert Category.objects.get(pk=category.pk).title == "News" and Location.objects.filter(pk=location.pk).exists()


# --- Locations --------------------------------------------------------------------------------------------


def test_creating_a_location_normalises_countries_and_networks(api, portal):
    response = api.post(f"{API}/locations", {"name": "nordics", "title": "Nordics", "countries": ["fi", "SE", "FI"],
                                             "networks": ["192.0.2.0/24", "2001:DB8::/32", "198.51.100.7"]},
                        format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == LOCATION_KEYS
    assert body["countries"] == ["FI", "SE"]
    assert body["networks"] == ["192.0.2.0/24", "2001:db8::/32", "198.51.100.7/32"]
    assert Operation.objects.get(type="createLocation").payload["changes"]["countries"] == {
        "old": None, "new": ["FI", "SE"]}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("countries", ["XX"]), ("countries", ["FIN"]), ("countries", ["F"]), ("countries", "FI"), ("countries", [1]),
        ("networks", ["10.0.0.0/33"]), ("networks", ["10.0.0.1/8"]), ("networks", ["300.0.0.0/8"]),
        ("networks", ["example.com"]), ("networks", ["2001:db8::/129"]), ("networks", [""]),
        ("networks", ["192.0.2.0/24"] * 1001),
    ],
)
def test_a_bad_country_or_network_is_a_400_naming_the_field(api, portal, field, value):
    before = stored_state()
    response = api.post(f"{API}/locations", {"name": "fi", "title": "Finland", field: value}, format="json")
    assert response.status_code == 400
    assert any(key == field or key.startswith(f"{field}.") for key in response.json()["errors"]), response.json()
    assert stored_state() == before


def test_every_bad_network_is_named_in_one_answer(api, portal):
    response = api.post(f"{API}/locations", {"name": "fi", "title": "Finland", "countries": ["XX"],
                                             "networks": ["10.0.0.0/33", "192.0.2.0/24", "nonsense"]}, format="json")
    errors = response.json()["errors"]
    assert len(errors["networks"]) == 2 and "10.0.0.0/33" in errors["networks"][0]
    assert "XX" in errors["countries"][0]


def test_a_thousand_networks_are_accepted(api, portal):
    networks = [f"10.{i // 256}.{i % 256}.0/24" for i in range(1000)]
    response = api.post(f"{API}/locations", {"name": "big", "title": "Big", "networks": networks}, format="json")
    assert response.status_code == 201 and len(response.json()["networks"]) == 1000


def test_updating_a_location_records_what_changed(api, portal):
    location = make_location(portal, countries=["FI"])
    response = api.put(f"{API}/locations/{location.public_id}", {"networks": ["192.0.2.0/24"]}, format="json")
    assert response.status_code == 200 and response.json()["countries"] == ["FI"]
    assert Operation.objects.get(type="updateLocation").payload["changes"] == {
        "networks": {"old": [], "new": ["192.0.2.0/24"]}}


def test_deleting_a_location_in_use_is_a_409_unless_forced(api, portal):
    location = make_location(portal)
    channel = make_channel(portal, locationRestrictions=[location.public_id])
    before = stored_state()
    response = api.delete(f"{API}/locations/{location.public_id}")
    assert response.status_code == 409 and "force=true" in response.json()["message"]
    assert stored_state() == before
    response = api.delete(f"{API}/locations/{location.public_id}?force=true")
    assert response.status_code == 201 and response.json() == {"deleted": location.public_id}
    assert api.get(f"{API}/channels/{channel.public_id}").json()["locationRestrictions"] == []
    assert Operation.objects.get(type="deleteLocation").payload["channels"] == ["news"]


def test_deleting_an_unused_location_needs_no_force(api, portal):
    location = make_location(portal)
    assert api.delete(f"{API}/locations/{location.public_id}").status_code == 201
    assert not Location.objects.exists()


def test_category_location_and_channel_lists_have_constant_queries(api, portal, django_assert_max_num_queries):
    categories = [make_category(portal, f"cat{i}", f"Category {i}") for i in range(10)]
    locations = [make_location(portal, f"loc{i}", f"Location {i}", countries=["FI"]) for i in range(10)]
    for i in range(10):
        make_channel(portal, f"ch{i}", f"Channel {i}", number=i + 1,
                     categories=[c.public_id for c in categories[i:]], locationRestrictions=[locations[i].public_id])
    with django_assert_max_num_queries(3):
        assert len(api.get(f"{API}/categories").json()["categories"]) == 10
    with django_assert_max_num_queries(3):
        assert len(api.get(f"{API}/locations").json()["locations"]) == 10
    with django_assert_max_num_queries(6):
        body = api.get(f"{API}/channels").json()
    assert len(body["channels"][0]["categories"]) == 10 and body["channels"][9]["locationRestrictions"] == [
        locations[9].public_id]


def test_a_category_deleted_while_a_channel_was_being_saved_is_a_400_naming_it_not_a_500(db):
    """``set_linked`` looks the categories up again under a lock: one deleted after the input was checked (a
    concurrent DELETE) is refused by name and the channel keeps what it had."""
    portal = make_portal()
    caller = Caller(portal)
    channel = services.create_channel(portal, caller=caller, data={"name": "news", "title": "News"})
    category = services.create_category(portal, caller=caller, data={"name": "sport", "title": "Sport"})
    stale = Category.objects.get(pk=category.pk)
    Category.objects.filter(pk=category.pk).delete()

    with pytest.raises(Invalid) as refused:
        services.set_linked(channel, {"categories": [stale]})

    assert list(refused.value.errors) == ["categories"] and stale.public_id in refused.value.errors["categories"][0]
    assert list(channel.categories.all()) == []
