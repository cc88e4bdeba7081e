"""The auth check's query string parser (``monitoring.streaming.views.query_parameters``) answers exactly what
``parse_qsl(…, keep_blank_values=True, max_num_fields=200)`` answers (last value wins), and says so in requests."""

from __future__ import annotations

import random
from urllib.parse import parse_qsl

import pytest
from django.test import RequestFactory

from monitoring.streaming.views import MAX_QUERY_FIELDS, query_parameters

from .conftest import AUTH, KEY, check

CASES = ["", "a=1", "a=1&a=2", "a", "a=", "=1", "&&a=1&", "a=%2F%41+b", "a+b=c%20d", "a=%zz", "a=%E2%82%AC",
         "a=é", "a=1;b=2", "token=abc&name=news&user_agent=VLC%2F3.0+(Linux)", "a==b", "%3D=%26"]


def parsed(text: str):
    try:
        return query_parameters(RequestFactory().get(AUTH, QUERY_STRING=text))
    except ValueError:
        return ValueError


def expected(text: str):
    try:
        return dict(parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_QUERY_FIELDS))
    except ValueError:
        return ValueError


@pytest.mark.parametrize("text", CASES)
def test_it_answers_what_parse_qsl_answers(text):
    assert parsed(text) == expected(text)


def test_random_query_strings_parse_alike():
    rng = random.Random(19)
    for _ in range(20_000):
        text = "".join(rng.choice("ab=&%+2F41 é;") for _ in range(rng.randint(0, 16)))
        assert parsed(text) == expected(text), text


def test_too_many_fields_is_a_400_and_an_encoded_token_is_decoded(client, world):
    assert parsed("&".join(["a=1"] * MAX_QUERY_FIELDS)) == {"a": "1"}
    assert parsed("&".join(["a=1"] * (MAX_QUERY_FIELDS + 1))) is ValueError
    response = client.get(AUTH + "?" + "&".join(["a=1"] * (MAX_QUERY_FIELDS + 1)))
    assert response.status_code == 400
    token = world["alice"].playback_token
    assert check(client, token, "news").status_code == 200
    encoded = token[:-1] + "%" + f"{ord(token[-1]):02X}"  # the last character %XX-encoded
    response = client.get(f"{AUTH}?key={KEY}&name=news&token={encoded}&session_id=s%2B1&request_type=new_session")
    assert response.status_code == 200
