"""JSONSQL insert, update and delete: through the services, one transaction per call, the caller's rights and
portal only."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from content.models import Category, Channel, FreePackage, Package, PackageChannel
from monitoring.operations import Operation
from subscribers.device_model import Device
from subscribers.models import Subscriber, Subscription
from tests.factories import make_manager, session_token
from tests.jsonsql.conftest import call, error


def write(session: str, method: str, params):
    """The ``result`` of a write, asserting the call succeeded."""
    response = call(session, method, params)
    body = response.json()
    assert response.status_code == 200 and "result" in body, body
    return body["result"]


def stored() -> tuple:
    """Everything a write could change, to assert that a refused call changed nothing."""
    return (sorted(Subscriber.objects.values_list("id", "name", "phone", "disabled", "max_devices", "login",
                                                      "player_password")),
            sorted(Subscription.objects.values_list("id", "starts_at", "expires_at")),
            sorted(Device.objects.values_list("id", "name")),
            sorted(Package.objects.values_list("id", "name", "description")),
            sorted(PackageChannel.objects.values_list("package_id", "channel_id")),
            sorted(Channel.objects.values_list("id", "title", "number", "audio_only")),
            sorted(Category.objects.values_list("id", "title")),
            sorted(FreePackage.objects.values_list("package_id", flat=True)),
            Operation.objects.count())


def actors(kind: str) -> list[str]:
    return list(Operation.objects.filter(type=kind).order_by("id").values_list("actor_email", flat=True))


@pytest.fixture
def managers(world):
    """Sessions of portal A's managers by role."""
    portal = world["a"]["portal"]
    people = {"content": make_manager(portal, "content@example.com", is_content_admin=True),
              "subscribers": make_manager(portal, "subscribers@example.com", is_subscriber_admin=True),
              "viewer": make_manager(portal, "viewer@example.com")}
    return {role: session_token(manager) for role, manager in people.items()}


# --- subscriber ---------------------------------------------------------------------------------------------


def test_inserting_subscribers_creates_them_through_the_service_with_the_managers_actor(world, managers):
    session = managers["subscribers"]
    result = write(session, "insert", {
        "into": "subscriber", "columns": ["name", "phone_country_code", "phone", "max_terminal", "disabled"],
        "values": [["Erin", "44", "7700900001", 2, False], ["Frank", "44", "7700900002", None, True]],
        "returning": ["name", "username", "phone_country_code", "phone", "max_terminal", "disabled"]})
    assert result == [["Erin", "447700900001", "44", "7700900001", 2, False],
                      ["Frank", "447700900002", "44", "7700900002", None, True]]
    frank = Subscriber.objects.get(name="Frank")
    assert frank.portal == world["a"]["portal"] and frank.disabled and frank.full_phone == "447700900002"
    assert actors("createSubscriber")[-2:] == ["subscribers@example.com"] * 2
    assert actors("disableSubscriber")[-1] == "subscribers@example.com"


def test_an_insert_without_returning_answers_the_number_of_rows(world):
    assert write(world["a"]["owner"], "insert", {"into": "category", "columns": ["name", "title"],
                                                 "values": [["films", "Films"], ["music", "Music"]]}) == 2


def test_one_refused_row_changes_nothing_and_names_the_row_and_column(world):
    before = stored()
    refusal = error(world["a"]["owner"], "insert", {
        "into": "subscriber", "columns": ["name", "phone_country_code", "phone"],
        "values": [["Erin", "44", "7700900001"], ["Frank", "44", "77-00"]]})
    assert refusal["code"] == 8
    assert refusal["message"].startswith("row 2: phone: Must be 4–15 digits")
    assert stored() == before


def test_a_duplicate_phone_is_a_conflict_and_changes_nothing(world):
    before = stored()
    refusal = error(world["a"]["owner"], "insert", {
        "into": "subscriber", "columns": ["name", "phone_country_code", "phone"],
        "values": [["Erin", "44", "7700900001"], ["Alice again", "1", "2345678901"]]})
    assert refusal == {"code": 9, "message": "row 2: phone: A subscriber with phone +12345678901 already exists. "
                                             "Nothing was changed."}
    assert stored() == before


def test_disabling_by_username_refuses_the_token_at_once(world, client, settings, django_capture_on_commit_callbacks):
    from tests.streaming.conftest import KEY, check, reason

    settings.STREAMER_KEY, settings.STREAMER_ALLOWED_IPS, settings.STREAMER_API_URL = KEY, [], ""
    alice = world["a"]["people"]["Alice"]
    assert check(client, alice.playback_token, "news").status_code == 200  # free package; the answer is cached
    with django_capture_on_commit_callbacks(execute=True):
        result = write(world["a"]["owner"], "update", {"table": "subscriber", "set": {"disabled": True},
                                                        "where": {"eq": ["username", "12345678901"]},
                                                        "returning": "id"})
    assert result == [alice.id]
    assert reason(check(client, alice.playback_token, "news")) == "subscriber_disabled"
    assert Operation.objects.filter(type="disableSubscriber", subscriber_id=alice.id).get().actor_email == (
        world["a"]["portal"].owner.email)


def test_updating_subscribers_changes_name_phone_and_limit_of_every_matching_row(world):
    people = world["a"]["people"]
    result = write(world["a"]["owner"], "update", {
        "table": "subscriber", "set": {"max_terminal": 3, "disabled": False},
        "where": {"in": ["name", "Carol", "Dave"]}, "returning": ["id", "max_terminal", "disabled"]})
    assert result == sorted([[people["Carol"].id, 3, False], [people["Dave"].id, 3, False]])
    assert actors("enableSubscriber")[-1] == world["a"]["portal"].owner.email
    write(world["a"]["owner"], "update", {"table": "subscriber", "set": {"phone": "2345670000", "name": "Caroline"},
                                          "where": {"eq": ["id", people["Carol"].id]}})
    carol = Subscriber.objects.get(pk=people["Carol"].id)
    assert (carol.name, carol.full_phone) == ("Caroline", "12345670000")


def test_an_update_matching_nothing_answers_zero(world):
    assert write(world["a"]["owner"], "update", {"table": "subscriber", "set": {"disabled": True},
                                                 "where": {"eq": ["username", "nobody"]}}) == 0


def test_deleting_a_subscriber_records_its_subscriptions_ending(world):
    bob = world["a"]["people"]["Bob"]
    assert write(world["a"]["owner"], "delete", {"from": "subscriber", "where": {"eq": ["name", "Bob"]},
                                                 "returning": ["id", "name"]}) == [[bob.id, "Bob"]]
    assert not Subscriber.objects.filter(pk=bob.pk).exists()
    assert Operation.objects.filter(type="deletePackageSubscriber", subscriber_id=bob.id).count() == 1
    assert Operation.objects.filter(type="deleteSubscriber", subscriber_id=bob.id).count() == 1


def test_username_and_password_write_the_player_login_and_password(world):
    owner, alice = world["a"]["owner"], world["a"]["people"]["Alice"]
    created = write(owner, "insert", {"into": "subscriber", "columns": [
        "name", "phone_country_code", "phone", "username", "password"], "values": [
        ["Erin", "44", "7700900123", "erin.tv", "Secret-42"]], "returning": ["username", "password"]})
    assert created == [["erin.tv", None]]  # the password is write-only
    erin = Subscriber.objects.get(login="erin.tv")
    assert erin.player_password == "Secret-42"
    assert write(owner, "update", {"table": "subscriber", "set": {"username": "alice.tv", "password": "Other-43"},
                                   "where": {"eq": ["name", "Alice"]}, "returning": "username"}) == ["alice.tv"]
    alice.refresh_from_db()
    assert (alice.login, alice.player_password) == ("alice.tv", "Other-43")
    reset = Operation.objects.filter(type="resetPlayerPassword", subscriber_id=alice.id).get()
    assert "Other-43" not in json.dumps(reset.payload)
    assert Operation.objects.filter(type="updateSubscriber", subscriber_id=alice.id).get().payload["login"] == {
        "old": "12345678901", "new": "alice.tv"}
    write(owner, "update", {"table": "subscriber", "set": {"password": None}, "where": {"eq": ["name", "Alice"]}})
    alice.refresh_from_db()
    assert alice.player_password not in ("Other-43", "") and len(alice.player_password) == 10


def test_a_taken_username_or_a_bad_password_changes_nothing(world):
    owner = world["a"]["owner"]
    before = stored()
    taken = error(owner, "update", {"table": "subscriber", "set": {"username": "12345678901"},
                                    "where": {"eq": ["name", "Bob"]}})
    assert taken["code"] == 9 and "username" in taken["message"]
    short = error(owner, "update", {"table": "subscriber", "set": {"name": "Bobby", "password": "abc"},
                                    "where": {"eq": ["name", "Bob"]}})
    assert short["code"] == 8 and "password" in short["message"]
    assert stored() == before


# --- subscriber_package -------------------------------------------------------------------------------------


def test_inserting_subscriptions_with_a_period_and_returning_them(world):
    a = world["a"]
    dave, basic, sports = a["people"]["Dave"], a["packages"]["basic"], a["packages"]["sports"]
    result = write(a["owner"], "insert", {
        "into": "subscriber_package", "columns": ["subscriber_id", "package_id", "enabled", "started_on",
                                                   "expired_on"],
        "values": [[dave.id, basic.id, True, "2026-01-01", "2030-01-01T12:00:00Z"], [dave.id, sports.id, True, None,
                                                                                        None]],
        "returning": ["subscriber_id", "package_id", "started_on", "expired_on"]})
    assert result == [[dave.id, basic.id, "2026-01-01T00:00:00Z", "2030-01-01T12:00:00Z"],
                      [dave.id, sports.id, None, None]]
    operation = Operation.objects.filter(type="createPackageSubscriber", subscriber_id=dave.id).order_by("id").first()
    assert operation.payload["expiresAt"] == "2030-01-01T12:00:00Z" and operation.actor_email == a["portal"].owner.email


@pytest.mark.parametrize(("values", "code", "message"), [
    ([["subscriber", "basic", False]], 8, "row 1: enabled: A subscription is enabled while in its period"),
    ([["subscriber", "sports", True]], 9, "row 1: The subscriber already has package 'sports'."),
    ([["subscriber", "other", True]], 10, "row 1: package_id: no package"),
    ([["subscriber", "basic", True], ["subscriber", "basic", True]], 9, "row 2: The subscriber already has package"),
])
def test_refused_subscriptions_change_nothing(world, values, code, message):
    a = world["a"]
    ids = {"subscriber": a["people"]["Alice"].id, "basic": a["packages"]["basic"].id,
           "sports": a["packages"]["sports"].id, "other": world["b"]["packages"]["basic"].id}
    before = stored()
    refusal = error(a["owner"], "insert", {"into": "subscriber_package",
                                           "columns": ["subscriber_id", "package_id", "enabled"],
                                           "values": [[ids[v] if isinstance(v, str) else v for v in row]
                                                      for row in values]})
    assert refusal["code"] == code and refusal["message"].startswith(message), refusal
    assert stored() == before


def test_a_period_ending_before_it_starts_names_expired_on(world):
    a = world["a"]
    refusal = error(a["owner"], "update", {
        "table": "subscriber_package", "set": {"started_on": "2027-01-01", "expired_on": "2026-01-01"},
        "where": {"eq": ["subscriber_id", a["people"]["Alice"].id]}})
    assert refusal["code"] == 8 and ": expired_on: Must be after started_on." in refusal["message"]


def test_updating_a_period_through_the_service(world):
    a = world["a"]
    alice = a["people"]["Alice"]
    result = write(a["owner"], "update", {
        "table": "subscriber_package", "set": {"expired_on": "2029-05-01"},
        "where": {"and": [{"eq": ["subscriber_id", alice.id]}, {"eq": ["package_id", a["packages"]["movie"].id]}]},
        "returning": ["package_id", "expired_on", "enabled"]})
    assert result == [[a["packages"]["movie"].id, "2029-05-01T00:00:00Z", True]]
    assert Operation.objects.filter(type="updatePackageSubscriber", subscriber_id=alice.id).get().payload[
        "expiresAt"] == {"old": None, "new": "2029-05-01T00:00:00Z"}


# --- terminal -----------------------------------------------------------------------------------------------


def test_terminals_are_added_renamed_and_removed_through_the_device_services(world):
    a = world["a"]
    alice = a["people"]["Alice"]
    added = write(a["owner"], "insert", {
        "into": "terminal", "columns": ["subscriber_id", "mac_addr", "uid", "name"],
        "values": [[alice.id, "00-1A-79-00-00-01", None, "Hall"], [alice.id, None, "phone-1", "Phone"]],
        "returning": ["subscriber_id", "mac_addr", "uid", "name"]})
    assert added == [[alice.id, "00:1a:79:00:00:01", "00:1a:79:00:00:01", "Hall"], [alice.id, "", "phone-1", "Phone"]]
    assert sorted(Device.objects.filter(subscriber=alice).values_list("kind", flat=True)) == ["player", "stb"]
    assert write(a["owner"], "update", {"table": "terminal", "set": {"name": "Kitchen"},
                                        "where": {"eq": ["uid", "phone-1"]}, "returning": "name"}) == ["Kitchen"]
    assert Operation.objects.filter(type="addDevice").count() == 2


def test_the_seed_delete_of_a_subscribers_terminals(world):
    a = world["a"]
    alice = a["people"]["Alice"]
    write(a["owner"], "insert", {"into": "terminal", "columns": ["subscriber_id", "uid"],
                                 "values": [[alice.id, "tv-1"], [alice.id, "tv-2"]]})
    ids = sorted(Device.objects.filter(subscriber=alice).values_list("id", flat=True))
    result = write(a["owner"], "delete", {"from": "terminal", "where": {"in": ["subscriber_id", {"select": {
        "data": "id", "from": "subscriber", "where": {"eq": ["username", "12345678901"]}}}]}, "returning": "id"})
    assert result == ids and not Device.objects.filter(subscriber=alice).exists()
    assert Operation.objects.filter(type="removeDevice", subscriber_id=alice.id).count() == 2


def test_a_terminal_over_the_subscribers_limit_is_a_conflict(world):
    a = world["a"]
    write(a["owner"], "update", {"table": "subscriber", "set": {"max_terminal": 1}, "where": {"eq": ["name", "Bob"]}})
    before = stored()
    refusal = error(a["owner"], "insert", {"into": "terminal", "columns": ["subscriber_id", "uid"],
                                           "values": [[a["people"]["Bob"].id, f"tv-{i}"] for i in range(2)]})
    assert refusal == {"code": 9, "message": "row 2: subscriber_id: Already has 1 device(s), the limit. "
                                             "Nothing was changed."}
    assert stored() == before


# --- package, package_media, media, category ----------------------------------------------------------------


def test_packages_paid_false_is_a_free_package(world):
    a = world["a"]
    created = write(a["owner"], "insert", {"into": "package", "columns": ["name", "description", "paid"],
                                           "values": [["kids", "For children", False], ["premium", None, True]],
                                           "returning": ["name", "description", "paid"]})
    assert created == [["kids", "For children", False], ["premium", "", True]]
    assert FreePackage.objects.filter(package__name="kids", package__portal=a["portal"]).exists()
    assert write(a["owner"], "update", {"table": "package", "set": {"paid": True, "description": "Cartoons"},
                                        "where": {"eq": ["name", "kids"]}, "returning": ["paid", "description"]}) == [
        [True, "Cartoons"]]
    assert not FreePackage.objects.filter(package__name="kids").exists()
    assert list(Operation.objects.order_by("-id").values_list("type", flat=True)[:2]) == [
        "removeFreePackage", "updatePackage"]


def test_a_package_with_subscribers_is_not_deleted(world):
    a = world["a"]
    before = stored()
    refusal = error(a["owner"], "delete", {"from": "package", "where": {"eq": ["name", "sports"]}})
    assert refusal["code"] == 9 and "it has 2 subscribers" in refusal["message"]
    assert stored() == before
    write(a["owner"], "insert", {"into": "package", "columns": ["name"], "values": [["unused"]]})
    assert write(a["owner"], "delete", {"from": "package", "where": {"eq": ["name", "unused"]}}) == 1


def test_package_media_links_and_unlinks_channels(world):
    a = world["a"]
    sports, news, jazz = a["packages"]["sports"], a["channels"]["news"], a["channels"]["jazz"]
    assert write(a["owner"], "insert", {"into": "package_media", "columns": ["package_id", "media_id"],
                                        "values": [[sports.id, news.id], [sports.id, jazz.id]],
                                        "returning": ["package_id", "media_id"]}) == [[sports.id, news.id],
                                                                                      [sports.id, jazz.id]]
    assert write(a["owner"], "delete", {"from": "package_media", "where": {"and": [
        {"eq": ["package_id", sports.id]}, {"neq": ["media_id", news.id]}]}}) == 2
    assert list(PackageChannel.objects.filter(package=sports).values_list("channel_id", flat=True)) == [news.id]
    assert actors("removeChannelFromPackage") == [a["portal"].owner.email] * 2
    refusal = error(a["owner"], "update", {"table": "package_media", "set": {"media_id": jazz.id},
                                           "where": {"eq": ["package_id", sports.id]}})
    assert refusal["code"] == -32602


def test_media_are_created_updated_and_deleted_through_the_content_services(world):
    a = world["a"]
    created = write(a["owner"], "insert", {"into": "media", "columns": ["name", "title", "number", "is_radio"],
                                           "values": [["rock", "Rock FM", 9, True]],
                                           "returning": ["name", "title", "number", "is_tv", "is_radio"]})
    assert created == [["rock", "Rock FM", 9, False, True]]
    assert write(a["owner"], "update", {"table": "media", "set": {"title": "Rock Radio", "is_tv": True},
                                        "where": {"eq": ["name", "rock"]},
                                        "returning": ["title", "is_radio"]}) == [["Rock Radio", False]]
    taken = error(a["owner"], "update", {"table": "media", "set": {"number": 1}, "where": {"eq": ["name", "rock"]}})
    assert taken["code"] == 9
    assert write(a["owner"], "delete", {"from": "media", "where": {"eq": ["name", "rock"]}}) == 1
    assert actors("createChannel") and actors("deleteChannel")[-1] == a["portal"].owner.email


@pytest.mark.parametrize(("method", "params", "named"), [
    ("update", {"table": "media", "set": {"port": 80}, "where": {"eq": ["name", "news"]}},
     "set: update cannot write media.port (it comes from the portal's stream base URL)."),
    ("update", {"table": "media", "set": {"name": "x"}, "where": {"eq": ["name", "news"]}},
     "set: update cannot write media.name (a channel's stream name never changes)."),
    ("insert", {"into": "media", "columns": ["name", "inet_addr"], "values": [["x", "1.2.3.4"]]},
     "columns: insert cannot write media.inet_addr"),
    ("insert", {"into": "subscriber", "columns": ["id", "name"], "values": [[1, "x"]]},
     "columns: insert cannot write subscriber.id (IDs are assigned by Catena)."),
    ("update", {"table": "subscriber_package", "set": {"enabled": False}, "where": {"eq": ["id", 1]}},
     "cannot write subscriber_package.enabled (it is computed from started_on and expired_on: set those)."),
])
def test_read_only_columns_are_refused_naming_them(world, method, params, named):
    before = stored()
    refusal = error(world["a"]["owner"], method, params)
    assert refusal == {"code": -32602, "message": named} or (refusal["code"] == -32602 and named in refusal[
        "message"]), refusal
    assert stored() == before


def test_categories_are_created_retitled_and_deleted(world):
    a = world["a"]
    assert write(a["owner"], "insert", {"into": "category", "columns": ["name", "title"],
                                        "values": [["films", "Films"]], "returning": "name"}) == ["films"]
    assert write(a["owner"], "update", {"table": "category", "set": {"title": "Cinema"},
                                        "where": {"eq": ["name", "films"]}, "returning": "title"}) == ["Cinema"]
    assert write(a["owner"], "delete", {"from": "category", "where": {"like": ["name", "film%"]},
                                        "returning": "title"}) == ["Cinema"]
    assert not Category.objects.filter(name="films").exists()


# --- insert … select ----------------------------------------------------------------------------------------


def test_insert_select_subscribes_the_selected_rows_with_extra_conditions_beside_the_clauses(world):
    a = world["a"]
    dave, carol = a["people"]["Dave"], a["people"]["Carol"]
    result = write(a["owner"], "insert", {
        "into": "subscriber_package", "columns": ["subscriber_id", "package_id", "enabled"],
        "select": {"data": ["id", a["packages"]["sports"].id, True], "from": "subscriber",
                   "where": {"eq": ["disabled", True]}},
        "in": ["name", "Dave", "Carol"],
        "returning": ["subscriber_id", "package_id"]})
    assert result == [[dave.id, a["packages"]["sports"].id]]  # Carol is not disabled
    assert not Subscription.objects.filter(subscriber=carol, package=a["packages"]["sports"]).exists()


def test_insert_select_over_a_join_gives_one_subscriber_the_packages_of_another(world):
    a = world["a"]
    dave = a["people"]["Dave"]
    result = write(a["owner"], "insert", {
        "into": "subscriber_package", "columns": ["subscriber_id", "package_id"],
        "select": {"data": [dave.id, {"sp": "package_id"}],
                   "from": [{"table": "subscriber_package", "as": "sp"}, {"table": "subscriber", "as": "s"}],
                   "where": {"and": [{"eq": [{"sp": "subscriber_id"}, {"s": "id"}]}]},
                   "order_by": {"sp": "package_id"}},
        "eq": [{"s": "name"}, "Alice"],
        "returning": "package_id"})
    assert result == sorted([a["packages"]["sports"].id, a["packages"]["movie"].id])
    assert sorted(Subscription.objects.filter(subscriber=dave).values_list("package_id", flat=True)) == result


# --- permissions, isolation, injection ------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "method", "params"), [
    ("content", "update", {"table": "subscriber", "set": {"disabled": True}, "where": {"eq": ["name", "Alice"]}}),
    ("content", "insert", {"into": "terminal", "columns": ["subscriber_id", "uid"], "values": [[1, "x"]]}),
    ("content", "delete", {"from": "subscriber_package", "where": {"is_not": ["id", None]}}),
    ("subscribers", "insert", {"into": "media", "columns": ["name", "title"], "values": [["x", "X"]]}),
    ("subscribers", "update", {"table": "package", "set": {"description": "x"}, "where": {"eq": ["name", "basic"]}}),
    ("subscribers", "delete", {"from": "package_media", "where": {"is_not": ["package_id", None]}}),
    ("viewer", "delete", {"from": "category", "where": {"is_not": ["id", None]}}),
    ("content", "insert", {"into": "package", "columns": ["name", "paid"], "values": [["gift", False]]}),
])
def test_writes_the_managers_permissions_do_not_allow_are_refused_and_change_nothing(world, managers, role, method,
                                                                                     params):
    before = stored()
    refusal = error(managers[role], method, params)
    assert refusal["code"] == 7 and "permission" in refusal["message"] and refusal["message"].endswith(
        "Nothing was changed."), refusal
    assert stored() == before


def test_rows_of_another_portal_cannot_be_changed_also_through_sub_selects(world):
    a, b = world["a"], world["b"]
    before = stored()
    b_alice = b["people"]["Alice"]
    owner = a["owner"]
    assert write(owner, "update", {"table": "subscriber", "set": {"disabled": True},
                                   "where": {"eq": ["id", b_alice.id]}}) == 0
    assert write(owner, "delete", {"from": "subscriber_package", "where": {"in": ["subscriber_id", {"select": {
        "data": "id", "from": "subscriber", "where": {"eq": ["name", "b-Alice"]}}}]}}) == 0
    assert write(owner, "delete", {"from": "package", "where": {"in": ["id", b["packages"]["movie"].id]}}) == 0
    refusal = error(owner, "insert", {"into": "subscriber_package", "columns": ["subscriber_id", "package_id"],
                                      "values": [[b_alice.id, a["packages"]["basic"].id]]})
    assert refusal["code"] == 10 and "subscriber_id: no subscriber" in refusal["message"]
    refusal = error(owner, "insert", {"into": "package_media", "columns": ["package_id", "media_id"],
                                      "values": [[a["packages"]["basic"].id, b["channels"]["sport"].id]]})
    assert refusal["code"] == 10
    refusal = error(owner, "insert", {"into": "terminal", "columns": ["subscriber_id", "uid"],
                                      "values": [[b_alice.id, "x"]]})
    assert refusal["code"] == 10
    assert stored() == before


@pytest.mark.parametrize(("method", "params", "named"), [
    ("insert", {"into": "subscriber; drop table subscribers_subscriber", "columns": ["name"], "values": [["x"]]},
     "into: unknown table: subscriber; drop table subscribers_subscriber."),
    ("update", {"table": "subscriber\" --", "set": {"name": "x"}, "where": {"eq": ["id", 1]}},
     'table: unknown table: subscriber" --.'),
    ("update", {"table": "subscriber", "set": {"name = 'x' --": "x"}, "where": {"eq": ["id", 1]}},
     "set: unknown column: name = 'x' -- (table subscriber)."),
    ("insert", {"into": "category", "columns": ["name", "title); drop table x; --"], "values": [["a", "b"]]},
     "columns: unknown column: title); drop table x; -- (table category)."),
    ("delete", {"from": "category", "where": {"eq": ["name", "kids"]}, "returning": "title; drop table x"},
     "returning: unknown column: title; drop table x (table category)."),
    ("delete", {"from": "category", "where": {"eq": ["name' or 1=1 --", "kids"]}}, "Unknown column: name' or 1=1 --."),
    ("delete", {"from": ["category"], "where": {"eq": ["name", "kids"]}}, 'from: unknown table: ["category"].'),
    ("update", {"table": "subscriber", "set": {"name": "x"}, "from": "package", "where": {"eq": ["id", 1]}},
     "from: update … from (a join) is not supported"),
    ("delete", {"from": "subscriber", "using": "package", "where": {"eq": ["id", 1]}},
     "using: delete … using (a join) is not supported"),
    ("delete", {"from": "subscriber"}, "where: name the rows to change"),
    ("update", {"table": "subscriber", "set": {"name": {"select": {"data": "name", "from": "subscriber"}}},
                "where": {"eq": ["id", 1]}}, "set: name: plain values only"),
    ("insert", {"into": "category", "columns": ["name"], "values": [["a", "b"]]}, "row 1 must be a list of 1"),
    ("insert", {"into": "category", "columns": ["name", "name"], "values": [["a", "b"]]}, "named twice"),
    ("insert", {"into": "category", "columns": ["name"], "values": [["a"]], "having": 1}, "Unknown clause: having."),
    ("insert", {"into": "category", "columns": ["name"], "values": [["a"]] * 10_001}, "at most 10000 rows"),
])
def test_injection_and_broken_clauses_in_writes_are_32602_and_change_nothing(world, method, params, named):
    before = stored()
    refusal = error(world["a"]["owner"], method, params)
    assert refusal["code"] == -32602 and named in refusal["message"], refusal
    assert stored() == before


@pytest.mark.parametrize("value", ["x' or 1=1 --", "'; drop table subscribers_subscriber; --"])
def test_injection_in_write_values_is_stored_as_text_or_refused(world, value):
    a = world["a"]
    assert write(a["owner"], "update", {"table": "subscriber", "set": {"name": value},
                                        "where": {"eq": ["username", value]}}) == 0
    assert write(a["owner"], "update", {"table": "category", "set": {"title": value},
                                        "where": {"eq": ["name", "kids"]}, "returning": "title"}) == [value]
    assert Subscriber.objects.count() == 8


def test_a_write_nested_too_deep_is_refused(world):
    where = {"eq": ["name", "x"]}
    for _ in range(40):
        where = {"not": [where]}
    refusal = error(world["a"]["owner"], "delete", {"from": "category", "where": where})
    assert refusal == {"code": -32602, "message": "params: expressions nest at most 32 levels deep."}


def test_an_updated_period_is_stored_as_an_instant(world):
    a = world["a"]
    write(a["owner"], "update", {"table": "subscriber_package", "set": {"started_on": "2026-03-01T10:00:00+02:00"},
                                 "where": {"eq": ["subscriber_id", a["people"]["Bob"].id]}})
    assert Subscription.objects.get(subscriber=a["people"]["Bob"]).starts_at == dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC)


def test_every_missing_column_is_named_in_one_answer(world):
    refusal = error(world["a"]["owner"], "insert", {"into": "subscriber", "columns": ["name"], "values": [["Erin"]]})
    assert refusal == {"code": 8, "message": "row 1: phone_country_code: This field is required; phone: This field "
                                             "is required. Nothing was changed."}


def test_a_refused_second_row_of_an_update_undoes_the_first_and_schedules_no_invalidation(
        world, django_capture_on_commit_callbacks):
    before = stored()
    with django_capture_on_commit_callbacks() as scheduled:
        refusal = error(world["a"]["owner"], "update", {"table": "subscriber", "set": {"phone": "2345670000"},
                                                         "where": {"in": ["name", "Carol", "Dave"]}})
    dave = world["a"]["people"]["Dave"]
    assert refusal == {"code": 9, "message": f"subscriber {dave.id}: phone: A subscriber with phone +12345670000 "
                                             "already exists. Nothing was changed."}
    assert stored() == before and scheduled == []


def test_a_write_with_the_portal_api_key_is_recorded_as_the_api_key(world):
    portal = world["a"]["portal"]
    response = call(portal.api_key, "insert", {"into": "category", "columns": ["name", "title"],
                                               "values": [["films", "Films"]]}, header="X-Auth-Token")
    assert response.json()["result"] == 1
    operation = Operation.objects.get(type="createCategory", payload__name="films")
    assert (operation.portal_id, operation.actor_type, operation.actor_email) == (portal.id, "apiKey", "")
