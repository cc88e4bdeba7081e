"""The auth check's own query-string parser decodes exactly like the standard library's."""

from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitoring.streaming.views import MAX_QUERY_FIELDS, query_parameters


class Request:
    def __init__(self, query: str):
        self.META = {"QUERY_STRING": query}


text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@given(st.lists(st.tuples(text, text), max_size=15))
def test_same_as_parse_qsl_for_encoded_queries(pairs):
    query = urlencode(pairs)
    assert query_parameters(Request(query)) == dict(parse_qsl(query, keep_blank_values=True))


@given(st.text(alphabet="ab=&%+2F0x", max_size=40))
def test_same_as_parse_qsl_for_any_query(query):
    assert query_parameters(Request(query)) == dict(parse_qsl(query, keep_blank_values=True))


def test_too_many_fields_are_refused():
    with pytest.raises(ValueError):
        query_parameters(Request("&".join(["a=1"] * (MAX_QUERY_FIELDS + 1))))
    assert query_parameters(Request("&".join(f"a{i}=1" for i in range(MAX_QUERY_FIELDS)))) == {
        f"a{i}": "1" for i in range(MAX_QUERY_FIELDS)}
