"""The examples of the IPTVPORTAL seed (``seeds/004``), unchanged but for ASCII quotes and the one missing comma."""

from __future__ import annotations

import json

from monitoring.operations import Operation
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


def test_the_write_examples_answer_not_supported_yet_and_change_nothing(world):
    a = world["a"]
    before = (Subscriber.objects.filter(disabled=True).count(), Subscription.objects.count(),
              Operation.objects.count())
    for example in (ADD_PACKAGES, ADD_PACKAGES_TO_SUBSCRIBER, DISABLE_SUBSCRIBER, DELETE_TERMINALS,
                    DELETE_SUBSCRIBER_PACKAGES):
        call_id, method = json.loads(example)["id"], json.loads(example)["method"]
        response = post(a["owner"], example)
        assert response.status_code == 200
        assert response.json() == {"jsonrpc": "2.0", "id": call_id, "error": {
            "code": 4, "message": f"{method} is not supported yet: only select for now."}}
    after = (Subscriber.objects.filter(disabled=True).count(), Subscription.objects.count(),
             Operation.objects.count())
    assert after == before
