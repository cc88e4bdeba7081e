"""Input shapes of content: channels, packages, EPG sources and channel–package links.

Each shape is the one declaration of an input's rules (see ``catena_site.inputs``): the services call
``Shape.check(...)``, the API views name the shape as their request body, the screen forms and the channel CSV
import reach it through the services. Lengths come from the model fields, names from the models' patterns.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catena_site.api.fields import IdField
from catena_site.inputs import InputShape, Text, WholeNumber, model_max_length

from .epg.guard import ALLOWED_SCHEMES
from .logos import prepare_logo
from .models import EPG_SOURCE_NAME_PATTERN, TECHNICAL_NAME_PATTERN, Channel, EpgSource, Package

NAME_RULE = "Must be 2–20 characters: letters, digits, '-' or '_'."
EPG_SOURCE_NAME_RULE = "Must be 2–64 characters: letters, digits, '.', '-' or '_'."
MAX_PERIOD_DAYS = 3650
PERIOD_RULE = f"Must be a whole number of days from 1 to {MAX_PERIOD_DAYS}."


def valid_epg_source_name(value) -> bool:
    """Whether ``value`` is a name an EPG source may have (what a channel's ``epgSourceName`` may say)."""
    return isinstance(value, str) and re.fullmatch(EPG_SOURCE_NAME_PATTERN, value) is not None


def technical_name(**kwargs) -> Text:
    """A channel or package name (for a channel, its stream name on the streaming server)."""
    return Text(trim_whitespace=False, validators=[RegexValidator(TECHNICAL_NAME_PATTERN, message=NAME_RULE)],
                **kwargs)


def epg_source_name(**kwargs) -> Text:
    """An EPG source's name, or the name a channel refers to its source by."""
    return Text(trim_whitespace=False, validators=[RegexValidator(EPG_SOURCE_NAME_PATTERN,
                                                                  message=EPG_SOURCE_NAME_RULE)], **kwargs)


@extend_schema_field({"type": "string", "nullable": True,
                      "description": "data:image/png;base64,… (PNG, JPEG or WebP, at most 1 MB decoded and "
                                     "4096×4096 pixels) replaces the logo; null removes it; absent keeps it."})
class LogoField(serializers.Field):
    """A logo as a ``data:image/…;base64,`` string (the API) or uploaded bytes (the screens); the validated value
    is the model's logo fields (``content.logos.prepare_logo``), or None to remove the logo."""

    def to_internal_value(self, data):
        try:
            return prepare_logo(data)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None

    def to_representation(self, value):  # input only; never drawn
        return None


class ChannelInput(InputShape):
    """``POST``/``PUT /channels``: on update (``channel`` in the context) only the keys given change."""

    what = "channel"

    name = technical_name(help_text="The stream name on the streaming server; immutable after creation.")
    title = Text(max_length=model_max_length(Channel, "title"))
    epgSourceName = epg_source_name(
        source="epg_source_name", required=False, allow_null=True, allow_blank=True,
        help_text="The name of an EPG source, which may not exist yet (the channel is linked to it as soon as it "
                  "does); null or empty for none.")
    epgChannelName = Text(source="epg_channel_name", required=False, allow_null=True, allow_blank=True,
                          max_length=model_max_length(Channel, "epg_channel_name"),
                          help_text="The channel's id in the EPG source's XMLTV file.")
    logo = LogoField(required=False, allow_null=True)

    def validate_name(self, value: str) -> str:
        channel = self.context.get("channel")
        if channel is not None and value != channel.name:
            raise serializers.ValidationError("The channel name cannot be changed.")
        return value

    def validate_epgSourceName(self, value: str | None) -> str:
        return value or ""

    def validate_epgChannelName(self, value: str | None) -> str:
        return value or ""


class PackageInput(InputShape):
    """``POST``/``PUT /packages``: on update only the keys given change."""

    what = "package"

    name = technical_name(help_text="Unique in the portal.")
    description = Text(required=False, allow_null=True, allow_blank=True,
                       max_length=model_max_length(Package, "description"))

    def validate_description(self, value: str | None) -> str:
        return value or ""


def url_problem(value: str) -> str | None:
    """Why ``value`` (a trimmed string) is not a guide URL Catena can fetch, or None. Whether its host is a
    public address is decided when it is fetched (``content.epg.guard``), on the addresses it resolves to."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return "Not a valid URL."
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        return "Only http:// and https:// URLs are supported."
    if not parts.hostname or any(c.isspace() for c in value):
        return "Not a valid URL."
    return None


class EpgSourceInput(InputShape):
    """``POST``/``PUT /epg-sources``: on update (``source`` in the context) only the keys given change;
    ``period`` is 1 day when left out (or null) on create."""

    what = "EPG source"

    name = epg_source_name(help_text="Unique in the portal; channels name their source by it.")
    url = Text(max_length=model_max_length(EpgSource, "url"), help_text="http:// or https:// only.")
    period = WholeNumber(min_value=1, max_value=MAX_PERIOD_DAYS, required=False, allow_null=True,
                         error_messages={"invalid": PERIOD_RULE, "min_value": PERIOD_RULE, "max_value": PERIOD_RULE},
                         help_text="Days between automatic fetches (1 when left out).")

    def validate_url(self, value: str) -> str:
        problem = url_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value

    def validate_period(self, value: int | None) -> int | None:
        if value is None and self.context.get("source") is not None:
            raise serializers.ValidationError(PERIOD_RULE)
        return value


class ChannelPackageInput(InputShape):
    """``POST``/``DELETE /channels-packages``: a channel and a package of the caller's portal by ID (an ID of another
    portal is a 404, like an unknown one); ``portalId``, when given, must be the caller's."""

    what = "channel-package link"

    channelId = IdField()
    packageId = IdField()
    portalId = IdField(required=False, help_text="If sent, must be the caller's portal.")

    def validate_portalId(self, value: int) -> int:  # noqa: N802  (the API's field name)
        if value != self.context["portal"].id:
            raise serializers.ValidationError("Must be the portal of the API key or session.")
        return value
