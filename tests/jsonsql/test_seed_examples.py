"""The examples of the IPTVPORTAL seed (``seeds/004``), unchanged but for ASCII quotes and the one missing comma."""

from __future__ import annotations

import json

from content.models import FreePackage, Package
from monitoring.operations import Operation
from portals.auth import Caller
from subscribers import devices
from subscribers import services as subscribers
from subscribers.device_model import Device
from subscribers.models import Subscriber, Subscription
from tests.jsonsql.conftest import call

CHANNELS_BY_NAME = """{
"jsonrpc" : "2.0",
"id" : 1,
"method" : "select",
"params" : {
   "data" : ["id", "name", "protocol","inet_addr","port"],
"from" : "media",
   "where" : {"is": ["is_tv", true]},
"order_by" : "name"
}}"""

SUBSCRIBERS_BY_LOGIN = """{
"jsonrpc" : "2.0",
"id" : 2,
"method" : "select",
"params" : {
   "data" : ["id", "username", "password"],
"from" : "subscriber",
   "order_by" : "username"
}}"""

ADD_PACKAGES = """{
"jsonrpc" : "2.0",
"id" : 3,
"method" : "insert",
"params" : {
   "into" : "package",
"columns" : ["name", "paid"],
   "values" : [ ["movie", true], ["sports", true] ],
"returning" : "id"
}}"""

ADD_PACKAGES_TO_SUBSCRIBER = """{
"jsonrpc" : "2.0",
"id" : 4,
"method" : "insert",
"params" : {
   "into" : "subscriber_package",
   "columns": ["subscriber_id", "package_id", "enabled"],
"select" : {
      "data": [{"s": "id"}, {"p": "id"}, true], "from": [
{
"table": "subscriber", "as": "s" },
{
"table": "package", "as": "p" }
],
      "where": {
         "and": [
{
"eq": [{"s": "username"}, "12345"]}
         ]
      }
   },
   "in": [{"p": "name"}, "movie", "sports"],
   "returning": "package_id"
}}"""

DISABLE_SUBSCRIBER = """{
"jsonrpc" : "2.0",
"id" : 2,
"method" : "update",
"params" : {
   "table" : "subscriber",
"set" : {
      "disabled": true
   },
   "where": {"eq": ["username", "12345"]},
"returning": "id"
}}"""

DELETE_TERMINALS = """{
"jsonrpc" : "2.0",
"id" : 2,
"method" : "delete",
"params" : {
   "from" : "terminal",
   "where" : {"in": ["subscriber_id", {
"select" : {
         "data" : "id",
         "from" : "subscriber",
         "where" : {"eq": ["username", "test"]}
      }
   }]},
   "returning": "id"
}}"""

DELETE_SUBSCRIBER_PACKAGES = """{
"jsonrpc" : "2.0",
"id" : 2,
"method" : "delete",
"params" : {
   "from": "subscriber_package",
"where": {"in": ["subscriber_id", {
      "select": {
         "data": "id",
         "from": "subscriber",
         "where": {"eq": ["username", "test"]}
      }
   }]},
   "returning": "id"
}}"""


def post(session: str, body: str):
    return call(session, "", None, raw=body.encode())


def test_the_channels_example_lists_the_tv_channels_by_name_with_the_stream_address(world):
    a = world["a"]
    response = post(a["owner"], CHANNELS_BY_NAME)
    assert response.status_code == 200
    channels = a["channels"]
    assert response.json() == {"jsonrpc": "2.0", "id": 1, "result": [
        [channels[name].id, name, "http", "127.0.0.1", 8080] for name in ("movies", "news", "sport")]}


def test_the_subscribers_example_lists_logins_in_order_with_the_write_only_password_as_null(world):
    a = world["a"]
    response = post(a["owner"], SUBSCRIBERS_BY_LOGIN)
    people = a["people"]
    assert response.json() == {"jsonrpc": "2.0", "id": 2, "result": [
        [people[name].id, people[name].full_phone, None] for name in ("Alice", "Bob", "Carol", "Dave")]}
    assert people["Alice"].full_phone == "12345678901"


def test_the_sub_select_of_the_delete_examples_runs_as_a_select(world):
    a = world["a"]
    where = json.loads(DELETE_SUBSCRIBER_PACKAGES)["params"]["where"]
    body = post(a["owner"], json.dumps({"jsonrpc": "2.0", "id": 7, "method": "select", "params": {
        "data": "id", "from": "subscriber_package", "where": where}})).json()
    assert body == {"jsonrpc": "2.0", "id": 7, "result": []}  # no subscriber logs in as "test"
    where["in"][1]["select"]["where"]["eq"][1] = "12345678901"
    body = post(a["owner"], json.dumps({"jsonrpc": "2.0", "id": 8, "method": "select", "params": {
        "data": "package_id", "from": "subscriber_package", "where": where, "order_by": "package_id"}})).json()
    assert body["result"] == sorted([a["packages"]["sports"].id, a["packages"]["movie"].id])


def _subscriber(portal, login: str, phone: str) -> Subscriber:
    return subscribers.create_subscriber(portal, caller=Caller(portal=portal), data={
        "name": login, "phoneCountryCode": "1", "phone": phone, "login": login})


def test_the_add_packages_example_creates_paid_packages_and_returns_their_ids(world):
    b = world["b"]  # portal A has packages named movie and sports already (a duplicate would be code 9)
    body = post(b["owner"], ADD_PACKAGES).json()
    created = Package.objects.filter(portal=b["portal"], name__in=["movie", "sports"]).order_by("name")
    assert body == {"jsonrpc": "2.0", "id": 3, "result": [created[0].id, created[1].id]}
    assert not FreePackage.objects.filter(package__in=created).exists()
    assert list(Operation.objects.filter(type="createPackage", package_id__in=[p.id for p in created])
                .values_list("actor_email", flat=True)) == [b["portal"].owner.email] * 2


def test_the_disable_example_disables_the_subscriber_with_that_login(world):
    a = world["a"]
    subscriber = _subscriber(a["portal"], "12345", "2345")
    assert subscriber.full_phone == "12345"
    body = post(a["owner"], DISABLE_SUBSCRIBER).json()
    assert body == {"jsonrpc": "2.0", "id": 2, "result": [subscriber.id]}
    assert Subscriber.objects.get(pk=subscriber.pk).disabled
    operation = Operation.objects.get(type="disableSubscriber", subscriber_id=subscriber.id)
    assert operation.actor_email == a["portal"].owner.email


def test_the_delete_examples_remove_the_terminals_and_subscriptions_of_the_login_test(world):
    a = world["a"]
    owner = Caller(portal=a["portal"])
    test = _subscriber(a["portal"], "test", "5550001")
    terminals = [devices.add_device(a["portal"], caller=owner, data={
        "subscriberId": test.public_id, "kind": "player", "uid": uid}) for uid in ("tv", "phone")]
    subscriptions = [subscribers.subscribe(test, a["packages"][name], caller=owner) for name in ("sports", "movie")]
    untouched = stored_rows()
    body = post(a["owner"], DELETE_TERMINALS).json()
    assert body == {"jsonrpc": "2.0", "id": 2, "result": [d.id for d in terminals]}
    body = post(a["owner"], DELETE_SUBSCRIBER_PACKAGES).json()
    assert body == {"jsonrpc": "2.0", "id": 2, "result": [s.id for s in subscriptions]}
    assert not Device.objects.filter(subscriber=test).exists() and not test.subscriptions.exists()
    assert stored_rows() == (untouched[0] - 2, untouched[1] - 2)  # nobody else's rows
    assert Operation.objects.filter(type__in=["removeDevice", "deletePackageSubscriber"],
                                    subscriber_id=test.id).count() == 4


def stored_rows() -> tuple[int, int]:
    return Device.objects.count(), Subscription.objects.count()
