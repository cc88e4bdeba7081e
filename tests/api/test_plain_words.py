"""Refusals speak plain words (issue 12 item 1): no framework wording ("may not be null", "A valid integer is
required.", "Must be a valid boolean.") in any answer to a wrong-typed body.

Every documented write of the Management API and of the client API gets, for each wrong value, a body where
EVERY field (and every key of the object-valued fields) holds that value, so one answer lists every field's
reason at once; none of the answers may contain a forbidden phrase, and none may be a server error.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.api.test_bad_input import (  # noqa: F401
    NESTED,
    UNDOCUMENTED_BODY,
    WRITES,
    _client,
    _fill,
    _generic,
    documented_writes,
    targets,
)
from tests.conftest import API

CLIENT = "/tv/api/v1"
CLIENT_WRITES = {
    ("post", "/auth/sms/request"): ("phoneCountryCode", "phone"),
    ("post", "/auth/sms/verify"): ("phoneCountryCode", "phone", "code", "deviceId"),
    ("post", "/auth/device"): ("mac",),
}

# Raw JSON values of the wrong type (or null) for some field or other.
WRONG = {"null": "null", "true": "true", "false": "false", "integer": "5", "fraction": "1.5", "text": '"x"',
         "list": '["x"]', "object": '{"a": "b"}'}
FORBIDDEN = re.compile(r"\bnull\b|may not|valid boolean|valid integer|valid string|valid number|not a valid "
                       r"(?:boolean|integer|string)|Expected a (?:dictionary|list)", re.IGNORECASE)


def every_field_as(fields, raw: str, nested: dict | None = None) -> str:
    """A JSON object with each of ``fields`` holding the raw JSON ``raw`` (object-valued fields listed in
    ``nested`` get ``raw`` in each of their keys instead)."""
    placeholder = "__raw__"
    body = {field: {key: placeholder for key in (nested or {})[field]} if field in (nested or {}) else placeholder
            for field in fields}
    return json.dumps(body).replace(f'"{placeholder}"', raw)


def _problems(response, label: str) -> list[str]:
    if response.status_code >= 500:
        return [f"{label}: {response.status_code}"]
    if response.status_code < 300:  # accepted: an answer, not a refusal (its JSON may well hold a null)
        return []
    text = response.content.decode(errors="replace")
    found = FORBIDDEN.findall(text)
    return [f"{label}: says {found!r} in {text[:300]}"] if found else []


@pytest.mark.parametrize("operation", sorted(WRITES), ids=lambda op: f"{op[0]}-{op[1]}")
def test_no_management_api_refusal_uses_framework_words(operation, portal, targets, anonymous):  # noqa: F811
    method, path = operation
    documented = {(m, _generic(p)): fields for (m, p), fields in documented_writes().items()}
    fields = documented.get(operation) or documented[UNDOCUMENTED_BODY[operation]]  # a DELETE with a body
    client = _client(path, portal, targets, anonymous)
    client.raise_request_exception = False
    url = f"{API}{_fill(path, targets)}"
    problems = []
    for name, raw in WRONG.items():
        for nested in (None, NESTED):
            response = getattr(client, method)(url, every_field_as(fields, raw, nested),
                                               content_type="application/json")
            problems += _problems(response, f"{name}{' (nested)' if nested else ''}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("operation", sorted(CLIENT_WRITES), ids=lambda op: op[1])
def test_no_client_api_refusal_uses_framework_words(operation, portal, anonymous, settings):
    settings.SMS_BACKEND = "file"
    method, path = operation
    anonymous.raise_request_exception = False
    problems = []
    for name, raw in WRONG.items():
        response = getattr(anonymous, method)(f"{CLIENT}{path}?portalId={portal.public_id}",
                                              every_field_as(CLIENT_WRITES[operation], raw),
                                              content_type="application/json")
        assert response.status_code == 400, (name, response.content)
        problems += _problems(response, name)
    assert not problems, "\n".join(problems)


def test_the_check_itself_catches_drf_wording():
    assert FORBIDDEN.search('{"errors": {"a": ["This field may not be null."]}}')
    assert FORBIDDEN.search('{"errors": {"a": ["A valid integer is required."]}}')
    assert FORBIDDEN.search('{"errors": {"a": ["Must be a valid boolean."]}}')
    assert not FORBIDDEN.search('{"errors": {"a": ["Must be a whole number."], "b": ["Must be true or false."]}}')
