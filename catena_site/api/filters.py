"""django-filter building blocks shared by the API and the screens."""

from __future__ import annotations

import datetime as dt
import operator
from functools import reduce

from django import forms
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django_filters import rest_framework as filters

from catena_site.ids import InvalidId, decode_id


class _MultipleValueWidget(forms.TextInput):
    """Reads every value of a repeated query parameter (``?id=a&id=b``)."""

    def value_from_datadict(self, data, files, name):
        if hasattr(data, "getlist"):
            return [v for v in data.getlist(name) if v != ""]
        value = data.get(name)
        return [value] if value not in (None, "") else []


class MultipleIdField(forms.Field):
    widget = _MultipleValueWidget

    def to_python(self, value):
        values = value if isinstance(value, list) else ([value] if value else [])
        try:
            return [decode_id(v) for v in values]
        except InvalidId as exc:
            # A message that repeats the value takes it as a parameter: django-filter formats every message
            # with ``message % params``, so a ``%`` written into the message itself was a 500 (``?packageId=%``).
            raise forms.ValidationError("%(reason)s", params={"reason": str(exc)}) from None


class MultipleIdFilter(filters.Filter):
    """Repeatable ID filter meaning "any of"; a malformed ID is a 400 naming the parameter."""

    field_class = MultipleIdField

    def filter(self, qs, value):
        return qs.filter(**{f"{self.field_name}__in": value}) if value else qs


class SearchFilter(filters.CharFilter):
    """``?search=``: rows where any of ``fields`` contains the text, case-insensitively."""

    def __init__(self, *, fields: tuple[str, ...], **kwargs):
        self.search_fields = fields
        super().__init__(**kwargs)

    def filter(self, qs, value):
        if not value:
            return qs
        return qs.filter(reduce(operator.or_, (Q(**{f"{name}__icontains": value}) for name in self.search_fields)))


class MultipleValueField(forms.Field):
    widget = _MultipleValueWidget

    def __init__(self, *args, allowed=None, **kwargs):
        self.allowed = allowed
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        values = value if isinstance(value, list) else ([value] if value else [])
        if self.allowed is not None:
            bad = [v for v in values if v not in self.allowed]
            if bad:
                raise forms.ValidationError("Unknown value: %(values)s.", params={"values": ", ".join(bad)})
        return values


class MultipleValueFilter(filters.Filter):
    """Repeatable exact-match filter ("any of"), optionally restricted to known values."""

    field_class = MultipleValueField

    def filter(self, qs, value):
        return qs.filter(**{f"{self.field_name}__in": value}) if value else qs


class DateOrDateTimeField(forms.Field):
    """``YYYY-MM-DD`` (midnight UTC) or a full ISO 8601 date-time; naive times are UTC."""

    def to_python(self, value):
        if value in (None, ""):
            return None
        value = value.strip()
        parsed = None
        try:
            parsed = parse_datetime(value.replace(" ", "+"))
            if parsed is None:
                day = parse_date(value)
                if day is not None:
                    parsed = dt.datetime.combine(day, dt.time.min)
        except ValueError:
            parsed = None
        if parsed is None:
            raise forms.ValidationError("Use YYYY-MM-DD or an ISO 8601 date-time.")
        if timezone.is_naive(parsed):
            parsed = parsed.replace(tzinfo=dt.UTC)
        return utc_in_range(parsed)


# Python allows offsets up to ±23:59 and years 1–9999; PostgreSQL refuses offsets beyond ±15:59, and a time
# near either end of the calendar leaves Python's range once moved to UTC (OverflowError): both were a 500.
def utc_in_range(value: dt.datetime) -> dt.datetime:
    """``value`` in UTC; a time that has no UTC equivalent within years 1–9999 is a ``ValidationError``."""
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise forms.ValidationError("Out of range: use a time between years 1 and 9999 (UTC).") from None


class DateOrDateTimeFilter(filters.Filter):
    field_class = DateOrDateTimeField
