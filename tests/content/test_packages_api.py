import pytest

from content.models import FreePackage, Package, PackageChannel
from monitoring.operations import Operation
from tests.conftest import API
from tests.content.test_channels_api import make_channel, make_package

PACKAGE_KEYS = {"packageId", "portalId", "name", "description", "channels", "paid"}


def test_create_and_read_a_package(api, portal):
    response = api.post(f"{API}/packages", {"name": "premium", "description": "All sports"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == PACKAGE_KEYS
    assert (body["name"], body["description"], body["channels"], body["paid"]) == ("premium", "All sports", [], True)
    assert api.get(f"{API}/packages/{body['packageId']}").json() == body
    operation = Operation.objects.get(type="createPackage")
    assert operation.payload == {"packageId": body["packageId"], "packageName": "premium"}
    assert operation.package_id == Package.objects.get().id


@pytest.mark.parametrize("body", [{"name": "x"}, {"name": "with space"}, {}, {"name": "ok", "description": 5}])
def test_invalid_packages_are_400(api, portal, body):
    response = api.post(f"{API}/packages", body, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) <= {"name", "description"} and response.json()["errors"]
    assert not Package.objects.exists()


def test_duplicate_package_name_is_409_also_on_rename(api, portal):
    make_package(portal, "basic")
    other = make_package(portal, "premium")
    assert api.post(f"{API}/packages", {"name": "basic"}, format="json").status_code == 409
    assert api.put(f"{API}/packages/{other.public_id}", {"name": "basic"}, format="json").status_code == 409
    other.refresh_from_db()
    assert other.name == "premium"
    assert Package.objects.count() == 2
    assert not Operation.objects.filter(type="updatePackage").exists()
    assert Operation.objects.filter(type="createPackage").count() == 2


def test_update_package_logs_old_and_new(api, portal):
    package = make_package(portal, "basic")
    response = api.put(f"{API}/packages/{package.public_id}", {"name": "basic", "description": "Starter"},
                       format="json")
    assert response.status_code == 200
    assert response.json()["description"] == "Starter"
    operation = Operation.objects.get(type="updatePackage")
    assert operation.payload["changes"] == {"description": {"old": "", "new": "Starter"}}


def test_package_lists_its_channels_by_name(api, portal):
    news, sport = make_channel(portal, "news"), make_channel(portal, "sport")
    package = make_package(portal, "basic", [news, sport])
    assert api.get(f"{API}/packages/{package.public_id}").json()["channels"] == ["news", "sport"]


def test_free_package_cannot_be_deleted_without_force(api, portal):
    channel = make_channel(portal)
    package = make_package(portal, "basic", [channel])
    assert api.post(f"{API}/portal/free-packages/{package.public_id}").status_code == 201
    response = api.delete(f"{API}/packages/{package.public_id}")
    assert response.status_code == 409
    assert "free package" in response.json()["message"]
    assert Package.objects.filter(pk=package.pk).exists()
    forced = api.delete(f"{API}/packages/{package.public_id}?force=true")
    assert forced.status_code == 201
    assert forced.json() == {"deleted": package.public_id}
    assert not Package.objects.exists() and not FreePackage.objects.exists()
    assert api.get(f"{API}/portal").json()["freePackages"] == []
    assert api.get(f"{API}/channels").json()["channels"][0]["name"] == "news"  # channels are kept
    types = list(Operation.objects.filter(package_id=package.id).order_by("id").values_list("type", flat=True))
    assert types[-2:] == ["removeFreePackage", "deletePackage"]


def test_unused_package_is_deleted(api, portal):
    package = make_package(portal, "basic")
    assert api.delete(f"{API}/packages/{package.public_id}").status_code == 201
    assert not Package.objects.exists()
    assert api.get(f"{API}/packages/{package.public_id}").status_code == 404
    assert Operation.objects.get(type="deletePackage").payload == {"packageId": package.public_id,
                                                                   "packageName": "basic"}


# --- Composition ------------------------------------------------------------------------------------------


def test_add_and_remove_a_channel(api, portal):
    channel, package = make_channel(portal), make_package(portal, "basic")
    link = {"channelId": channel.public_id, "packageId": package.public_id}
    response = api.post(f"{API}/channels-packages", link, format="json")
    assert response.status_code == 201
    assert response.json() == {**link, "portalId": portal.public_id}
    assert api.post(f"{API}/channels-packages", link, format="json").status_code == 409
    assert api.get(f"{API}/channels/{channel.public_id}").json()["packages"] == ["basic"]
    removed = api.delete(f"{API}/channels-packages", link, format="json")
    assert removed.status_code == 201
    assert not PackageChannel.objects.exists()
    assert api.get(f"{API}/channels/{channel.public_id}").json()["packages"] == []
    assert api.delete(f"{API}/channels-packages", link, format="json").status_code == 404
    types = list(Operation.objects.filter(package_id=package.id).order_by("id").values_list("type", flat=True))
    assert types == ["createPackage", "addChannelToPackage", "removeChannelFromPackage"]
    payload = Operation.objects.get(type="addChannelToPackage").payload
    assert payload == {"channelId": channel.public_id, "packageId": package.public_id, "channelName": "news",
                       "packageName": "basic"}


def test_link_errors(api, portal, other_portal):
    channel, package = make_channel(portal), make_package(portal, "basic")
    foreign_channel = make_channel(other_portal, "foreign")
    foreign_package = make_package(other_portal, "foreign")
    cases = [
        ({"channelId": foreign_channel.public_id, "packageId": package.public_id}, 404),
        ({"channelId": channel.public_id, "packageId": foreign_package.public_id}, 404),
        ({"channelId": "aKl9SW3AAAE.", "packageId": package.public_id}, 404),
        ({"channelId": channel.public_id, "packageId": package.public_id, "portalId": other_portal.public_id}, 400),
        ({"channelId": "garbage", "packageId": package.public_id}, 400),
        ({"packageId": package.public_id}, 400),
    ]
    for body, expected in cases:
        assert api.post(f"{API}/channels-packages", body, format="json").status_code == expected, body
    assert not PackageChannel.objects.exists()
    ok = {"channelId": channel.public_id, "packageId": package.public_id, "portalId": portal.public_id}
    assert api.post(f"{API}/channels-packages", ok, format="json").status_code == 201


def test_a_channel_package_body_reports_every_field_at_once_and_changes_nothing(api, portal, other_portal):
    channel, package = make_channel(portal), make_package(portal, "basic")
    response = api.post(f"{API}/channels-packages", {"channelId": "nope", "portalId": other_portal.public_id},
                        format="json")
    assert response.status_code == 400
    assert response.json() == {
        "message": "Invalid channel-package link: channelId: Not a valid ID.; packageId: This field is required.; "
                   "portalId: Must be the portal of the API key or session.",
        "errors": {"channelId": ["Not a valid ID."], "packageId": ["This field is required."],
                   "portalId": ["Must be the portal of the API key or session."]},
    }
    link = {"channelId": channel.public_id, "packageId": package.public_id, "portalId": portal.public_id}
    assert api.post(f"{API}/channels-packages", link, format="json").status_code == 201
    response = api.delete(f"{API}/channels-packages", {**link, "packageId": 5, "channelId": None}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"channelId": ["This field is required."], "packageId": ["Not a valid ID."]}
    assert PackageChannel.objects.count() == 1
    assert not Operation.objects.filter(type="removeChannelFromPackage").exists()


# --- Free packages ----------------------------------------------------------------------------------------


def test_free_packages_are_added_once_and_shown_on_the_portal(clients, portal):
    package = make_package(portal, "basic")
    admin = clients["admin"]
    assert admin.post(f"{API}/portal/free-packages/{package.public_id}").status_code == 201
    assert admin.get(f"{API}/portal").json()["freePackages"] == [package.public_id]
    assert admin.post(f"{API}/portal/free-packages/{package.public_id}").status_code == 409
    assert admin.delete(f"{API}/portal/free-packages/{package.public_id}").status_code == 201
    assert admin.get(f"{API}/portal").json()["freePackages"] == []
    assert admin.delete(f"{API}/portal/free-packages/{package.public_id}").status_code == 404
    types = list(Operation.objects.filter(package_id=package.id).order_by("id").values_list("type", flat=True))
    assert types == ["createPackage", "addFreePackage", "removeFreePackage"]


def test_free_package_errors(clients, portal, other_portal):
    foreign = make_package(other_portal, "foreign")
    assert clients["admin"].post(f"{API}/portal/free-packages/{foreign.public_id}").status_code == 404
    assert clients["admin"].post(f"{API}/portal/free-packages/nonsense").status_code == 404
    package = make_package(portal, "basic")
    response = clients["content"].post(f"{API}/portal/free-packages/{package.public_id}")
    assert response.status_code == 403 and "isAdmin" in response.json()["message"]
    assert not FreePackage.objects.exists()


def test_other_portals_packages_are_404(stranger, portal):
    package = make_package(portal, "basic")
    assert stranger.get(f"{API}/packages/{package.public_id}").status_code == 404
    assert stranger.delete(f"{API}/packages/{package.public_id}?force=true").status_code == 404
    assert stranger.get(f"{API}/packages").json()["packages"] == []
    assert Package.objects.filter(pk=package.pk).exists()


def test_name_and_description_errors_come_back_together_and_the_description_limit_is_documented(api, portal):
    response = api.post(f"{API}/packages", {"name": "x", "description": "d" * 2001}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"name": ["Must be 2–20 characters: letters, digits, '-' or '_'."],
                                         "description": ["Must be at most 2000 characters."]}
    assert not Package.objects.exists()
    from tests.api.test_bad_input import _resolve, schema  # the OpenAPI document says what is enforced

    body = schema()["paths"][f"{API}/packages/"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert _resolve(body)["properties"]["description"]["maxLength"] == 2000


def test_paid_is_whether_the_package_is_not_free_and_is_read_only(api, portal):
    basic, premium = make_package(portal, "basic"), make_package(portal, "premium")
    assert api.post(f"{API}/portal/free-packages/{basic.public_id}").status_code == 201
    listed = {p["name"]: p["paid"] for p in api.get(f"{API}/packages").json()["packages"]}
    assert listed == {"basic": False, "premium": True}
    assert api.get(f"{API}/packages/{basic.public_id}").json()["paid"] is False
    api.put(f"{API}/packages/{premium.public_id}", {"name": "premium", "paid": False}, format="json")
    assert api.get(f"{API}/packages/{premium.public_id}").json()["paid"] is True
    assert not FreePackage.objects.filter(package=premium).exists()
