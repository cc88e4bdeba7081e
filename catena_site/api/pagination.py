"""Keyset (cursor) pagination: ``{"<plural>": [...], "next": "<cursor>" | null}``.

A page is "rows after the last row seen" in a total order ending in the primary key, so a page never
repeats or skips a row when rows are inserted or deleted between requests, costs the same at any depth and
never counts rows.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from functools import reduce
from types import SimpleNamespace

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import DateTimeField, Func, Q
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response

from catena_site.api.parsers import loads

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def parse_limit(raw: str | None) -> int:
    if raw in (None, ""):
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError({"limit": [f"Must be a whole number from 1 to {MAX_LIMIT}."]})
    return limit


def _storable(value):
    """A cursor value the database accepts: integers within 64 bits, times in UTC (PostgreSQL refuses offsets
    beyond ±15:59, which Python allows, and a far date may leave Python's range when moved to UTC)."""
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise ValueError("out of range")
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC)
    return value


class TimeValue(Func):
    """A time column read for a hot list: on PostgreSQL its whole microseconds since the Unix epoch, an integer
    (psycopg reads it in C, where Django's time zone loader spends ~10 µs a value in Python); elsewhere the
    column itself (a datetime). :func:`as_datetime` and :func:`unix_seconds` take either."""

    output_field = DateTimeField()
    template = "%(expressions)s"

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="(extract(epoch from %(expressions)s) * 1000000)::bigint",
                           **extra)


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def as_datetime(value) -> dt.datetime | None:
    """A :class:`TimeValue` as the aware UTC datetime the ORM reads (None stays None)."""
    if isinstance(value, int):
        return EPOCH + dt.timedelta(microseconds=value)
    return value


def unix_seconds(value) -> int | None:
    """A :class:`TimeValue` (or a datetime) in whole Unix seconds, as ``int(value.timestamp())`` (times after 1970)."""
    if value is None:
        return None
    if isinstance(value, int):
        return value // 1_000_000
    return int(value.timestamp())


class Keyset:
    """An ordering such as ``("-id",)`` or ``("start", "id")`` and its cursors."""

    def __init__(self, model, ordering: tuple[str, ...]):
        self.model = model
        self.ordering = ordering
        self.fields = [(name.lstrip("-"), name.startswith("-")) for name in ordering]

    def encode(self, row) -> str:
        values = [self.model._meta.get_field(name).value_to_string(row) for name, _ in self.fields]
        return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")

    def encode_values(self, values) -> str:
        """:meth:`encode` of a row given as the values of the ordering's fields (a page read as tuples)."""
        fields = [self.model._meta.get_field(name) for name, _ in self.fields]
        return self.encode(SimpleNamespace(**{field.attname: value for field, value in zip(fields, values)}))

    def decode(self, cursor: str) -> list:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            values = loads(raw)  # a crafted cursor may be nested 10,000 deep or hold a NUL
            if not isinstance(values, list) or len(values) != len(self.fields):
                raise ValueError
            return [_storable(self.model._meta.get_field(name).to_python(v)) for (name, _), v in zip(self.fields, values)]
        except (ValueError, TypeError, DjangoValidationError, ValidationError, OverflowError):
            raise ValidationError({"cursor": ["Invalid cursor."]}) from None

    def after(self, queryset, cursor: str):
        """Rows strictly after the cursor, in this order."""
        values = self.decode(cursor)
        conditions = []
        for i, (name, descending) in enumerate(self.fields):
            equal = {f"{prev}": values[j] for j, (prev, _) in enumerate(self.fields[:i])}
            conditions.append(Q(**equal, **{f"{name}__{'lt' if descending else 'gt'}": values[i]}))
        return queryset.filter(reduce(lambda a, b: a | b, conditions))

    def page(self, queryset, cursor: str | None, limit: int, key=None) -> tuple[list, str | None]:
        """One page of rows and the cursor of the next page (None on the last). ``key`` gives the ordering's
        values of a row that is not a model instance (a ``values_list`` page)."""
        queryset = queryset.order_by(*self.ordering)
        if cursor:
            queryset = self.after(queryset, cursor)
        rows = list(queryset[: limit + 1])
        if len(rows) > limit:
            rows = rows[:limit]
            return rows, self.encode(rows[-1]) if key is None else self.encode_values(key(rows[-1]))
        return rows, None


class BoundedKeyset(Keyset):
    """A keyset whose "after the cursor" condition also bounds the leading column on its own.

    ``(a < x) OR (a = x AND id < y)`` alone makes PostgreSQL scan the index from the start of the portal's
    range and filter; with ``a <= x`` beside it the scan starts at the cursor, so every page costs the same.
    """

    def after(self, queryset, cursor: str):
        name, descending = self.fields[0]
        first = self.decode(cursor)[0]
        return super().after(queryset, cursor).filter(**{f"{name}__{'lte' if descending else 'gte'}": first})


class KeysetPagination(BasePagination):
    """DRF pagination using the view's ``ordering`` (default oldest first) and ``list_key``."""

    keyset_class = Keyset

    def paginate_queryset(self, queryset, request, view=None, key=None):
        """The page's rows; ``key`` as in :meth:`Keyset.page` for a ``values_list`` queryset."""
        self.list_key = getattr(view, "list_key", "results")
        keyset = self.keyset_class(queryset.model, tuple(getattr(view, "ordering", ("id",))))
        limit = parse_limit(request.query_params.get("limit"))
        rows, self.next_cursor = keyset.page(queryset, request.query_params.get("cursor"), limit, key)
        return rows

    def get_paginated_response(self, data):
        return Response({self.list_key: data, "next": self.next_cursor})

    def get_paginated_response_schema(self, schema):
        list_key = getattr(self, "list_key", "results")
        return {
            "type": "object",
            "properties": {list_key: schema, "next": {"type": "string", "nullable": True}},
            "required": [list_key, "next"],
        }

    def get_schema_operation_parameters(self, view):
        return [
            {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"},
             "description": "The `next` value of the previous page."},
            {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}},
        ]


class BoundedKeysetPagination(KeysetPagination):
    """``KeysetPagination`` with ``BoundedKeyset``, for large tables ordered by a column other than the ID."""

    keyset_class = BoundedKeyset
