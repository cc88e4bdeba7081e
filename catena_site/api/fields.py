"""Serializer fields for the API's conventions."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catena_site.ids import InvalidId, decode_id, encode_id


@extend_schema_field({"type": "string", "example": "aKl9SW3AAAE.", "pattern": r"^[A-Za-z0-9_-]{11}\.$"})
class IdField(serializers.Field):
    """A Snowflake ID as its 12-character public form; a malformed one in a body is a 400."""

    default_error_messages = {"invalid": "Not a valid ID."}

    def to_representation(self, value):
        if value is None:
            return None
        return encode_id(value if isinstance(value, int) else value.pk)

    def to_internal_value(self, data):
        try:
            return decode_id(data)
        except InvalidId:
            self.fail("invalid")


class StrictCharField(serializers.CharField):
    """A ``CharField`` that takes only a JSON string: DRF's own turns ``5`` into ``"5"``."""

    default_error_messages = {"invalid": "Must be text."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)
