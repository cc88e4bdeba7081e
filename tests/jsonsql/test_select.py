"""Selects: every operator, joins, grouping, ordering, paging and the portal wall (cross joins and correlated
sub-selects: ``test_cross_joins.py``)."""

from __future__ import annotations

import pytest

from tests.jsonsql.conftest import select

WHERE = [
    ({"eq": ["name", "Bob"]}, {"Bob"}),
    ({"neq": ["name", "Bob"]}, {"Alice", "Carol", "Dave"}),
    ({"lt": ["phone", "2345678903"]}, {"Alice", "Bob"}),
    ({"lte": ["phone", "2345678903"]}, {"Alice", "Bob", "Carol"}),
    ({"gt": ["phone", "2345678903"]}, {"Dave"}),
    ({"gte": ["phone", "2345678903"]}, {"Carol", "Dave"}),
    ({"is": ["disabled", True]}, {"Dave"}),
    ({"is_not": ["disabled", True]}, {"Alice", "Bob", "Carol"}),
    ({"is": ["max_terminal", None]}, {"Alice", "Bob", "Carol", "Dave"}),
    ({"is_not": ["max_terminal", None]}, set()),
    ({"and": [{"gt": ["phone", "2345678901"]}, {"lt": ["phone", "2345678904"]}]}, {"Bob", "Carol"}),
    ({"or": [{"eq": ["name", "Alice"]}, {"eq": ["name", "Dave"]}]}, {"Alice", "Dave"}),
    ({"not": [{"eq": ["name", "Alice"]}]}, {"Bob", "Carol", "Dave"}),
    ({"like": ["name", "%o%"]}, {"Bob", "Carol"}),
    ({"like": ["name", "_a%"]}, {"Carol", "Dave"}),
    ({"like": ["name", "a%"]}, set()),  # like is case-sensitive
    ({"ilike": ["name", "a%"]}, {"Alice"}),
    ({"like": ["name", "B%", "D%"]}, {"Bob", "Dave"}),  # several patterns: any of them
    ({"in": ["name", "Alice", "Carol"]}, {"Alice", "Carol"}),
    ({"in": ["name", ["Alice", "Carol"]]}, {"Alice", "Carol"}),
    ({"not_in": ["name", "Alice", "Carol"]}, {"Bob", "Dave"}),
]


@pytest.mark.parametrize(("where", "names"), WHERE, ids=[str(w) for w, _ in WHERE])
def test_each_operator_selects_the_rows_it_means(world, where, names):
    assert set(select(world["a"]["owner"], {"data": "name", "from": "subscriber", "where": where})) == names


MATH_WHERE = [
    ({"eq": [{"mod": ["number", 2]}, 0]}, {"sport"}),
    ({"eq": [{"add": ["number", 1]}, 2]}, {"news"}),
    ({"eq": [{"sub": ["number", 1]}, 2]}, {"jazz"}),
    ({"eq": [{"mul": ["number", 2]}, 4]}, {"sport"}),
    ({"eq": [{"div": ["number", 3]}, 1]}, {"jazz"}),
    ({"gt": [{"add": ["number", 1, 1]}, 4]}, {"jazz"}),
    ({"lt": [{"mul": ["number", 0.5]}, 1.2]}, {"news", "sport"}),
]


@pytest.mark.parametrize(("where", "names"), MATH_WHERE, ids=[str(w) for w, _ in MATH_WHERE])
def test_each_math_operator_selects_the_rows_it_means(world, where, names):
    assert set(select(world["a"]["owner"], {"data": "name", "from": "media", "where": where})) == names


def test_math_in_data_computes_per_row(world):
    rows = select(world["a"]["owner"], {
        "data": ["name", {"add": ["number", 10]}, {"sub": ["number", 1]}, {"mul": ["number", 3]},
                 {"div": ["number", 1]}, {"mod": ["number", 2]}],
        "from": "media", "where": {"is_not": ["number", None]}, "order_by": "number"})
    assert rows == [["news", 11, 0, 3, 1, 1], ["sport", 12, 1, 6, 2, 0], ["jazz", 13, 2, 9, 3, 1]]


def test_media_package_and_subscriber_package_columns(world):
    a = world["a"]
    assert select(a["owner"], {"data": ["name", "is_tv", "is_radio", "title"], "from": "media",
                               "order_by": {"desc": "title"}, "limit": 2}) == [
        ["sport", True, False, "Sport One"], ["news", True, False, "News 24"]]
    assert select(a["owner"], {"data": ["name", "paid", "description"], "from": "package", "order_by": "name"}) == [
        ["basic", False, ""], ["movie", True, ""], ["sports", True, ""]]
    rows = select(a["owner"], {"data": ["subscriber_id", "package_id", "enabled", "started_on"],
                               "from": "subscriber_package", "order_by": ["subscriber_id", "package_id"]})
    people, packages = a["people"], a["packages"]
    assert [r[:3] for r in rows] == sorted([
        [people["Alice"].id, packages["sports"].id, True], [people["Alice"].id, packages["movie"].id, True],
        [people["Bob"].id, packages["sports"].id, True], [people["Carol"].id, packages["movie"].id, False]])
    assert select(a["owner"], {"data": ["name", "title"], "from": "category", "order_by": "-name"}) == [
        ["kids", "Kids"], ["info", "Information"]]


def test_a_join_follows_the_foreign_keys_named_in_where(world):
    a = world["a"]
    rows = select(a["owner"], {
        "data": [{"s": "name"}, {"p": "name"}],
        "from": [{"table": "subscriber", "as": "s"}, {"table": "subscriber_package", "as": "sp"},
                 {"table": "package", "as": "p"}],
        "where": {"and": [{"eq": [{"sp": "subscriber_id"}, {"s": "id"}]}, {"eq": [{"sp": "package_id"}, {"p": "id"}]},
                          {"is": [{"sp": "enabled"}, True]}]},
        "order_by": [{"s": "name"}, {"desc": {"p": "name"}}]})
    assert rows == [["Alice", "sports"], ["Alice", "movie"], ["Bob", "sports"]]
    channels = select(a["owner"], {
        "data": {"m": "name"}, "distinct": True,
        "from": [{"table": "package_media", "as": "pm"}, {"table": "media", "as": "m"}],
        "where": {"and": [{"eq": [{"pm": "media_id"}, {"m": "id"}]}, {"in": [{"pm": "package_id"}, {"select": {
            "data": "package_id", "from": "subscriber_package",
            "where": {"eq": ["subscriber_id", a["people"]["Alice"].id]}}}]}]},
        "order_by": {"m": "name"}})
    assert channels == ["movies", "news", "sport"]


def test_group_by_with_count_sum_min_max(world):
    a = world["a"]
    packages = a["packages"]
    rows = select(a["owner"], {"data": ["package_id", {"count": ["id"]}, {"min": "subscriber_id"},
                                        {"max": "subscriber_id"}],
                               "from": "subscriber_package", "group_by": "package_id", "order_by": "package_id"})
    people = a["people"]
    assert rows == sorted([
        [packages["sports"].id, 2, min(people["Alice"].id, people["Bob"].id),
         max(people["Alice"].id, people["Bob"].id)],
        [packages["movie"].id, 2, min(people["Alice"].id, people["Carol"].id),
         max(people["Alice"].id, people["Carol"].id)]])
    assert select(a["owner"], {"data": [{"count": "*"}, {"sum": "number"}], "from": "media"}) == [[4, 6]]
    assert select(a["owner"], {"data": {"count": ["id"]}, "from": "subscriber",
                               "where": {"is": ["disabled", False]}}) == [3]
    by_state = select(a["owner"], {"data": ["disabled", {"count": "*"}], "from": "subscriber",
                                   "group_by": ["disabled"], "order_by": {"desc": {"count": "*"}}})
    assert by_state == [[False, 3], [True, 1]]


def test_distinct_order_limit_and_offset(world):
    owner = world["a"]["owner"]
    assert select(owner, {"data": "disabled", "from": "subscriber", "distinct": True, "order_by": "disabled"}) == [
        False, True]
    assert select(owner, {"data": "name", "from": "subscriber", "order_by": "-name", "limit": 2, "offset": 1}) == [
        "Carol", "Bob"]
    assert select(owner, {"data": ["name"], "from": "subscriber", "order_by": "name", "offset": 3}) == [["Dave"]]


def test_another_portals_rows_are_invisible_also_through_sub_selects_and_joins(world):
    a, b = world["a"], world["b"]
    assert select(a["owner"], {"data": "name", "from": "subscriber", "order_by": "name"}) == [
        "Alice", "Bob", "Carol", "Dave"]
    b_ids = [person.id for person in b["people"].values()]
    assert select(a["owner"], {"data": "id", "from": "subscriber", "where": {"in": ["id", b_ids]}}) == []
    assert select(a["owner"], {"data": "id", "from": "subscriber_package",
                               "where": {"in": ["subscriber_id", b_ids]}}) == []
    assert select(a["owner"], {"data": "media_id", "from": "package_media",
                               "where": {"eq": ["package_id", b["packages"]["basic"].id]}}) == []
    for table in ("media", "package", "category", "subscriber_package", "package_media"):
        column = "package_id" if table == "package_media" else "id"
        assert select(a["owner"], {"data": {"count": "*"}, "from": table}) == select(
            b["owner"], {"data": {"count": "*"}, "from": table})
        a_ids = set(select(a["owner"], {"data": column, "from": table}))
        assert a_ids and not a_ids & set(select(b["owner"], {"data": column, "from": table}))
    # B's sub-select seen from A: B's subscriber ids are not A's to match.
    assert select(b["owner"], {"data": "name", "from": "subscriber", "where": {"in": ["id", {"select": {
        "data": "id", "from": "subscriber", "where": {"eq": ["name", "b-Alice"]}}}]}}) == ["b-Alice"]
    assert select(a["owner"], {"data": "name", "from": "subscriber", "where": {"in": ["id", {"select": {
        "data": "id", "from": "subscriber", "where": {"eq": ["name", "b-Alice"]}}}]}}) == []
    joined = select(a["owner"], {
        "data": {"s": "name"}, "from": [{"table": "subscriber_package", "as": "sp"},
                                        {"table": "subscriber", "as": "s"}],
        "where": {"and": [{"eq": [{"sp": "subscriber_id"}, {"s": "id"}]}, {"like": [{"s": "name"}, "b-%"]}]}})
    assert joined == []


def test_the_readme_reconciliation_example_answers_paid_packages_in_force(world):
    rows = select(world["a"]["owner"], {
        "data": [{"s": "username"}, {"p": "name"}],
        "from": [{"table": "subscriber", "as": "s"}, {"table": "subscriber_package", "as": "sp"},
                 {"table": "package", "as": "p"}],
        "where": {"and": [{"eq": [{"sp": "subscriber_id"}, {"s": "id"}]}, {"eq": [{"sp": "package_id"}, {"p": "id"}]},
                          {"is": [{"sp": "enabled"}, True]}, {"is": [{"p": "paid"}, True]}]},
        "order_by": [{"s": "username"}, {"p": "name"}]})
    assert rows == [["12345678901", "movie"], ["12345678901", "sports"], ["12345678902", "sports"]]


def test_the_readme_count_per_package_example_groups_a_sub_select(world):
    a = world["a"]
    rows = select(a["owner"], {
        "data": ["package_id", {"count": "*"}], "from": "subscriber_package",
        "where": {"in": ["package_id", {"select": {"data": "package_id", "from": "package_media",
                                                   "where": {"eq": ["media_id", a["channels"]["news"].id]}}}]},
        "group_by": "package_id", "order_by": {"desc": {"count": "*"}}})
    assert rows == [[a["packages"]["movie"].id, 2]]  # news is in basic (free, nobody subscribes) and movie


def test_terminals_are_the_subscribers_devices_and_max_terminal_their_own_limit(world):
    from portals.auth import Caller
    from subscribers import devices
    from subscribers import services as subscribers

    a, b = world["a"], world["b"]
    alice = a["people"]["Alice"]
    devices.add_device(a["portal"], caller=Caller(portal=a["portal"]), data={
        "subscriberId": alice.public_id, "kind": "stb", "mac": "AA-BB-CC-DD-EE-01", "name": "Living room"})
    devices.add_device(b["portal"], caller=Caller(portal=b["portal"]), data={
        "subscriberId": b["people"]["Alice"].public_id, "kind": "stb", "mac": "aa:bb:cc:dd:ee:02", "name": "B box"})
    subscribers.update_subscriber(alice, caller=Caller(portal=a["portal"]), data={"maxDevices": 3})
    assert select(a["owner"], {"data": ["mac_addr", "uid", "name", "subscriber_id"], "from": "terminal"}) == [
        ["aa:bb:cc:dd:ee:01", "aa:bb:cc:dd:ee:01", "Living room", alice.id]]  # portal B's box is invisible
    watching = {"data": "name", "from": "subscriber",
                "where": {"in": ["id", {"select": {"data": "subscriber_id", "from": "terminal"}}]}}
    assert select(a["owner"], watching) == ["Alice"]
    assert select(a["owner"], {"data": ["name", "max_terminal"], "from": "subscriber",
                               "where": {"is_not": ["max_terminal", None]}}) == [["Alice", 3]]
