"""The JSON-RPC envelope: authorize_user, the session header, bad input codes, limits, injection attempts."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from monitoring.operations import Operation
from portals.models import ManagerSession
from subscribers.jsonsql.compiler import MAX_ROWS
from subscribers.models import Subscriber, Subscription
from tests.api.test_account import code, enrol
from tests.conftest import api_client
from tests.factories import PASSWORD, make_manager
from tests.jsonsql.conftest import JSONRPC, call, error, select


def authorize(params, *, query="", host="testserver"):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "authorize_user", "params": params})
    return Client().post(JSONRPC + query, body, content_type="application/json", HTTP_HOST=host)


def test_authorize_user_opens_a_manager_session_the_jsonsql_header_accepts(world):
    portal = world["a"]["portal"]
    response = authorize({"username": portal.owner.email, "password": PASSWORD})
    body = response.json()
    assert response.status_code == 200 and set(body) == {"jsonrpc", "id", "result"} and set(body["result"]) == {
        "session_id"}
    session = body["result"]["session_id"]
    assert ManagerSession.objects.filter(manager=portal.owner).count() == 2  # the fixture's and this one
    assert select(session, {"data": "name", "from": "category", "order_by": "name"}) == ["info", "kids"]
    assert call(session, "select", {"data": "id", "from": "media"}, header="X-Auth-Token").status_code == 200
    assert call(portal.api_key, "select", {"data": "id", "from": "media"}, header="X-Auth-Token").json()[
        "result"]


def test_authorize_user_picks_the_portal_by_host_or_portal_id_when_an_email_manages_several(world):
    a, b = world["a"]["portal"], world["b"]["portal"]
    make_manager(a, "billing@example.com")
    make_manager(b, "billing@example.com")
    both = authorize({"username": "billing@example.com", "password": PASSWORD}).json()
    assert both["error"]["code"] == -32602 and "portalId" in both["error"]["message"]
    by_host = authorize({"username": "billing@example.com", "password": PASSWORD}, host=b.domain).json()
    assert select(by_host["result"]["session_id"], {"data": "name", "from": "package", "order_by": "name"}) == [
        "b-basic", "b-movie", "b-sports"]
    by_id = authorize({"username": "billing@example.com", "password": PASSWORD}, query=f"?portalId={a.public_id}")
    assert select(by_id.json()["result"]["session_id"], {"data": "name", "from": "package", "limit": 1}) == ["basic"]
    assert ManagerSession.objects.filter(manager__email="billing@example.com").count() == 2  # none left over


def test_authorize_user_refusals(world):
    portal = world["a"]["portal"]
    wrong = authorize({"username": portal.owner.email, "password": "nope-nope-nope"}).json()
    assert wrong == {"jsonrpc": "2.0", "id": 1, "error": {"code": 1, "message": "Invalid email or password."}}
    assert authorize({"password": PASSWORD}).json()["error"]["code"] == -32602
    unknown = Client().post(JSONRPC, json.dumps({"jsonrpc": "2.0", "id": 5, "method": "select", "params": {}}),
                            content_type="application/json").json()
    assert unknown["error"]["code"] == -32601 and unknown["id"] == 5


def test_jsonsql_without_a_live_session_is_401_with_a_json_rpc_error(world):
    for session in (None, "not-a-session"):
        response = call(session, "select", {"data": "id", "from": "subscriber"})
        assert response.status_code == 401
        assert response.json()["error"]["code"] == 1
    other = call(world["a"]["owner"], "select", {"data": "id", "from": "subscriber"},
                 query=f"?portalId={world['b']['portal'].public_id}")
    assert other.status_code == 401


@pytest.mark.parametrize(("raw", "code"), [
    (b"{not json", -32700),
    (b"[" * 100_000 + b"]" * 100_000, -32700),  # deeper than the parser goes
    (b"[]", -32600),
    (b'{"id": 1, "method": "select"}', -32600),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "explode", "params": {}}', -32601),
])
def test_malformed_calls_get_the_json_rpc_codes(world, raw, code):
    response = call(world["a"]["owner"], "", None, raw=raw)
    assert response.status_code == 200 and response.json()["error"]["code"] == code


@pytest.mark.parametrize(("params", "named"), [
    ({"data": "id", "from": "terminals"}, "Unknown table: terminals."),
    ({"data": "id", "from": "subscriber; drop table subscribers_subscriber"},
     "Unknown table: subscriber; drop table subscribers_subscriber."),
    ({"data": "playback_token", "from": "subscriber"}, "Unknown column: playback_token."),
    ({"data": "name", "from": "subscriber", "where": {"eq": ["name\" or 1=1 --", "x"]}},
     'Unknown column: name" or 1=1 --.'),
    ({"data": "id", "from": "subscriber", "order_by": "id; drop table x"}, "Unknown column: id; drop table x."),
    ({"data": {"s": "full_phone"}, "from": {"table": "subscriber", "as": "s"}},
     "Unknown column: s.full_phone (table subscriber)."),
    ({"data": "id", "from": "subscriber", "where": {"regexp": ["name", "x"]}}, "Unknown operator: regexp."),
    ({"data": "id", "from": "subscriber", "having": {}}, "Unknown clause: having."),
    ({"data": "id", "from": "subscriber", "limit": MAX_ROWS + 1}, "limit: at most 10000 rows per select"),
    ({"data": "id", "from": "subscriber", "limit": -1}, "limit: a whole number"),
    ({"data": "id", "from": "subscriber", "where": {"in": ["id", list(range(10_001))]}}, "at most 10000 values"),
    ({"data": "id", "from": "subscriber", "where": {"in": ["id", {"select": {"data": ["id", "name"],
                                                                             "from": "subscriber"}}]}},
     "selects exactly one column"),
    ({"data": ["name", {"count": "*"}], "from": "subscriber"}, "neither an aggregate nor in group_by"),
    ({"data": "id", "from": "subscriber", "where": {"is": ["disabled", "yes"]}}, "null, true or false"),
])
def test_unknown_names_and_broken_clauses_are_32602_naming_them(world, params, named):
    refusal = error(world["a"]["owner"], "select", params)
    assert refusal["code"] == -32602 and named in refusal["message"], refusal


def test_an_expression_nested_deeper_than_32_is_refused_before_any_query(world, django_assert_max_num_queries):
    where = {"eq": ["name", "x"]}
    for _ in range(40):
        where = {"not": [where]}
    with django_assert_max_num_queries(2):  # the session lookup only
        refusal = error(world["a"]["owner"], "select", {"data": "id", "from": "subscriber", "where": where})
    assert refusal == {"code": -32602, "message": "params: expressions nest at most 32 levels deep."}


def test_a_body_over_1_mb_is_refused(world):
    response = call(world["a"]["owner"], "", None, raw=b'{"jsonrpc": "2.0", "pad": "' + b"x" * (1024 * 1024) + b'"}')
    assert response.status_code == 413 and response.json()["error"]["code"] == -32600


def test_more_than_10000_rows_asks_for_a_limit(world):
    portal = world["a"]["portal"]
    # Bulk rows straight into the table: 10,001 subscribers through the service would take minutes.
    Subscriber.objects.bulk_create(Subscriber(portal=portal, name=f"n{i}", phone_country_code="7", phone=str(i),
                                              full_phone=f"7{i}", login=f"7{i}") for i in range(MAX_ROWS))
    refusal = error(world["a"]["owner"], "select", {"data": "id", "from": "subscriber"})
    assert refusal["code"] == 5 and "add a limit" in refusal["message"]
    assert len(select(world["a"]["owner"], {"data": "id", "from": "subscriber", "limit": MAX_ROWS})) == MAX_ROWS


@pytest.mark.parametrize("value", ["x' or 1=1 --", "x\" or \"1\"=\"1", "'; drop table subscribers_subscriber; --",
                                   "%", "Alice' --"])
def test_injection_in_value_positions_matches_nothing_and_changes_nothing(world, value):
    owner = world["a"]["owner"]
    before = (Subscriber.objects.count(), Subscription.objects.count(), Operation.objects.count())
    assert select(owner, {"data": "id", "from": "subscriber", "where": {"eq": ["username", value]}}) == []
    assert select(owner, {"data": "id", "from": "subscriber", "where": {"in": ["name", value, "nobody"]}}) == []
    assert (Subscriber.objects.count(), Subscription.objects.count(), Operation.objects.count()) == before


def test_a_value_the_column_cannot_hold_is_an_application_error_not_a_500(world):
    refusal = error(world["a"]["owner"], "select", {"data": "id", "from": "subscriber",
                                                     "where": {"eq": [{"add": ["id", "x"]}, 1]}})
    assert refusal["code"] in (6, -32602)


def test_authorize_user_with_two_factor_on_needs_the_code_and_throttles_failures(world):
    portal = world["a"]["portal"]
    secret, _ = enrol(api_client(world["a"]["owner"]))
    without = authorize({"username": portal.owner.email, "password": PASSWORD}).json()
    assert without["error"]["code"] == 2 and "params.totp" in without["error"]["message"]
    with_code = authorize({"username": portal.owner.email, "password": PASSWORD, "totp": code(secret)}).json()
    assert set(with_code["result"]) == {"session_id"}
    codes = set()
    for _ in range(30):
        codes.add(authorize({"username": portal.owner.email, "password": "wrong-wrong-wrong"}).json()["error"]["code"])
        if 3 in codes:
            break
    assert codes == {1, 3}  # wrong passwords, then the login throttle
