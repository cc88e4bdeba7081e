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
SCHEME_RULE = "Only http:// and https:// URLs are supported."
# The scheme of a guide URL (``ALLOWED_SCHEMES``, any case), as a pattern the OpenAPI document shows.
GUIDE_URL_PATTERN = r"^[hH][tT][tT][pP][sS]?://"
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


@extend_schema_field({"type": "string", "nullable": True, "minLength": 1,
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


_UNRESERVED = r"A-Za-z0-9\-._~"
_SUB_DELIMS = r"!$&'()*+,;="
_ESCAPE = r"%[0-9A-Fa-f]{2}"
_PATH_CHAR = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:@]|{_ESCAPE})"
# An absolute URI with an authority, as RFC 3986 spells it (what ``format: uri`` means in the OpenAPI document):
# ASCII only, anything else %-escaped.
URI_SYNTAX = re.compile(
    rf"[A-Za-z][A-Za-z0-9+.\-]*://"
    rf"(?:(?:[{_UNRESERVED}{_SUB_DELIMS}:]|{_ESCAPE})*@)?"  # user information
    rf"(?:\[[0-9A-Fa-f:.]+\]|(?:[{_UNRESERVED}{_SUB_DELIMS}]|{_ESCAPE})*)"  # host
    rf"(?::[0-9]*)?"  # port
    rf"(?:/{_PATH_CHAR}*)*"  # path
    rf"(?:\?(?:{_PATH_CHAR}|[/?])*)?"  # query
    rf"(?:#(?:{_PATH_CHAR}|[/?])*)?"  # fragment
)
NOT_A_URI = "Not a valid URL: spaces, characters outside ASCII and {}|\\^`<>\" must be written as %-escapes."


def url_problem(value: str) -> str | None:
    """Why ``value`` (a trimmed string) is not a guide URL Catena can fetch, or None. Whether its host is a
    public address is decided when it is fetched (``content.epg.guard``), on the addresses it resolves to."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return "Not a valid URL."
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        return SCHEME_RULE
    if not parts.hostname:
        return "Not a valid URL."
    if not URI_SYNTAX.fullmatch(value):
        return NOT_A_URI
    return None


@extend_schema_field({"type": "string", "format": "uri"})
class GuideUrl(Text):
    """A guide's address: an ``http://`` or ``https://`` URL (the scheme is the documented pattern; the rest of
    ``url_problem`` is checked by the shape)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators.append(RegexValidator(GUIDE_URL_PATTERN, message=SCHEME_RULE))


class EpgSourceInput(InputShape):
    """``POST``/``PUT /epg-sources``: on update (``source`` in the context) only the keys given change;
    ``period`` is 1 day when left out on create."""

    what = "EPG source"

    name = epg_source_name(help_text="Unique in the portal; channels name their source by it.")
    url = GuideUrl(max_length=model_max_length(EpgSource, "url"),
                   help_text="http:// or https:// only; other characters than RFC 3986 allows %-escaped.")
    period = WholeNumber(min_value=1, max_value=MAX_PERIOD_DAYS, required=False,
                         error_messages={"invalid": PERIOD_RULE, "min_value": PERIOD_RULE, "max_value": PERIOD_RULE,
                                         "null": PERIOD_RULE},
                         help_text="Days between automatic fetches (1 when left out on create).")

    def validate_url(self, value: str) -> str:
        problem = url_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value


class ChannelPackageInput(InputShape):
    """``POST``/``DELETE /channels-packages``: a channel and a package of the caller's portal by ID."""

    what = "channel-package link"

    channelId = IdField()
    packageId = IdField()
    portalId = IdField(required=False, help_text="If sent, must be the caller's portal.")
