"""Input shapes: one declaration per kind of input, in plain words.

An input shape is a DRF serializer subclassing :class:`InputShape`. It is the one place where the rules of an
input live: the service functions call :meth:`InputShape.check` (so the API, the screens and the CSV imports,
which all go through the services, enforce exactly these rules), and the API views name the same class as their
request body (so the OpenAPI document describes exactly what is enforced).

Rules that need the database (an EPG source of that name in this portal, …) are field validators
(``validate_<field>``) reading ``self.context`` — DRF runs them with the other field rules, so every field's
error comes back in one answer. Uniqueness under a lock (409) stays in the service's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping

from rest_framework import serializers

from catena_site.api.fields import StrictCharField
from catena_site.errors import Invalid

# DRF's error codes → plain words: no "null", no "may not", no "a valid boolean".
PLAIN_MESSAGES = {
    "required": "This field is required.",
    "null": "This field is required.",
    "blank": "This field is required.",
    "max_length": "Must be at most {max_length} characters.",
    "min_length": "Must be at least {min_length} characters.",
    "max_value": "Must be at most {max_value}.",
    "min_value": "Must be at least {min_value}.",
    "max_string_length": "Must be a smaller number.",
    "invalid_choice": "'{input}' is not one of the choices.",
    "not_a_list": "Must be a list.",
    "not_a_dict": "Must be an object.",
    "empty": "Must not be empty.",
    "max_digits": "Must have at most {max_digits} digits.",
}
# The "invalid" message of each kind of field (the first class in the field's MRO found here wins).
INVALID_MESSAGES = {
    serializers.EmailField: "Enter a valid email address.",
    serializers.URLField: "Enter a valid URL.",
    serializers.RegexField: "Has characters or a length the rule does not allow.",
    serializers.CharField: "Must be text.",
    serializers.BooleanField: "Must be true or false.",
    serializers.IntegerField: "Must be a whole number.",
    serializers.FloatField: "Must be a number.",
    serializers.DecimalField: "Must be a number.",
    serializers.DateTimeField: "Must be a date and time such as 2024-10-16T15:00:00Z.",
    serializers.DateField: "Must be a date such as 2024-10-16.",
}


class Text(StrictCharField):
    """Text from a JSON string only (DRF's ``CharField`` turns ``5`` into ``"5"``); surrounding spaces are
    trimmed unless ``trim_whitespace=False``."""


class Boolean(serializers.BooleanField):
    """``true`` or ``false`` only: DRF's own also takes ``"yes"``, ``"on"`` and ``1``."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class WholeNumber(serializers.IntegerField):
    """A JSON number without a fraction only: DRF's own also takes ``"5"`` and ``5.0``."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


def model_max_length(model, field: str) -> int:
    """The ``max_length`` of a model's field: the model is where a length is declared."""
    return model._meta.get_field(field).max_length


def _plain(field: serializers.Field) -> None:
    """Declare plain words in place of DRF's own messages on ``field`` (and a list's child). A message set by
    the declaration (``error_messages=``) or by one of our field classes is kept.

    The messages go into the field's constructor arguments: DRF builds its length and range validators, with
    their messages, when a field is constructed, and every serializer instance constructs its fields anew
    from those arguments.
    """
    drf_defaults: dict[str, str] = {}
    for cls in reversed(type(field).__mro__):
        if cls.__module__.startswith("rest_framework"):
            drf_defaults.update(cls.__dict__.get("default_error_messages", {}))
    invalid = next((INVALID_MESSAGES[cls] for cls in type(field).__mro__ if cls in INVALID_MESSAGES), None)
    plain = {}
    for key, text in field.error_messages.items():
        if drf_defaults.get(key) == text:
            replacement = invalid if key == "invalid" else PLAIN_MESSAGES.get(key)
            if replacement:
                plain[key] = replacement
    field._kwargs["error_messages"] = {**plain, **(field._kwargs.get("error_messages") or {})}
    field.error_messages.update(plain)
    child = field._kwargs.get("child")
    if isinstance(child, serializers.Field):
        _plain(child)


def flatten(detail) -> dict[str, list[str]]:
    """DRF error details as ``{field: [reason, ...]}``; nested fields become ``a.b`` and ``a.0.b``."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(value, dict):
                for sub, reasons in flatten(value).items():
                    out[f"{key}.{sub}"] = reasons
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                for index, item in enumerate(value):
                    for sub, reasons in flatten(item).items():
                        out[f"{key}.{index}.{sub}"] = reasons
            else:
                out[key] = [str(v) for v in (value if isinstance(value, list) else [value])]
        return out
    if isinstance(detail, list):
        return {"non_field_errors": [str(v) for v in detail]}
    return {"non_field_errors": [str(detail)]}


class InputShape(serializers.Serializer):
    """Base of every input shape. ``what`` names the input in the summary message ("Invalid channel: …")."""

    what = "input"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for field in cls._declared_fields.values():
            _plain(field)

    @classmethod
    def check(cls, data, *, partial: bool = False, **context) -> dict:
        """The validated values of ``data`` (keys as declared: ``source=`` renames apply), or ``Invalid`` carrying
        every field's reason at once. ``partial`` checks only the keys present (an update); ``context`` is what
        the field validators read (``portal``, the object being changed, …)."""
        if not isinstance(data, Mapping):
            raise Invalid("Expected a JSON object.", {"non_field_errors": ["Expected a JSON object."]})
        shape = cls(data=data, partial=partial, context=context)
        if not shape.is_valid():
            raise Invalid.of(cls.what, flatten(shape.errors))
        return dict(shape.validated_data)
