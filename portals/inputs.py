"""Input shapes of portals and managers: every rule of every input, declared once.

``portals.services`` calls them (so the API, the screens, the Django admin and the commands enforce exactly
these rules, each field's error in the same answer), and the API views name them as their request bodies (so
the OpenAPI document describes exactly what is enforced). Lengths come from the model fields, the password
policy and the logo rules from ``portals.validators``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator, RegexValidator, validate_slug
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catena_site.inputs import Boolean, InputShape, Text, WholeNumber, model_max_length

from .models import (
    DEFAULT_ARCHIVE_DAYS,
    DEFAULT_SERVER_NAME,
    DEVICE_LIMIT_POLICIES,
    Manager,
    Portal,
    StreamingServer,
)
from .permissions import PERMISSIONS
from .streaming_servers import address_problems
from .validators import (
    decode_logo,
    decode_logo_data_uri,
    logo_data_uri,
    password_problems,
    time_zone_names,
    time_zone_problem,
    validate_logo_url,
)

# --- Fields -----------------------------------------------------------------------------------------------


@extend_schema_field({"type": "string", "format": "email", "maxLength": 254})
class EmailAddress(Text):
    """An email address, stored and compared lower-case."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", model_max_length(Manager, "email"))
        super().__init__(**kwargs)
        self.validators.append(EmailValidator(message="Enter a valid email address."))

    def to_internal_value(self, data):
        return super().to_internal_value(data).lower()


@dataclass(frozen=True)
class Logo:
    """A portal logo: stored image bytes with their content type, or an https address; neither is no logo."""

    image: bytes | None = None
    content_type: str = ""
    url: str = ""


NO_LOGO = Logo()
LOGO_RULE = "Must be an https:// URL, a data:image/…;base64, string, or empty for no logo."


@extend_schema_field({"type": "string", "nullable": True,
                      "description": "An https:// URL or a data:image/…;base64, PNG, JPEG or WebP (at most 1 MB "
                                     "decoded and 4096×4096 pixels); null or empty removes the logo."})
class LogoValue(serializers.Field):
    """``branding.logo``: an https URL, a data URI of a verified image, or empty/null for none (→ ``NO_LOGO``).

    The portal's current logo sent back unchanged (a ``GET`` → ``PUT`` round trip) is taken as it is."""

    default_error_messages = {"invalid": LOGO_RULE}

    def to_internal_value(self, data):
        if data == "":
            return NO_LOGO
        if not isinstance(data, str):
            self.fail("invalid")
        portal = self.context.get("portal")
        if portal is not None and portal.logo_image and data == logo_data_uri(bytes(portal.logo_image),
                                                                               portal.logo_content_type):
            return Logo(bytes(portal.logo_image), portal.logo_content_type)
        try:
            if data.startswith("data:"):
                return Logo(*decode_logo_data_uri(data))
            return Logo(url=validate_logo_url(data))
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None

    def to_representation(self, value):
        return value


@extend_schema_field({"type": "string", "format": "binary"})
class LogoFile(serializers.Field):
    """An uploaded logo's bytes (the settings screen), verified like a data URI."""

    default_error_messages = {"invalid": "Must be an image file."}

    def to_internal_value(self, data):
        if not isinstance(data, bytes):
            self.fail("invalid")
        try:
            return Logo(*decode_logo(data))
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None

    def to_representation(self, value):
        return value


class Section(InputShape):
    """A shape nested in another (``branding``, ``settings``): anything but an object is that key's error, and
    its fields' errors come back as ``<section>.<field>``."""

    def to_internal_value(self, data):
        if not isinstance(data, Mapping):
            raise serializers.ValidationError(["Must be an object."])
        return super().to_internal_value(data)


# --- Portal -----------------------------------------------------------------------------------------------


class BrandingInput(Section):
    """``branding`` of ``PUT /portal``: any of its keys."""

    what = "branding"

    logo = LogoValue(required=False, allow_null=True)
    title = Text(required=False, allow_blank=True, max_length=model_max_length(Portal, "title"))
    description = Text(required=False, allow_blank=True, allow_null=True, max_length=2000)

    def validate_logo(self, value):
        return NO_LOGO if value is None else value

    def validate_description(self, value):
        return value or ""


MAX_SESSIONS_RULE = "Must be a whole number from 1 to 1000, or empty for unlimited."
MAX_DEVICES_RULE = MAX_SESSIONS_RULE
ARCHIVE_DAYS_RULE = "Must be a whole number from 1 to 365, or empty for the default."
REMINDER_DAYS_RULE = "Must be a whole number from 1 to 90, or empty to send no reminders."


# The examples show a valid value in the OpenAPI document: the rule (a pattern) alone does not say what one is.
@extend_schema_field({"type": "string", "example": "{title}: your login code is {code}"})
class SmsTemplate(Text):
    """The text of the login SMS."""


@extend_schema_field({"type": "string", "example": "{title}: your {package} subscription ends on {date}."})
class ReminderTemplate(Text):
    """The text of the expiry reminder SMS: only the placeholders it knows."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        unknown = sorted(set(re.findall(r"\{([^{}]*)\}", value)) - {"title", "package", "date"})
        if unknown:
            raise serializers.ValidationError(
                "Unknown placeholder " + ", ".join(f"{{{name}}}" for name in unknown)
                + ": use {title}, {package} and {date}.")
        return value


@extend_schema_field({"type": "string", "example": "https://streams.example.com"})
class StreamBaseUrl(Text):
    """Where players fetch the streams."""


@extend_schema_field({"type": "string", "enum": sorted(time_zone_names()), "example": "Europe/Moscow"})
class TimeZoneName(Text):
    """An IANA time zone name this machine knows (the document lists them)."""


class PortalSettingsInput(Section):
    """``settings`` of ``PUT /portal``: any of its keys; one line per setting (and its default in
    ``portals.models.DEFAULT_PORTAL_SETTINGS``)."""

    what = "portal settings"

    autoCreateSubscribers = Boolean(
        required=False, help_text="An unknown phone number may log in to the apps by SMS code and becomes a "
                                  "subscriber with only the free packages.")
    maxSessionsPerSubscriber = WholeNumber(
        required=False, allow_null=True, min_value=1, max_value=1000,
        error_messages={"min_value": MAX_SESSIONS_RULE, "max_value": MAX_SESSIONS_RULE},
        help_text="Concurrent play sessions per subscriber, 1–1000; null means unlimited.")
    smsTemplate = SmsTemplate(
        required=False, allow_null=True, allow_blank=True, max_length=300, trim_whitespace=False,
        validators=[RegexValidator(r"\{code\}", message="Must contain {code}, where the login code goes.")],
        help_text="The login SMS: {title} is the portal title, {code} the code (required). Null or empty: the "
                  "default text.")
    streamBaseUrl = StreamBaseUrl(
        required=False, allow_null=True, allow_blank=True, max_length=500,
        validators=[RegexValidator(r"^https?://", message="Must be an http:// or https:// URL.")],
        help_text="Where players fetch the streams: an http:// or https:// URL. Null or empty: the deployment's "
                  "default.")

    require2fa = Boolean(
        required=False, help_text="Every manager must use two-factor authentication: those without it are sent to "
                                  "enrol on the screens and refused by the API login. Only the owner changes it.")

    icareusApi = Boolean(
        required=False, help_text="The Icareus-compatible channels endpoint (/api/channels/admin) answers for this "
                                  "portal. Off by default: its generated tokens are weaker than X-Auth-Token.")
    defaultArchiveDays = WholeNumber(
        required=False, allow_null=True, min_value=1, max_value=365,
        error_messages={"min_value": ARCHIVE_DAYS_RULE, "max_value": ARCHIVE_DAYS_RULE},
        help_text="Days of catch-up a channel gets when the Icareus endpoint turns autoRecord on, 1–365; null "
                  f"means {DEFAULT_ARCHIVE_DAYS}.")
    expiryReminderDays = WholeNumber(
        required=False, allow_null=True, min_value=1, max_value=90,
        error_messages={"min_value": REMINDER_DAYS_RULE, "max_value": REMINDER_DAYS_RULE},
        help_text="Send a subscriber one SMS this many days before a subscription ends, 1–90; null turns "
                  "reminders off.")
    expiryReminderTemplate = ReminderTemplate(
        required=False, allow_null=True, allow_blank=True, max_length=300, trim_whitespace=False,
        help_text="The reminder SMS: {title} is the portal title, {package} the package, {date} the end date. "
                  "Null or empty: the default text.")
    allowDeviceRegistration = Boolean(
        required=False, help_text="A device is registered when it is first seen playing; off: only devices a "
                                  "manager added may play.")
    allowDeviceUnregister = Boolean(
        required=False, help_text="Subscribers may remove their own devices in the apps.")
    maxDevicesPerSubscriber = WholeNumber(
        required=False, allow_null=True, min_value=1, max_value=1000,
        error_messages={"min_value": MAX_DEVICES_RULE, "max_value": MAX_DEVICES_RULE},
        help_text="Devices per subscriber, 1–1000; null means unlimited. A subscriber's own maxDevices wins.")
    deviceLimitPolicy = serializers.ChoiceField(
        choices=list(DEVICE_LIMIT_POLICIES), required=False,
        help_text="When a subscriber's devices are full: refuse the new one (too_many_devices) or replace the "
                  "least recently seen one.")
    allowAnonymous = Boolean(
        required=False, help_text="Channels of the free packages play without a token, and the apps list them "
                                  "without a login.")
    xtreamApi = Boolean(
        required=False, help_text="IPTV players (TiviMate, IPTV Smarters, Kodi…) log in with the subscriber's login "
                                  "and player password through the Xtream Codes API at the portal's host.")
    timeZone = TimeZoneName(
        required=False,
        help_text="The IANA time zone (UTC, Europe/Moscow…) the screens show times in; the API stays UTC.")

    def validate_timeZone(self, value):
        problem = time_zone_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value

    def validate_smsTemplate(self, value):
        return value or None

    def validate_expiryReminderTemplate(self, value):
        return value or None

    def validate_streamBaseUrl(self, value):
        return value or None


class PortalUpdateInput(InputShape):
    """``PUT /portal``: ``branding`` and ``settings`` (any of their keys); ``name`` and ``domain`` only unchanged.
    Context: ``portal``."""

    what = "portal"

    name = Text(required=False, help_text="Immutable: only the current name is accepted.")
    domain = Text(required=False, help_text="Immutable: only the current domain is accepted.")
    branding = BrandingInput(required=False, error_messages={"null": "Must be an object."})
    settings = PortalSettingsInput(required=False, error_messages={"null": "Must be an object."})

    def validate_name(self, value):
        if value != self.context["portal"].name:
            raise serializers.ValidationError("The portal name cannot be changed.")
        return value

    def validate_domain(self, value):
        if value != self.context["portal"].domain:
            raise serializers.ValidationError("The portal domain cannot be changed.")
        return value


# A BCP 47 language tag reduced to what XMLTV guides use: a 2–8 letter language, optionally a region
# (2 letters or 3 digits): ``en``, ``ru``, ``pt-BR``, ``es-419``.
GUIDE_LANGUAGE_PATTERN = re.compile(r"([A-Za-z]{2,8})(?:-([A-Za-z]{2}|[0-9]{3}))?")


class PortalSettingsScreenInput(PortalUpdateInput):
    """The portal settings screen: ``PUT /portal`` plus what only the screen offers (not in the Management API):
    an uploaded logo, removing the logo, and the guide language."""

    logoFile = LogoFile(required=False, allow_null=True)
    removeLogo = Boolean(required=False)
    guideLanguage = Text(required=False, allow_null=True, allow_blank=True)

    def validate_guideLanguage(self, value) -> str:
        """The language in its usual spelling (``pt-br`` → ``pt-BR``), or ``""`` for none."""
        if not value:
            return ""
        match = GUIDE_LANGUAGE_PATTERN.fullmatch(value)
        if match is None:
            raise serializers.ValidationError(
                "Must be a language code such as en, ru or pt-BR (2–8 letters, optionally a region), or blank.")
        language, region = match.groups()
        return language.lower() + (f"-{region.upper()}" if region else "")


class PortalCreationInput(InputShape):
    """A new portal and its owner (the Django admin and ``create_portal``)."""

    what = "portal"

    name = Text(max_length=model_max_length(Portal, "name"), validators=[validate_slug],
                help_text="Technical name: letters, digits, - and _.")
    domain = Text(max_length=model_max_length(Portal, "domain"))
    title = Text(required=False, allow_blank=True, max_length=model_max_length(Portal, "title"))
    ownerEmail = EmailAddress()
    ownerPassword = Text(trim_whitespace=False, max_length=1024)

    def validate_ownerPassword(self, value):
        known = [self.initial_data.get(key) for key in ("ownerEmail", "name", "domain", "title")]
        return _acceptable_password(value, known)


# --- Managers ---------------------------------------------------------------------------------------------


def _acceptable_password(password: str, known_words) -> str:
    """``password`` if it follows the policy (``known_words`` — email, name — may not make it up); every broken
    rule otherwise, at once."""
    problems = password_problems(password, [word for word in known_words if isinstance(word, str) and word])
    if problems:
        raise serializers.ValidationError(problems)
    return password


def _flag(flag: str) -> Boolean:
    permission = PERMISSIONS[flag]
    return Boolean(required=False, help_text=f"{permission.label}: {permission.scope}")


class ManagerInput(InputShape):
    """``POST /managers`` (and the "Add manager" screen). Context: ``manager`` when changing one."""

    what = "manager"

    email = EmailAddress(help_text="Stored lower-case; unique within the portal (409).")
    name = Text(required=False, allow_blank=True, allow_null=True, max_length=model_max_length(Manager, "name"))
    password = Text(trim_whitespace=False, max_length=1024, write_only=True,
                    help_text="At least 8 characters with an upper-case letter, a lower-case letter, a digit and "
                              "a special character; not common or easy to guess.")
    isAdmin = _flag("isAdmin")
    isContentAdmin = _flag("isContentAdmin")
    isSubscriberAdmin = _flag("isSubscriberAdmin")

    def validate_name(self, value):
        return value or ""

    def validate_password(self, value):
        manager = self.context.get("manager")
        known = [self.initial_data.get("email"), self.initial_data.get("name"),
                 manager and manager.email, manager and manager.name]
        return _acceptable_password(value, known)


class ManagerUpdateInput(ManagerInput):
    """``PUT /managers/{id}`` (and the edit screen): the fields of ``POST``, each optional; an absent password
    keeps the old one."""

    def get_fields(self):
        fields = super().get_fields()
        for field in fields.values():
            field.required = False
        return fields


class LoginInput(InputShape):
    """``POST /login``: an email (compared lower-case; not checked for form, a wrong one just does not match),
    a password, and with two-factor authentication on a code (``totp``)."""

    what = "login"

    email = Text(max_length=254)
    password = Text(max_length=1024, trim_whitespace=False)
    totp = Text(required=False, allow_blank=True, allow_null=True, max_length=64,
                help_text="With two-factor authentication on: the authenticator's code or a recovery code.")

    def validate_email(self, value):
        return value.lower()


# --- Streaming servers (the Django admin) ------------------------------------------------------------------


class StreamingServerInput(InputShape):
    """A streaming server, by its model field names (only the Django admin edits one). Whether another server
    already uses the key is the service's check, under its lock (409)."""

    what = "streaming server"

    name = Text(max_length=model_max_length(StreamingServer, "name"), validators=[validate_slug])
    key = Text(required=False, allow_blank=True, max_length=model_max_length(StreamingServer, "key"))
    allowed_ips = Text(required=False, allow_blank=True)
    api_url = Text(required=False, allow_blank=True, max_length=model_max_length(StreamingServer, "api_url"))
    api_user = Text(required=False, allow_blank=True, max_length=model_max_length(StreamingServer, "api_user"))
    api_password = Text(required=False, allow_blank=True, trim_whitespace=False,
                        max_length=model_max_length(StreamingServer, "api_password"))
    api_token = Text(required=False, allow_blank=True, max_length=model_max_length(StreamingServer, "api_token"))

    def validate_key(self, value):
        if not value and self.initial_data.get("name") != DEFAULT_SERVER_NAME:
            raise serializers.ValidationError("Every server but the default one needs its own key.")
        return value

    def validate_allowed_ips(self, value):
        problems = address_problems(value)
        if problems:
            raise serializers.ValidationError(problems)
        return value

    def validate_api_url(self, value):
        if value and not value.startswith(("http://", "https://")):
            raise serializers.ValidationError("Must be an http:// or https:// URL.")
        return value
