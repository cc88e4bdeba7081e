"""Limits and lenient input: IPTVPORTAL's trailing commas, the statement timeout on PostgreSQL, and refusals that
run no query (a huge ``in`` list, a too-deep expression)."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from subscribers.jsonsql.compiler import MAX_IN_ITEMS
from subscribers.jsonsql.views import without_trailing_commas
from subscribers.models import Subscriber
from tests.jsonsql.conftest import call, error, select
from tests.jsonsql.test_seed_examples import ADD_PACKAGES_TO_SUBSCRIBER

# The seed's example 4 exactly as IPTVPORTAL prints it: a comma after the last item of the "and".
SEED_WITH_TRAILING_COMMA = ADD_PACKAGES_TO_SUBSCRIBER.replace(
    '"eq": [{"s": "username"}, "12345"]}\n         ]', '"eq": [{"s": "username"}, "12345"]},\n         ]')


def test_the_seed_example_with_its_trailing_comma_is_read(world):
    assert SEED_WITH_TRAILING_COMMA != ADD_PACKAGES_TO_SUBSCRIBER
    with pytest.raises(ValueError):
        json.loads(SEED_WITH_TRAILING_COMMA)  # Python's parser refuses it…
    body = call(world["a"]["owner"], "", None, raw=SEED_WITH_TRAILING_COMMA.encode()).json()
    assert body["id"] == 4 and body.get("error", {}).get("code") != -32700, body  # …the endpoint reads it


def test_the_seed_example_4_as_printed_subscribes_the_login_12345_to_movie_and_sports(world):
    from portals.auth import Caller
    from subscribers import services as subscribers
    from subscribers.models import Subscription

    a = world["a"]
    subscriber = subscribers.create_subscriber(a["portal"], caller=Caller(portal=a["portal"]), data={
        "name": "Billing", "phoneCountryCode": "1", "phone": "2345"})
    assert subscriber.login == "12345"
    body = call(a["owner"], "", None, raw=SEED_WITH_TRAILING_COMMA.encode()).json()
    packages = a["packages"]
    assert body["id"] == 4 and sorted(body["result"]) == sorted([packages["movie"].id, packages["sports"].id])
    assert set(Subscription.objects.filter(subscriber=subscriber).values_list("package__name", flat=True)) == {
        "movie", "sports"}


def test_the_select_of_the_seed_example_with_its_trailing_comma_answers_the_pairs(world):
    a = world["a"]
    text = SEED_WITH_TRAILING_COMMA.split('"select" : ', 1)[1].split(',\n   "in"', 1)[0].replace(
        '"12345"', json.dumps(a["people"]["Bob"].login))
    raw = '{"jsonrpc": "2.0", "id": 9, "method": "select", "params": ' + text + ',\n}'
    body = call(a["owner"], "", None, raw=raw.encode()).json()
    assert body["id"] == 9 and sorted(body["result"]) == sorted(
        [a["people"]["Bob"].id, package.id, True] for package in a["packages"].values())


def test_trailing_commas_go_but_strings_stay_as_they_are():
    assert without_trailing_commas('{"a": [1, 2, ], "b": "x,]",\n}') == '{"a": [1, 2 ], "b": "x,]"\n}'
    assert without_trailing_commas('["a\\", ]", ]') == '["a\\", ]" ]'
    assert json.loads(without_trailing_commas('{"eq": ["name", "Bob,}"],}')) == {"eq": ["name", "Bob,}"]}


@pytest.mark.parametrize("raw", [b'{"jsonrpc": "2.0",, "id": 1}', b'{"jsonrpc": "2.0", "id": 1, "params": [,]}',
                                 b'{"jsonrpc": "2.0", "id": 1, "params": [1,,]}', b'{"jsonrpc": "2.0", "id": 1,',
                                 b'{"jsonrpc": "2.0", "id": 1, "method": "select",}\xff'])
def test_genuinely_broken_json_is_still_a_parse_error(world, raw):
    assert call(world["a"]["owner"], "", None, raw=raw).json()["error"]["code"] == -32700


def test_a_select_over_the_statement_timeout_is_application_error_6(world):
    """PostgreSQL's statement_timeout, SQLite's progress handler: the same answer."""
    a = world["a"]
    # 300 more subscribers (data setup): a triple self cross join is then 304³ ≈ 28 million rows to count.
    Subscriber.objects.bulk_create(Subscriber(portal=a["portal"], name=f"n{i}", phone_country_code="7",
                                              phone=str(i), full_phone=f"7{i}", login=f"7{i}") for i in range(300))
    heavy = {"data": {"count": "*"}, "from": [{"table": "subscriber", "as": alias} for alias in ("x", "y", "z")],
             "where": {"neq": [{"add": [{"x": "id"}, {"y": "id"}, {"z": "id"}]}, 0]}}
    with override_settings(JSONSQL_STATEMENT_TIMEOUT_MS=50):
        response = call(a["owner"], "select", heavy)
    assert response.status_code == 200
    assert response.json()["error"] == {"code": 6, "message": "The select took longer than 0.05 s: narrow it "
                                                              "(a where on each table, a limit)."}
    assert select(a["owner"], {"data": {"count": "*"}, "from": "subscriber"}) == [304]  # the next call runs


def test_a_write_whose_where_runs_over_the_time_limit_is_error_6_and_changes_nothing(world):
    a = world["a"]
    Subscriber.objects.bulk_create(Subscriber(portal=a["portal"], name=f"n{i}", phone_country_code="7",
                                              phone=str(i), full_phone=f"7{i}", login=f"7{i}") for i in range(300))
    heavy = {"in": ["id", {"select": {"data": {"x": "id"}, "from": [
        {"table": "subscriber", "as": alias} for alias in ("x", "y", "z")],
        "where": {"neq": [{"add": [{"x": "id"}, {"y": "id"}, {"z": "id"}]}, 0]}}}]}
    disabled = set(Subscriber.objects.filter(disabled=True).values_list("id", flat=True))
    with override_settings(JSONSQL_STATEMENT_TIMEOUT_MS=50):
        response = call(a["owner"], "update", {"table": "subscriber", "set": {"disabled": True}, "where": heavy})
    assert response.json()["error"]["code"] == 6 and "took longer than 0.05 s" in response.json()["error"]["message"]
    assert set(Subscriber.objects.filter(disabled=True).values_list("id", flat=True)) == disabled


def _tables_read(queries) -> set[str]:
    return {table for table in ("subscribers_subscriber", "subscribers_subscription", "content_package")
            if any(table in query["sql"] for query in queries.captured_queries)}


def test_a_huge_in_list_is_refused_before_any_query(world):
    for where in ({"in": ["id", list(range(MAX_IN_ITEMS + 1))]},
                  {"in": ["id", {"select": {"data": "subscriber_id", "from": "subscriber_package",
                                            "where": {"not_in": ["package_id", *range(MAX_IN_ITEMS + 1)]}}}]}):
        with CaptureQueriesContext(connection) as queries:
            refusal = error(world["a"]["owner"], "select", {"data": "id", "from": "subscriber", "where": where})
        assert refusal == {"code": -32602, "message": f"in: at most {MAX_IN_ITEMS} values, got {MAX_IN_ITEMS + 1}."
                           } or refusal == {"code": -32602, "message": f"not_in: at most {MAX_IN_ITEMS} values, "
                                                                       f"got {MAX_IN_ITEMS + 1}."}
        assert _tables_read(queries) == set()
        assert not any("statement_timeout" in query["sql"] for query in queries.captured_queries)


def test_a_too_deep_expression_is_refused_before_any_query(world):
    where = {"eq": ["name", "x"]}
    for _ in range(32):
        where = {"not": [where]}
    params = {"data": "id", "from": "subscriber", "where": {"in": ["id", {"select": {
        "data": "subscriber_id", "from": "subscriber_package", "where": where}}]}}
    with CaptureQueriesContext(connection) as queries:
        refusal = error(world["a"]["owner"], "select", params)
    assert refusal == {"code": -32602, "message": "params: expressions nest at most 32 levels deep."}
    assert _tables_read(queries) == set()
