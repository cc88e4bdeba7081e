"""The auth check reads its query string with ``parse_qsl``: blank values kept, the last value wins, at most
``MAX_QUERY_FIELDS`` fields."""

import pytest

from monitoring.streaming.views import MAX_QUERY_FIELDS, query_parameters


class Request:
    def __init__(self, query: str):
        self.META = {"QUERY_STRING": query}


def test_values_are_decoded_blank_ones_kept_and_the_last_one_wins():
    query = "name=news&ip=&token=a%2Bb+c&user_agent=VLC%2F3.0&name=sport&flag&%6Bey=k%C3%A9y"
    assert query_parameters(Request(query)) == {
        "name": "sport", "ip": "", "token": "a+b c", "user_agent": "VLC/3.0", "flag": "", "key": "kéy"}


def test_no_query_is_no_parameters():
    assert query_parameters(Request("")) == {}
    assert query_parameters(type("Bare", (), {"META": {}})()) == {}


def test_too_many_fields_are_refused():
    with pytest.raises(ValueError):
        query_parameters(Request("&".join(["a=1"] * (MAX_QUERY_FIELDS + 1))))
    assert query_parameters(Request("&".join(f"a{i}=1" for i in range(MAX_QUERY_FIELDS)))) == {
        f"a{i}": "1" for i in range(MAX_QUERY_FIELDS)}
