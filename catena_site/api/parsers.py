"""The one JSON reader of the APIs: a depth limit, and no NUL or lone surrogate in any string.

Service functions take the request body as a plain dict, so the rule every text field obeys
(``catena_site.text``) is enforced here, once, before any of them sees it. Python's ``json`` recurses once per
nesting level, so ten thousand ``[`` exhaust the stack (``RecursionError``, a 500); no body of ours is deeper
than a few levels.
"""

from __future__ import annotations

import json
import math
import re

from django.conf import settings
from rest_framework import parsers, status
from rest_framework.exceptions import APIException, ParseError, ValidationError

from catena_site.text import UNSTORABLE, text_problem

MAX_DEPTH = 32

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}:,]')
HUGE_NUMBER_MESSAGE = "Number out of range."
TOO_DEEP_MESSAGE = f"Nested deeper than {MAX_DEPTH} levels."


def _printable(key: str) -> str:
    """A key as it may appear in an error body (which must itself be encodable)."""
    return UNSTORABLE.sub("\ufffd", key)


def _join(path: str, key) -> str:
    key = _printable(key) if isinstance(key, str) else str(key)
    return f"{path}.{key}" if path else key


def _deep_field(text: str, max_depth: int) -> str:
    """The top-level field under which ``text`` nests deeper than ``max_depth`` ("" for the body itself),
    found by scanning the tokens, without the recursion that failed."""
    depth = 0
    field = ""
    last_string = ""
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > max_depth:
                return field
        elif token in ("]", "}"):
            depth -= 1
        elif token == ":":
            if depth == 1:
                field = last_string
        elif token != ",":
            last_string = token[1:-1]
    return ""


def problems(data, *, max_depth: int = MAX_DEPTH) -> dict[str, list[str]]:
    """Every string of ``data`` (keys too) that cannot be stored, and every container nested too deeply,
    as ``{"field.path": [reason]}``; empty when ``data`` is acceptable. Walks without recursion."""
    errors: dict[str, list[str]] = {}
    pending = [("", data, 1)]
    while pending:
        path, value, depth = pending.pop()
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                errors.setdefault(path or "non_field_errors", [problem])
        elif isinstance(value, float) and not math.isfinite(value):  # 1e400 reads as infinity
            errors.setdefault(path or "non_field_errors", [HUGE_NUMBER_MESSAGE])
        elif isinstance(value, (dict, list)):
            if depth > max_depth:
                field = path.split(".", 1)[0]  # the top-level field: the rest would be 32 levels of path
                errors.setdefault(field or "non_field_errors", [TOO_DEEP_MESSAGE])
                continue
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and text_problem(key):
                    errors.setdefault(_join(path, key), [text_problem(key)])
                pending.append((_join(path, key), item, depth + 1))
    return errors


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH):
    """``json.loads`` that refuses, with ``ValidationError`` naming the field, a document nested deeper than
    ``max_depth`` and any string a database cannot store; malformed JSON raises ``ValueError``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        field = _printable(_deep_field(text, max_depth))
        raise ValidationError({field or "non_field_errors": [TOO_DEEP_MESSAGE]}) from None
    errors = problems(data, max_depth=max_depth)
    if errors:
        raise ValidationError(errors)
    return data


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "body_too_large"


def read_bounded(stream, limit: int) -> bytes:
    """The whole body, or ``BodyTooLarge`` past ``limit`` bytes (DRF reads the raw stream, which bypasses
    Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE``; without this a client could make a process hold any amount)."""
    if stream is None:
        return b""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise BodyTooLarge(f"Request body larger than {limit} bytes.")
    return data


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with the rules of ``loads``; the parser of every API view (``DEFAULT_PARSER_CLASSES``)."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            return loads(read_bounded(stream, settings.DATA_UPLOAD_MAX_MEMORY_SIZE).decode(encoding))
        except ValidationError:
            raise
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
