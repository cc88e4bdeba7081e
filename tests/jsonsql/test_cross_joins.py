"""Cross joins (tables no foreign key in ``where`` links) and correlated sub-selects: every pair of the portal's
rows, the conditions on each side and across them, paging, grouping, the row cap and the portal wall."""

from __future__ import annotations

import itertools
import json

from django.db import connection
from django.test.utils import CaptureQueriesContext

from subscribers.jsonsql.compiler import MAX_ROWS
from subscribers.models import Subscriber
from tests.jsonsql.conftest import error, select
from tests.jsonsql.test_seed_examples import ADD_PACKAGES_TO_SUBSCRIBER

S_P = [{"table": "subscriber", "as": "s"}, {"table": "package", "as": "p"}]


def pairs(world, portal="a", keep=lambda person, package: True) -> list[list]:
    """``[subscriber name, package name]`` of every pair of the portal's rows that ``keep`` keeps, sorted."""
    people = Subscriber.objects.filter(portal=world[portal]["portal"])  # as stored (Dave is disabled)
    packages = world[portal]["packages"].values()
    return sorted([person.name, package.name] for person, package in itertools.product(people, packages)
                  if keep(person, package))


def test_the_seed_insert_examples_select_pairs_the_subscriber_with_every_package(world):
    a = world["a"]
    seed_select = json.loads(ADD_PACKAGES_TO_SUBSCRIBER)["params"]["select"]
    seed_select["where"]["and"][0]["eq"][1] = a["people"]["Alice"].login  # the seed's "12345"
    rows = select(a["owner"], seed_select)
    alice = a["people"]["Alice"].id
    assert sorted(rows) == sorted([alice, package.id, True] for package in a["packages"].values())


def test_conditions_on_each_side_filter_that_side(world):
    a = world["a"]
    rows = select(a["owner"], {"data": [{"s": "name"}, {"p": "name"}], "from": S_P, "where": {"and": [
        {"is": [{"s": "disabled"}, False]}, {"is": [{"p": "paid"}, True]}, {"neq": [{"p": "name"}, "movie"]}]}})
    assert sorted(rows) == pairs(world, keep=lambda s, p: not s.disabled and p.name == "sports")
    assert sorted(rows) == [["Alice", "sports"], ["Bob", "sports"], ["Carol", "sports"]]


def test_conditions_across_the_sides_compare_each_pair(world):
    a = world["a"]
    for operator, compare in (("lt", lambda s, p: s.id < p.id), ("gt", lambda s, p: s.id > p.id)):
        rows = select(a["owner"], {"data": [{"s": "name"}, {"p": "name"}], "from": S_P,
                                   "where": {operator: [{"s": "id"}, {"p": "id"}]}})
        assert sorted(rows) == pairs(world, keep=compare)
    either = select(a["owner"], {"data": [{"s": "name"}, {"p": "name"}], "from": S_P, "where": {"or": [
        {"eq": [{"s": "name"}, "Bob"]}, {"like": [{"p": "name"}, "mov%"]}]}})
    assert sorted(either) == pairs(world, keep=lambda s, p: s.name == "Bob" or p.name == "movie")
    assert len(either) == 3 + 4 - 1


def test_a_table_cross_joined_with_itself_pairs_distinct_rows(world):
    rows = select(world["a"]["owner"], {
        "data": [{"x": "name"}, {"y": "name"}],
        "from": [{"table": "subscriber", "as": "x"}, {"table": "subscriber", "as": "y"}],
        "where": {"lt": [{"x": "name"}, {"y": "name"}]}, "order_by": [{"x": "name"}, {"y": "name"}]})
    assert rows == [[x, y] for x, y in itertools.combinations(["Alice", "Bob", "Carol", "Dave"], 2)]


def test_joined_and_cross_joined_tables_together(world):
    a = world["a"]
    rows = select(a["owner"], {
        "data": [{"s": "name"}, {"p": "name"}, {"c": "name"}],
        "from": [{"table": "subscriber", "as": "s"}, {"table": "subscriber_package", "as": "sp"},
                 {"table": "package", "as": "p"}, {"table": "category", "as": "c"}],
        "where": {"and": [{"eq": [{"sp": "subscriber_id"}, {"s": "id"}]}, {"eq": [{"sp": "package_id"}, {"p": "id"}]},
                          {"is": [{"sp": "enabled"}, True]}, {"eq": [{"c": "name"}, "kids"]}]},
        "order_by": [{"s": "name"}, {"p": "name"}]})
    assert rows == [["Alice", "movie", "kids"], ["Alice", "sports", "kids"], ["Bob", "sports", "kids"]]


def test_distinct_order_limit_offset_and_aggregates_over_the_product(world):
    owner = world["a"]["owner"]
    assert select(owner, {"data": {"p": "name"}, "from": S_P, "distinct": True, "order_by": {"p": "name"}}) == [
        "basic", "movie", "sports"]
    ordered = pairs(world)
    ordered.sort(key=lambda row: row[1], reverse=True)
    ordered.sort(key=lambda row: row[0])
    assert select(owner, {"data": [{"s": "name"}, {"p": "name"}], "from": S_P,
                          "order_by": [{"s": "name"}, {"desc": {"p": "name"}}], "limit": 4, "offset": 2}) == ordered[2:6]
    assert select(owner, {"data": {"count": "*"}, "from": S_P}) == [12]
    assert select(owner, {"data": [{"p": "name"}, {"count": "*"}, {"max": {"s": "name"}}], "from": S_P,
                          "where": {"is_not": [{"s": "disabled"}, True]}, "group_by": {"p": "name"},
                          "order_by": {"p": "name"}}) == [["basic", 3, "Carol"], ["movie", 3, "Carol"],
                                                          ["sports", 3, "Carol"]]


def test_a_cross_join_never_reaches_another_portal(world):
    a, b = world["a"], world["b"]
    assert sorted(select(b["owner"], {"data": [{"s": "name"}, {"p": "name"}], "from": S_P})) == pairs(world, "b")
    everything = select(a["owner"], {"data": [{"s": "id"}, {"p": "id"}, {"m": "id"}, {"c": "id"}], "from": [
        *S_P, {"table": "media", "as": "m"}, {"table": "category", "as": "c"}]})
    assert len(everything) == 4 * 3 * 4 * 2
    b_ids = {row.id for group in ("people", "packages", "channels") for row in b[group].values()} | {
        category.id for category in b["categories"]}
    assert not b_ids & {value for row in everything for value in row}


def test_a_product_over_the_row_cap_asks_for_a_limit_and_is_cut_by_the_database(world):
    a = world["a"]
    # 2,500 more subscribers (data setup, straight into the table) × 4 channels: 10,016 pairs.
    Subscriber.objects.bulk_create(Subscriber(portal=a["portal"], name=f"n{i}", phone_country_code="7",
                                              phone=str(i), full_phone=f"7{i}", login=f"7{i}") for i in range(2500))
    params = {"data": [{"s": "id"}, {"m": "id"}], "from": [{"table": "subscriber", "as": "s"},
                                                           {"table": "media", "as": "m"}]}
    with CaptureQueriesContext(connection) as queries:
        refusal = error(a["owner"], "select", params)
    assert refusal["code"] == 5 and "add a limit" in refusal["message"]
    product = [q["sql"] for q in queries.captured_queries if "content_channel" in q["sql"]]
    assert len(product) == 1 and f"LIMIT {MAX_ROWS + 1}" in product[0]  # never more rows than the cap + 1
    assert len(select(a["owner"], {**params, "limit": MAX_ROWS})) == MAX_ROWS
    assert select(a["owner"], {**params, "offset": MAX_ROWS, "limit": 100}) != []


def _subscribed(person, package) -> bool:
    return package.subscriptions.filter(subscriber=person).exists()


def test_a_correlated_sub_select_names_the_outer_tables(world):
    a = world["a"]
    subscriptions_of_s = {"select": {"data": "package_id", "from": {"table": "subscriber_package", "as": "sp"},
                                     "where": {"eq": [{"sp": "subscriber_id"}, {"s": "id"}]}}}
    held = select(a["owner"], {"data": [{"s": "name"}, {"p": "name"}], "from": S_P,
                               "where": {"in": [{"p": "id"}, subscriptions_of_s]}})
    assert sorted(held) == pairs(world, keep=_subscribed) == [
        ["Alice", "movie"], ["Alice", "sports"], ["Bob", "sports"], ["Carol", "movie"]]
    not_held = select(a["owner"], {"data": [{"s": "name"}, {"p": "name"}], "from": S_P,
                                   "where": {"not_in": [{"p": "id"}, subscriptions_of_s]}})
    assert sorted(not_held) == pairs(world, keep=lambda s, p: not _subscribed(s, p))
    # Two levels out: subscribers with a subscription to a package that holds a channel named like them… or not.
    news_watchers = select(a["owner"], {"data": "name", "from": {"table": "subscriber", "as": "s"}, "where": {
        "in": ["id", {"select": {"data": "subscriber_id", "from": {"table": "subscriber_package", "as": "sp"},
                                 "where": {"in": [{"sp": "package_id"}, {"select": {
                                     "data": "package_id", "from": "package_media",
                                     "where": {"and": [{"eq": ["media_id", a["channels"]["news"].id]},
                                                       {"neq": [{"s": "name"}, "Carol"]}]}}}]}}}]},
        "order_by": "name"})
    assert news_watchers == ["Alice"]  # movie holds news: Alice and Carol; Carol is left out two levels down


def test_a_correlated_sub_select_stays_in_the_portal_and_refuses_computed_outer_columns(world):
    a, b = world["a"], world["b"]
    b_alice = b["people"]["Alice"].id
    assert select(a["owner"], {"data": {"p": "name"}, "from": {"table": "package", "as": "p"}, "where": {
        "in": [{"p": "id"}, {"select": {"data": "package_id", "from": "subscriber_package",
                                        "where": {"and": [{"eq": ["subscriber_id", b_alice]},
                                                          {"is_not": [{"p": "id"}, None]}]}}}]}}) == []
    refusal = error(a["owner"], "select", {"data": {"p": "name"}, "from": {"table": "package", "as": "p"}, "where": {
        "in": ["id", {"select": {"data": "package_id", "from": "subscriber_package",
                                 "where": {"is": [{"p": "paid"}, True]}}}]}})
    assert refusal["code"] == -32602 and "p.paid: a computed column of an enclosing select" in refusal["message"]
    unknown = error(a["owner"], "select", {"data": "id", "from": {"table": "package", "as": "p"}, "where": {
        "in": ["id", {"select": {"data": "package_id", "from": "subscriber_package",
                                 "where": {"eq": [{"p": "nope"}, 1]}}}]}})
    assert unknown["code"] == -32602 and "Unknown column: p.nope (table package)." in unknown["message"]


def test_the_readme_no_device_reconciliation_example(world):
    from portals.auth import Caller
    from subscribers import devices

    a = world["a"]
    devices.add_device(a["portal"], caller=Caller(portal=a["portal"]), data={
        "subscriberId": a["people"]["Alice"].public_id, "kind": "stb", "mac": "AA-BB-CC-DD-EE-01"})
    rows = select(a["owner"], {
        "data": ["id", "username", "name"], "from": "subscriber",
        "where": {"and": [
            {"is": ["disabled", False]},
            {"in": ["id", {"select": {"data": "subscriber_id", "from": "subscriber_package",
                                      "where": {"and": [{"eq": ["package_id", a["packages"]["sports"].id]},
                                                        {"is": ["enabled", True]}]}}}]},
            {"not_in": ["id", {"select": {"data": "subscriber_id", "from": "terminal"}}]}]},
        "order_by": "id", "limit": 100, "offset": 0})
    bob = a["people"]["Bob"]
    assert rows == [[bob.id, "12345678902", "Bob"]]  # Alice has a box; Carol and Dave do not hold sports


def test_the_readme_cross_join_with_a_correlated_sub_select(world):
    rows = select(world["a"]["owner"], {
        "data": [{"s": "username"}, {"p": "name"}], "from": S_P,
        "where": {"and": [{"is": [{"p": "paid"}, True]}, {"not_in": [{"p": "id"}, {"select": {
            "data": "package_id", "from": {"table": "subscriber_package", "as": "sp"},
            "where": {"eq": [{"sp": "subscriber_id"}, {"s": "id"}]}}}]}]},
        "order_by": [{"s": "username"}, {"p": "name"}]})
    assert rows == [["12345678902", "movie"], ["12345678903", "sports"], ["12345678904", "movie"],
                    ["12345678904", "sports"]]


def test_every_pair_of_tables_cross_joins_to_the_product_of_their_counts(world):
    from portals.auth import Caller
    from subscribers import devices
    from subscribers.jsonsql.tables import TABLES

    a = world["a"]
    for portal in (a, world["b"]):  # a device in each portal: the terminal table is not empty
        devices.add_device(portal["portal"], caller=Caller(portal=portal["portal"]), data={
            "subscriberId": portal["people"]["Bob"].public_id, "kind": "app", "uid": "phone-1"})
    counts = {name: select(a["owner"], {"data": {"count": "*"}, "from": name})[0] for name in TABLES}
    assert all(counts.values())
    for first, second in itertools.product(TABLES, repeat=2):
        product = select(a["owner"], {"data": {"count": "*"}, "from": [{"table": first, "as": "x"},
                                                                       {"table": second, "as": "y"}]})
        assert product == [counts[first] * counts[second]], (first, second)


def test_a_sub_select_may_cross_join_too(world):
    inner = {"select": {"data": {"x": "id"}, "from": [{"table": "subscriber", "as": "x"},
                                                      {"table": "package", "as": "y"}],
                        "where": {"and": [{"eq": [{"y": "name"}, "movie"]}, {"neq": [{"x": "name"}, {"y": "name"}]},
                                          {"like": [{"x": "name"}, "B%"]}]}}}
    assert select(world["a"]["owner"], {"data": "name", "from": "subscriber", "where": {"in": ["id", inner]}}) == [
        "Bob"]
