"""The input-shape base: plain messages, every field's error in one answer, strict text."""

from __future__ import annotations

import pytest
from rest_framework import serializers

from catena_site.errors import Invalid
from catena_site.inputs import InputShape, Text


class Sample(InputShape):
    what = "sample"

    title = Text(max_length=5)
    count = serializers.IntegerField(min_value=1, max_value=9, required=False)
    flag = serializers.BooleanField(required=False)
    code = serializers.RegexField(r"^[a-z]+$", required=False, error_messages={"invalid": "Only a–z."})
    email = serializers.EmailField(required=False)
    names = serializers.ListField(child=Text(max_length=3), required=False)


def errors_of(data, **kwargs) -> dict:
    with pytest.raises(Invalid) as caught:
        Sample.check(data, **kwargs)
    return caught.value.errors


def test_every_field_error_comes_back_in_one_answer_in_plain_words():
    errors = errors_of({"title": "toolong", "count": 0, "flag": "maybe", "code": "A1", "email": "x",
                        "names": ["abcd"]})
    assert errors == {
        "title": ["Must be at most 5 characters."],
        "count": ["Must be at least 1."],
        "flag": ["Must be true or false."],
        "code": ["Only a–z."],
        "email": ["Enter a valid email address."],
        "names.0": ["Must be at most 3 characters."],
    }


def test_null_and_missing_read_as_required_never_null():
    assert errors_of({"title": None}) == {"title": ["This field is required."]}
    assert errors_of({}) == {"title": ["This field is required."]}
    assert errors_of({"title": ""}) == {"title": ["This field is required."]}


def test_text_takes_only_strings():
    assert errors_of({"title": 5}) == {"title": ["Must be text."]}
    assert errors_of({"title": 5, "count": "x"}) == {"title": ["Must be text."], "count": ["Must be a whole number."]}


def test_partial_checks_only_the_keys_given_and_returns_clean_values():
    assert Sample.check({"count": 3}, partial=True) == {"count": 3}
    assert Sample.check({"title": "  ab "}) == {"title": "ab"}


def test_the_summary_names_the_input_and_each_field():
    with pytest.raises(Invalid) as caught:
        Sample.check({"title": "toolong", "count": 0})
    assert caught.value.message == "Invalid sample: title: Must be at most 5 characters.; count: Must be at least 1."
    assert caught.value.status == 400


def test_anything_but_an_object_is_refused():
    with pytest.raises(Invalid) as caught:
        Sample.check(["title"])
    assert caught.value.errors == {"non_field_errors": ["Expected a JSON object."]}
