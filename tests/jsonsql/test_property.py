"""Random where-trees on ``subscriber`` select exactly the rows the same filter picks in Python."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from subscribers.jsonsql.compiler import like_regex
from subscribers.models import Subscriber
from tests.jsonsql.conftest import call, select

COLUMNS = {"name": st.sampled_from(["Alice", "Bob", "Carol", "Dave", "b-Alice", "", "al"]),
           "username": st.sampled_from(["12345678901", "12345678903", "1234567890", "2"]),
           "phone": st.sampled_from(["2345678901", "2345678902", "2345678904", "3"]),
           "disabled": st.booleans()}


def _comparison():
    def build(column):
        values = COLUMNS[column]
        if column == "disabled":
            return st.tuples(st.sampled_from(["eq", "neq", "is", "is_not"]), st.just(column), values).map(
                lambda t: {t[0]: [t[1], t[2]]})
        return st.one_of(
            st.tuples(st.sampled_from(["eq", "neq", "lt", "gt", "lte", "gte"]), st.just(column), values).map(
                lambda t: {t[0]: [t[1], t[2]]}),
            st.tuples(st.sampled_from(["like", "ilike"]), st.just(column),
                      st.sampled_from(["%", "a%", "%l%", "_ob", "B%", "%1", "12%"])).map(
                lambda t: {t[0]: [t[1], t[2]]}),
            st.tuples(st.sampled_from(["in", "not_in"]), st.just(column), st.lists(values, min_size=1, max_size=3)).map(
                lambda t: {t[0]: [t[1], *t[2]]}),
        )
    return st.sampled_from(sorted(COLUMNS)).flatmap(build)


TREES = st.recursive(_comparison(), lambda inner: st.one_of(
    st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"and": xs}),
    st.lists(inner, min_size=1, max_size=3).map(lambda xs: {"or": xs}),
    inner.map(lambda x: {"not": [x]}),
), max_leaves=8)

OPERATORS = {"eq": lambda a, b: a == b, "neq": lambda a, b: a != b, "lt": lambda a, b: a < b,
             "gt": lambda a, b: a > b, "lte": lambda a, b: a <= b, "gte": lambda a, b: a >= b,
             "is": lambda a, b: a is b, "is_not": lambda a, b: a is not b}


def matches(tree, row: dict) -> bool:
    """The filter in Python (no nulls among these columns, so two-valued logic is exact)."""
    (operator, operands), = tree.items()
    if operator in ("and", "or", "not"):
        results = [matches(operand, row) for operand in operands]
        return all(results) if operator == "and" else any(results) if operator == "or" else not results[0]
    column, *values = operands
    value = row[column]
    if operator in ("in", "not_in"):
        return (value in values) == (operator == "in")
    if operator in ("like", "ilike"):
        flags = re.IGNORECASE if operator == "ilike" else 0
        return re.match(like_regex(values[0]), value, flags) is not None
    return OPERATORS[operator](value, values[0])


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=TREES)
def test_a_random_where_tree_selects_what_python_selects(world, tree):
    a = world["a"]
    rows = [{"id": p.id, "name": p.name, "username": p.full_phone, "phone": p.phone, "disabled": p.disabled}
            for p in Subscriber.objects.filter(portal=a["portal"])]
    expected = sorted(row["id"] for row in rows if matches(tree, row))
    assert select(a["owner"], {"data": "id", "from": "subscriber", "where": tree, "order_by": "id"}) == expected


NAMES = st.sampled_from(["id", "name", "username", "disabled", "subscriber", "media", "s", "eq", "and", "in",
                         "count", "select", "data", "from", "where", "x' or 1=1 --", "*", "-name", "desc"])
JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False), NAMES),
                    lambda inner: st.one_of(st.lists(inner, max_size=3),
                                            st.dictionaries(NAMES, inner, max_size=2)), max_leaves=12)


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.fixed_dictionaries({"data": JSON, "from": st.one_of(NAMES, JSON)},
                                    optional={"where": JSON, "order_by": JSON, "group_by": JSON, "distinct": JSON}))
def test_any_params_answer_a_result_or_a_json_rpc_error_never_a_500(world, params):
    response = call(world["a"]["owner"], "select", params)
    body = response.json()
    assert response.status_code == 200 and (set(body) == {"jsonrpc", "id", "result"} or (
        set(body) == {"jsonrpc", "id", "error"} and set(body["error"]) == {"code", "message"}))
