"""Input shapes of content: channels, packages, EPG sources and channel–package links.

Each shape is the one declaration of an input's rules (see ``catena_site.inputs``): the services call
``Shape.check(...)``, the API views name the shape as their request body, the screen forms and the channel CSV
import reach it through the services. Lengths come from the model fields, names from the models' patterns.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catena_site.api.fields import IdField
from catena_site.ids import encode_id
from catena_site.inputs import Boolean, InputShape, Text, WholeNumber, model_max_length

from .countries import COUNTRY_CODES
from .epg.guard import ALLOWED_SCHEMES
from .logos import prepare_logo
from .models import (
    EPG_SOURCE_NAME_PATTERN,
    MAX_ARCHIVE_DAYS,
    MAX_CHANNEL_NUMBER,
    MAX_NETWORKS,
    MAX_OFFSET_MINUTES,
    TECHNICAL_NAME_PATTERN,
    AspectRatio,
    Category,
    Channel,
    EpgSource,
    Location,
    Package,
    Quality,
)

NAME_RULE = "Must be 2–20 characters: letters, digits, '-' or '_'."
EPG_SOURCE_NAME_RULE = "Must be 2–64 characters: letters, digits, '.', '-' or '_'."
SCHEME_RULE = "Only http:// and https:// URLs are supported."
# The scheme of a guide URL (``ALLOWED_SCHEMES``, any case), as a pattern the OpenAPI document shows.
GUIDE_URL_PATTERN = r"^[hH][tT][tT][pP][sS]?://"
MAX_PERIOD_DAYS = 3650
PERIOD_RULE = f"Must be a whole number of days from 1 to {MAX_PERIOD_DAYS}."
NUMBER_RULE = f"Must be a whole number from 1 to {MAX_CHANNEL_NUMBER}, or left empty for no number."
ARCHIVE_DAYS_RULE = f"Must be a whole number of days from 0 to {MAX_ARCHIVE_DAYS}."
LANGUAGE_PATTERN = r"^[a-z]{2}(_[A-Z]{2})?$"
LANGUAGE_RULE = "Must be a language code such as en or a locale such as en_US (ll or ll_CC)."
POSITION_RULE = "Must be a whole number from -1000000 to 1000000."
OFFSET_RULE = f"Must be a whole number of minutes from -{MAX_OFFSET_MINUTES} to {MAX_OFFSET_MINUTES}."
MAX_EPG_SOURCES = 10  # sources one channel's guide may merge


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


def offset_minutes(**kwargs) -> WholeNumber:
    """A guide's shift in minutes (a source's ``offsetMinutes``, a channel's ``epgOffsetMinutes``)."""
    return WholeNumber(min_value=-MAX_OFFSET_MINUTES, max_value=MAX_OFFSET_MINUTES, required=False,
                       error_messages={"invalid": OFFSET_RULE, "min_value": OFFSET_RULE, "max_value": OFFSET_RULE,
                                       "null": OFFSET_RULE}, **kwargs)


class EpgSourceEntry(serializers.Serializer):
    """One entry of a channel's ``epgSources``: a source by name (which may not exist yet) and the channel's id
    in its XMLTV file."""

    default_error_messages = {"invalid": "Each entry must be an object with epgSourceName and epgChannelName."}

    epgSourceName = epg_source_name(source="epg_source_name")
    epgChannelName = Text(source="epg_channel_name", max_length=model_max_length(Channel, "epg_channel_name"),
                          help_text="The channel's id in this source's XMLTV file.")

    def validate(self, attrs: dict) -> dict:
        """Both keys, also in an update (where DRF's ``partial`` would let an entry's key be left out)."""
        missing = {api: ["This field is required."] for field, api in (("epg_source_name", "epgSourceName"),
                                                                       ("epg_channel_name", "epgChannelName"))
                   if field not in attrs}
        if missing:
            raise serializers.ValidationError(missing)
        return attrs


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


@extend_schema_field({"type": "string", "example": "en_US"})  # the pattern alone does not show a valid value
class LanguageCode(Text):
    """A language (``ll``) or locale (``ll_CC``) code."""


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
    epgSources = serializers.ListField(
        source="epg_sources", child=EpgSourceEntry(), required=False, max_length=MAX_EPG_SOURCES,
        help_text="The sources of the channel's guide in priority order: where one has programmes, those of the "
                  "sources after it are not shown. The first entry is epgSourceName/epgChannelName; [] for none.")
    epgOffsetMinutes = offset_minutes(
        source="epg_offset_minutes",
        help_text="Minutes added to every programme time of the channel's guide when it is shown (0: none).")
    logo = LogoField(required=False, allow_null=True)
    number = WholeNumber(min_value=1, max_value=MAX_CHANNEL_NUMBER, required=False, allow_null=True,
                         error_messages={"invalid": NUMBER_RULE, "min_value": NUMBER_RULE, "max_value": NUMBER_RULE},
                         help_text="The logical channel number, unique in the portal; null for none.")
    description = Text(required=False, allow_null=True, allow_blank=True,
                       max_length=model_max_length(Channel, "description"))
    language = LanguageCode(required=False, allow_null=True, allow_blank=True,
                            max_length=model_max_length(Channel, "language"),
                            validators=[RegexValidator(LANGUAGE_PATTERN, message=LANGUAGE_RULE)],
                            help_text="A language (ll) or locale (ll_CC) code such as en_US; empty for none.")
    aspectRatio = serializers.ChoiceField(source="aspect_ratio", choices=AspectRatio.values, required=False,
                                          allow_blank=True)
    audioOnly = Boolean(source="audio_only", required=False, help_text="A radio station or the like.")
    quality = serializers.ChoiceField(choices=Quality.values, required=False)
    isPublic = Boolean(source="is_public", required=False,
                       help_text="Whether catalogs shown to people without access list it.")
    isExclusive = Boolean(source="is_exclusive", required=False)
    categories = serializers.ListField(child=IdField(), required=False, max_length=100,
                                       help_text="Category IDs of the portal, in the order to keep.")
    locationRestrictions = serializers.ListField(
        source="location_restrictions", child=IdField(), required=False, max_length=100,
        help_text="Location IDs of the portal; empty: the channel plays anywhere.")
    archiveDays = WholeNumber(source="archive_days", min_value=0, max_value=MAX_ARCHIVE_DAYS, required=False,
                              error_messages={"invalid": ARCHIVE_DAYS_RULE, "min_value": ARCHIVE_DAYS_RULE,
                                              "max_value": ARCHIVE_DAYS_RULE},
                              help_text="Days of catch-up the streaming server keeps for this channel.")

    def validate_name(self, value: str) -> str:
        channel = self.context.get("channel")
        if channel is not None and value != channel.name:
            raise serializers.ValidationError("The channel name cannot be changed.")
        return value

    def validate_epgSourceName(self, value: str | None) -> str:
        return value or ""

    def validate_epgChannelName(self, value: str | None) -> str:
        return value or ""

    def validate_epgSources(self, value: list[dict]) -> list[dict]:  # noqa: N802  (the API's field name)
        names = [entry["epg_source_name"] for entry in value]
        repeated = next((name for index, name in enumerate(names) if name in names[:index]), None)
        if repeated is not None:
            raise serializers.ValidationError(f"The source {repeated} is listed twice; name each source once.")
        return value

    def validate(self, attrs: dict) -> dict:
        """``epgSources`` and the pair ``epgSourceName``/``epgChannelName`` as one list whose first entry is the
        pair: in a round trip the one that changed applies; when both changed, the pair sent leads the list."""
        channel = self.context.get("channel")
        if "epg_sources" in attrs and channel is not None:
            _keep_what_changed(attrs, channel)
        pair = [field for field in ("epg_source_name", "epg_channel_name") if field in attrs]
        if "epg_sources" in attrs and pair:
            self._pair_leads(attrs, pair)
        if attrs.get("epg_source_name") and "epg_sources" not in attrs and channel is not None and any(
                name == attrs["epg_source_name"] for name, _, _ in channel.epg_extra_sources):
            raise serializers.ValidationError({"epgSourceName": [
                f"The source {attrs['epg_source_name']} is already among the channel's epgSources; "
                f"name each source once."]})
        return attrs

    def _pair_leads(self, attrs: dict, pair: list[str]) -> None:
        """Both changed: the pair sent becomes the list's first entry (checked again for repeats)."""
        entries = attrs["epg_sources"]
        first = {**(entries[0] if entries else {"epg_source_name": "", "epg_channel_name": ""}),
                 **{field: attrs.pop(field) for field in pair}}
        if first["epg_source_name"]:
            attrs["epg_sources"] = [first, *entries[1:]]
            try:
                self.validate_epgSources(attrs["epg_sources"])
            except serializers.ValidationError as exc:
                raise serializers.ValidationError({"epgSources": exc.detail}) from None
        elif entries:
            raise serializers.ValidationError({"epgSources": [
                "epgSourceName is empty but epgSources lists sources; send one of them, or both alike."]})

    def validate_description(self, value: str | None) -> str:
        return value or ""

    def validate_language(self, value: str | None) -> str:
        return value or ""

    def validate_categories(self, value: list[int]) -> list[Category]:
        return portal_objects(Category, self.context["portal"], value, "category")

    def validate_locationRestrictions(self, value: list[int]) -> list[Location]:
        return portal_objects(Location, self.context["portal"], value, "location")


def _keep_what_changed(attrs: dict, channel: Channel) -> None:
    """A GET → change → PUT round trip sends both the pair and ``epgSources``: drop the one sent as stored."""
    stored = {"epg_source_name": channel.epg_source_name, "epg_channel_name": channel.epg_channel_name}
    if attrs["epg_sources"] == [{"epg_source_name": entry["epgSourceName"], "epg_channel_name": entry["epgChannelName"]}
                                for entry in channel.epg_sources]:
        del attrs["epg_sources"]  # the list as it was: the pair (if changed) applies
        return
    for field in stored:
        if field in attrs and attrs[field] == stored[field]:
            del attrs[field]  # the pair as it was: the list applies


def portal_objects(model, portal, ids: list[int], what: str) -> list:
    """The portal's objects with primary keys ``ids``, in the given order without repeats; an ID unknown in
    the portal (another portal's among them) is an error naming it."""
    ids = list(dict.fromkeys(ids))
    found = model.objects.for_portal(portal).in_bulk(ids)
    unknown = [encode_id(pk) for pk in ids if pk not in found]
    if unknown:
        raise serializers.ValidationError(f"No {what} {', '.join(unknown)} in this portal.")
    return [found[pk] for pk in ids]


class CategoryInput(InputShape):
    """``POST``/``PUT /categories``: on update (``category`` in the context) only the keys given change;
    ``position`` defaults to after the last category on create."""

    what = "category"

    name = technical_name(help_text="Unique in the portal; immutable after creation.")
    title = Text(max_length=model_max_length(Category, "title"), help_text="The name players show.")
    position = WholeNumber(min_value=-1_000_000, max_value=1_000_000, required=False,
                           error_messages={"invalid": POSITION_RULE, "min_value": POSITION_RULE,
                                           "max_value": POSITION_RULE},
                           help_text="Display order, smallest first (after the last category when left out).")

    def validate_name(self, value: str) -> str:
        category = self.context.get("category")
        if category is not None and value != category.name:
            raise serializers.ValidationError("The category name cannot be changed.")
        return value


def country_code(value: str) -> str:
    """``value`` as an ISO 3166-1 alpha-2 code (any case in, upper case out), or a ValidationError."""
    if not isinstance(value, str) or value.upper() not in COUNTRY_CODES:
        raise serializers.ValidationError(f"{value!r} is not an ISO 3166-1 alpha-2 country code such as FI.")
    return value.upper()


def network(value) -> str:
    """``value`` as a CIDR in its normal form (``10.0.0.0/8``, ``2001:db8::/32``; a bare address is one host),
    or a ValidationError: host bits set, a prefix too long or anything else is refused (strict)."""
    if not isinstance(value, str):
        raise serializers.ValidationError("Must be text.")
    try:
        return str(ipaddress.ip_network(value.strip(), strict=True))
    except ValueError:
        raise serializers.ValidationError(
            f"{value!r} is not a network such as 192.0.2.0/24 or 2001:db8::/32 (no host bits set).") from None


class LocationInput(InputShape):
    """``POST``/``PUT /locations``: on update (``location`` in the context) only the keys given change."""

    what = "location"

    name = technical_name(help_text="Unique in the portal; immutable after creation.")
    title = Text(max_length=model_max_length(Location, "title"))
    countries = serializers.ListField(child=Text(), required=False, max_length=len(COUNTRY_CODES),
                                      help_text="ISO 3166-1 alpha-2 codes such as FI.")
    networks = serializers.ListField(child=Text(), required=False, max_length=MAX_NETWORKS,
                                     help_text=f"IPv4 or IPv6 CIDRs, at most {MAX_NETWORKS}.")

    def validate_name(self, value: str) -> str:
        location = self.context.get("location")
        if location is not None and value != location.name:
            raise serializers.ValidationError("The location name cannot be changed.")
        return value

    def validate_countries(self, value: list[str]) -> list[str]:
        return checked_items(value, country_code)

    def validate_networks(self, value: list[str]) -> list[str]:
        return checked_items(value, network)


def checked_items(values: list[str], check) -> list[str]:
    """Each of ``values`` through ``check``, without repeats and in the given order; every refused item's reason
    in one error."""
    result, problems = [], []
    for value in values:
        try:
            result.append(check(value))
        except serializers.ValidationError as exc:
            problems.extend(str(detail) for detail in exc.detail)
    if problems:
        raise serializers.ValidationError(problems)
    return list(dict.fromkeys(result))


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
    offsetMinutes = offset_minutes(
        source="offset_minutes",
        help_text="The offset, in minutes east of UTC, of the guide's times that give none (0: UTC); applied "
                  "from the next fetch.")
    forceOffset = Boolean(source="force_offset", required=False,
                          help_text="Use offsetMinutes for every time, replacing the offset the guide gives.")

    def validate_url(self, value: str) -> str:
        problem = url_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
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


class EpgMappingEntry(serializers.Serializer):
    """One accepted mapping: a channel of the caller's portal by ID and the XMLTV channel id it reads."""

    default_error_messages = {"invalid": "Each entry must be an object with channelId and epgChannelName."}

    channelId = IdField(source="channel_id")
    epgChannelName = Text(source="epg_channel_name", max_length=model_max_length(Channel, "epg_channel_name"),
                          min_length=1, help_text="The channel's id in the source's XMLTV file.")


MAX_MAPPING_ENTRIES = 10_000


class EpgMappingInput(InputShape):
    """``POST /epg-sources/{id}/mapping``: the mappings to accept, or every current suggestion
    (``acceptAll``); both may be sent (the listed ones win for their channels)."""

    what = "EPG mapping"

    accept = serializers.ListField(child=EpgMappingEntry(), required=False, default=list,
                                   max_length=MAX_MAPPING_ENTRIES,
                                   help_text="Mappings to accept: [{channelId, epgChannelName}].")
    acceptAll = Boolean(source="accept_all", required=False, default=False,
                        help_text="Accept the suggestion of every unmapped channel (GET …/mapping).")

    def validate_accept(self, value: list[dict]) -> list[dict]:
        ids = [entry["channel_id"] for entry in value]
        if len(ids) != len(set(ids)):
            raise serializers.ValidationError("A channel is listed twice.")
        return value
