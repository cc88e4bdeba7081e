"""Input shapes of subscribers, subscriptions and SMS login: the one declaration of each input's rules.

The services call them (``Shape.check``), so the Management API, the screens, the CSV import and the client
API enforce exactly these rules and report every field's error in one answer; the API views name the same
classes as their request bodies, so the OpenAPI document describes what is enforced. The phone rule is declared
once, as the ``CountryCode`` and ``Phone`` fields, from the model's field lengths; the screen form's HTML
``pattern`` attributes are the same constants.
"""

from __future__ import annotations

import datetime as dt
import re

from django.core.validators import RegexValidator
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catena_site.api.fields import IdField
from catena_site.errors import Invalid
from catena_site.inputs import InputShape, Text, WholeNumber

from .models import Device, Subscriber

NAME_MAX_LENGTH = Subscriber._meta.get_field("name").max_length
COUNTRY_CODE_MAX_LENGTH = Subscriber._meta.get_field("phone_country_code").max_length
PHONE_MIN_LENGTH = 4
PHONE_MAX_LENGTH = Subscriber._meta.get_field("phone").max_length

# The phone rule, as a regular expression without anchors (an HTML ``pattern`` attribute matches whole values).
COUNTRY_CODE_PATTERN = f"[0-9]{{1,{COUNTRY_CODE_MAX_LENGTH}}}"
PHONE_PATTERN = f"[0-9]{{{PHONE_MIN_LENGTH},{PHONE_MAX_LENGTH}}}"
COUNTRY_CODE_RULE = f"Must be 1–{COUNTRY_CODE_MAX_LENGTH} digits, without '+' or spaces."
PHONE_RULE = f"Must be {PHONE_MIN_LENGTH}–{PHONE_MAX_LENGTH} digits, without '+', spaces or dashes."
SMS_CODE_PATTERN = "[0-9]{4}"
SMS_CODE_RULE = "Must be 4 digits."

# players.md §2: what a viewer types into an IPTV player's login screen, often with a TV remote: ASCII letters,
# digits and the few signs of e-mail-like logins, nothing that a player's keyboard might lack or a URL escape
# (the Xtream API puts both in URL paths). Compared exactly, letter case included, as IPTV panels do.
LOGIN_MAX_LENGTH = Subscriber._meta.get_field("login").max_length
LOGIN_PATTERN = f"[A-Za-z0-9._@-]{{1,{LOGIN_MAX_LENGTH}}}"
LOGIN_RULE = (f"Must be 1–{LOGIN_MAX_LENGTH} characters: letters A–Z or a–z, digits, '.', '_', '-' or '@', "
              "without spaces.")
PLAYER_PASSWORD_MIN_LENGTH = 6
PLAYER_PASSWORD_MAX_LENGTH = Subscriber._meta.get_field("player_password").max_length
# Typed on a remote and sent as is in URL paths (/live/<login>/<password>/…) and query strings by players that do
# not always escape them: letters, digits and the signs that need no escaping there (no '/', '?', '#', '%', '&',
# '+' or spaces).
PLAYER_PASSWORD_PATTERN = f"[A-Za-z0-9._~!@*-]{{{PLAYER_PASSWORD_MIN_LENGTH},{PLAYER_PASSWORD_MAX_LENGTH}}}"
PLAYER_PASSWORD_RULE = (f"Must be {PLAYER_PASSWORD_MIN_LENGTH}–{PLAYER_PASSWORD_MAX_LENGTH} characters: "
                        "letters A–Z or a–z, digits, '.', '_', '~', '!', '@', '*' or '-', without spaces.")


class Matching(Text):
    """Text matching ``pattern`` exactly, as sent: no spaces trimmed, since none are allowed."""

    pattern = ""
    rule = ""

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)
        # ``\Z``, not ``$``: ``$`` also matches before a final newline. The OpenAPI document shows it as ``$``.
        self.validators.append(RegexValidator(rf"^{self.pattern}\Z", self.rule))


class Digits(Matching):
    """A string of digits matching ``pattern`` exactly."""


class CountryCode(Digits):
    """A phone's country code: 1–4 digits, without "+"."""

    pattern = COUNTRY_CODE_PATTERN
    rule = COUNTRY_CODE_RULE


class Phone(Digits):
    """A phone number without its country code: 4–15 digits."""

    pattern = PHONE_PATTERN
    rule = PHONE_RULE


class LoginCode(Digits):
    """The 4-digit code of a login SMS."""

    pattern = SMS_CODE_PATTERN
    rule = SMS_CODE_RULE


class Login(Matching):
    """A subscriber's player login (players.md §2): 1–64 letters, digits, ``.``, ``_``, ``-`` or ``@``."""

    pattern = LOGIN_PATTERN
    rule = LOGIN_RULE


class PlayerPassword(Matching):
    """A player password chosen by a manager or a billing system: 6–32 letters, digits or URL-safe signs."""

    pattern = PLAYER_PASSWORD_PATTERN
    rule = PLAYER_PASSWORD_RULE


def full_number(country_code: str, phone: str) -> str:
    """The number as stored and compared (``full_phone``): country code and phone, digits only."""
    return country_code + phone


MAX_DEVICES = 1000
MAX_DEVICES_RULE = f"Must be a whole number from 0 to {MAX_DEVICES}, or null for the portal's limit."
DEVICE_UID_MAX_LENGTH = Device._meta.get_field("uid").max_length
DEVICE_NAME_MAX_LENGTH = Device._meta.get_field("name").max_length
# A MAC address: six pairs of hex digits separated by ":" or "-" (or none); stored as aa:bb:cc:dd:ee:ff.
MAC_PATTERN = "[0-9A-Fa-f]{2}([:-]?[0-9A-Fa-f]{2}){5}"
MAC_RULE = "Must be a MAC address of six pairs of hex digits, such as aa:bb:cc:dd:ee:ff."
_MAC = re.compile(rf"^{MAC_PATTERN}\Z")
MAC_MAX_LENGTH = 17
MAC_EXAMPLE = "00:1a:79:00:00:01"


def normalise_mac(value) -> str | None:
    """``aa:bb:cc:dd:ee:ff`` for a MAC address written with ``:``, ``-`` or no separators; None otherwise."""
    if not isinstance(value, str) or not _MAC.match(value):
        return None
    digits = value.replace(":", "").replace("-", "").lower()
    return ":".join(digits[i:i + 2] for i in range(0, 12, 2))


@extend_schema_field({"type": "string", "maxLength": MAC_MAX_LENGTH, "pattern": f"^{MAC_PATTERN}$",
                      "example": MAC_EXAMPLE})
class Mac(Text):
    """A MAC address, normalised to ``aa:bb:cc:dd:ee:ff``."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", MAC_MAX_LENGTH)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        mac = normalise_mac(value)
        if mac is None:
            raise serializers.ValidationError(MAC_RULE)
        return mac


class SubscriberInput(InputShape):
    """A subscriber's name, phone and player login. ``+{phoneCountryCode}{phone}`` and ``login`` are each unique
    within the portal: a duplicate is a 409, checked by the service under its transaction."""

    what = "subscriber"

    name = Text(max_length=NAME_MAX_LENGTH)
    phoneCountryCode = CountryCode(source="phone_country_code")
    phone = Phone()
    maxDevices = WholeNumber(
        source="max_devices", required=False, allow_null=True, min_value=0, max_value=MAX_DEVICES,
        error_messages={"min_value": MAX_DEVICES_RULE, "max_value": MAX_DEVICES_RULE},
        help_text="This subscriber's device limit, 0–1000 (IPTVPORTAL max_terminal); null: the portal's "
                  "maxDevicesPerSubscriber.")
    login = Login(
        required=False, allow_null=True,
        help_text="What IPTV players log in with (players.md §2), unique in the portal. Absent on create or null: "
                  "the full phone number's digits. While it equals the full phone number it follows a phone change.")


class PlayerPasswordInput(InputShape):
    """The optional body of ``POST /subscribers/{id}/reset_player_password``: the password to set; absent or
    null, a new one is generated (10 characters of an unambiguous alphabet)."""

    what = "player password"

    playerPassword = PlayerPassword(required=False, allow_null=True)


def check_player_password(value) -> str:
    """``value`` if it is a valid player password (:class:`PlayerPassword`); ``Invalid`` naming ``playerPassword``
    otherwise."""
    values = PlayerPasswordInput.check({"playerPassword": value})
    if values.get("playerPassword") is None:
        raise Invalid.of(PlayerPasswordInput.what, {"playerPassword": ["This field is required."]})
    return values["playerPassword"]


class SubscriptionInput(InputShape):
    """The body of ``POST``/``DELETE /packages-subscribers``: a subscriber and a package of the caller's portal
    (an ID of another portal is a 404, like an unknown one); ``portalId``, when given, must be the caller's."""

    what = "subscription"

    subscriberId = IdField()
    packageId = IdField()
    portalId = IdField(required=False)

    def validate_portalId(self, value: int) -> int:  # noqa: N802  (the API's field name)
        if value != self.context["portal"].id:
            raise serializers.ValidationError("Must be the portal of the API key or session.")
        return value


# --- Subscription periods (lifecycle.md §1) ----------------------------------------------------------------------

PERIOD_MAX_YEARS = 10
INSTANT_RULE = "Must be a date such as 2026-10-16 or a date and time such as 2026-10-16T15:00:00Z."
AFTER_START_RULE = "Must be after startsAt."


def years_ahead(now: dt.datetime, years: int = PERIOD_MAX_YEARS) -> dt.datetime:
    """``now`` moved ``years`` calendar years on (29 February becomes 28 February)."""
    try:
        return now.replace(year=now.year + years)
    except ValueError:
        return now.replace(year=now.year + years, day=28)


def parse_instant(value) -> dt.datetime | None:
    """An ISO 8601 date and time (UTC when it names no offset) or a ``YYYY-MM-DD`` date (00:00 UTC) as an aware
    datetime; None when ``value`` is not one."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        found = parse_datetime(text) if len(text) > 10 else None
        if found is None and len(text) == 10:
            day = parse_date(text)
            found = dt.datetime(day.year, day.month, day.day) if day else None
    except ValueError:  # well formed but impossible (2026-02-30)
        return None
    if found is None:
        return None
    return found.replace(tzinfo=dt.UTC) if timezone.is_naive(found) else found.astimezone(dt.UTC)


def period_errors(starts_at: dt.datetime | None, expires_at: dt.datetime | None,
                  now: dt.datetime | None = None) -> dict[str, list[str]]:
    """The rules of a period, whoever sets it (the API, the screens' extension): each end at most
    ``PERIOD_MAX_YEARS`` ahead, and ``expires_at`` after ``starts_at``. None is an open end."""
    limit = years_ahead(now or timezone.now())
    errors: dict[str, list[str]] = {}
    for name, value in (("startsAt", starts_at), ("expiresAt", expires_at)):
        if value is not None and value > limit:
            errors[name] = [f"Must be at most {PERIOD_MAX_YEARS} years ahead."]
    if starts_at is not None and expires_at is not None and expires_at <= starts_at and "expiresAt" not in errors:
        errors["expiresAt"] = [AFTER_START_RULE]
    return errors


def check_period(starts_at: dt.datetime | None, expires_at: dt.datetime | None) -> None:
    """``Invalid`` naming the field when the period breaks :func:`period_errors`."""
    errors = period_errors(starts_at, expires_at)
    if errors:
        raise Invalid.of("subscription", errors)


INSTANT_SCHEMA = {"type": "string", "format": "date-time", "nullable": True,
                  "description": "ISO 8601 date and time (UTC unless it names an offset), or a date YYYY-MM-DD "
                                 "meaning 00:00 UTC; null or absent: open. At most 10 years ahead."}


class Instant(serializers.Field):
    """An instant of a period: ISO 8601 date and time or ``YYYY-MM-DD`` (00:00 UTC); null is an open end. At most
    ``PERIOD_MAX_YEARS`` ahead."""

    default_error_messages = {"invalid": INSTANT_RULE, "far": f"Must be at most {PERIOD_MAX_YEARS} years ahead."}

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        found = parse_instant(data)
        if found is None:
            self.fail("invalid")
        if found > years_ahead(timezone.now()):
            self.fail("far")
        return found

    def to_representation(self, value):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


@extend_schema_field({**INSTANT_SCHEMA, "example": "2026-01-01T00:00:00Z"})
class StartsAt(Instant):
    """The start of a period (``Instant``)."""


@extend_schema_field({**INSTANT_SCHEMA, "example": "2027-01-01T00:00:00Z",
                      "description": INSTANT_SCHEMA["description"] + " Must be after startsAt."})
class ExpiresAt(Instant):
    """The end of a period (``Instant``), excluded: the subscription grants access before it."""


class SubscriptionPeriodInput(SubscriptionInput):
    """The body of ``POST``/``PUT /packages-subscribers``: the subscription and, optionally, its period
    (``startsAt`` ≤ now < ``expiresAt`` is when it grants access; null or absent is an open end). A ``PUT``
    changes only the ends sent (null opens one). ``expiresAt`` must be after ``startsAt`` (for a ``PUT`` sending
    one end, after the other end the subscription has: ``subscribers.services.change_period`` checks it)."""

    startsAt = StartsAt(source="starts_at")
    expiresAt = ExpiresAt(source="expires_at")

    def validate(self, attrs):
        errors = period_errors(attrs.get("starts_at"), attrs.get("expires_at"))
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class BulkSubscriptionInput(InputShape):
    """The subscriber list's bulk action: add or remove one package for the checked rows (``ids``) or for every
    subscriber matching the list's filter (``all_matching`` with the list's ``query``)."""

    what = "bulk change"

    action = serializers.ChoiceField(
        choices=[("subscribe", "Add a package"), ("unsubscribe", "Remove a package")],
        error_messages={"required": "Choose an action: add a package or remove a package.",
                        "invalid_choice": "Choose an action: add a package or remove a package."},
    )
    package = IdField(error_messages={"required": "Choose the package to add or remove.",
                                      "invalid": "Choose the package to add or remove."})
    ids = serializers.ListField(
        child=IdField(error_messages={"invalid": "The selection is not valid; select the subscribers again."}),
        default=list,
    )
    all_matching = serializers.BooleanField(default=False)
    query = Text(required=False, allow_blank=True, trim_whitespace=False)

    def validate_ids(self, value: list[int]) -> list[int]:
        return selection_ids(self, value)


def selection_ids(shape: InputShape, value: list[int]) -> list[int]:
    """The checked rows of a bulk action, required unless ``all_matching`` is set.

    Reads the raw ``all_matching``: a rule between two fields, reported with the others (``validate()`` would
    run only once every field had passed).
    """
    everyone = shape.initial_data.get("all_matching")
    if not value and not (isinstance(everyone, str | bool) and everyone in serializers.BooleanField.TRUE_VALUES):
        raise serializers.ValidationError("Select subscribers first, or all subscribers matching the filter.")
    return value


EXTEND_AMOUNT_MAX = 3650
EXTEND_AMOUNT_RULE = f"Must be a whole number from 1 to {EXTEND_AMOUNT_MAX}."
EXTEND_UNITS = [("days", "days"), ("months", "months")]


class BulkExtendInput(InputShape):
    """"Extend by N days/months" on the subscriber list (the checked rows, ``ids``, or every subscriber matching
    the list's filter, ``all_matching`` with ``query``) and on a subscriber card (its own ID in ``ids``)."""

    what = "extension"

    amount = serializers.IntegerField(
        min_value=1, max_value=EXTEND_AMOUNT_MAX,
        error_messages={"required": EXTEND_AMOUNT_RULE, "invalid": EXTEND_AMOUNT_RULE,
                        "min_value": EXTEND_AMOUNT_RULE, "max_value": EXTEND_AMOUNT_RULE})
    unit = serializers.ChoiceField(
        choices=EXTEND_UNITS,
        error_messages={"required": "Choose days or months.", "invalid_choice": "Choose days or months."})
    ids = serializers.ListField(
        child=IdField(error_messages={"invalid": "The selection is not valid; select the subscribers again."}),
        default=list,
    )
    all_matching = serializers.BooleanField(default=False)
    query = Text(required=False, allow_blank=True, trim_whitespace=False)

    def validate_ids(self, value: list[int]) -> list[int]:
        return selection_ids(self, value)


class SmsRequestInput(InputShape):
    """``POST /auth/sms/request`` of the client API: the number to send a login code to."""

    what = "phone number"

    phoneCountryCode = CountryCode()
    phone = Phone()


class SmsVerifyInput(SmsRequestInput):
    """``POST /auth/sms/verify``: the number and the code it received."""

    what = "login"

    code = LoginCode()
    deviceId = Text(required=False, max_length=DEVICE_UID_MAX_LENGTH,
                    help_text="The app's device ID: the device is registered like one first seen playing "
                              "(lifecycle.md §2), or the login is refused (403) when the subscriber's devices are full.")


class DeviceInput(InputShape):
    """``POST /devices``: a device a manager adds to a subscriber of the caller's portal (an ID of another portal
    is a 404). A set-top box is named by its ``mac`` (its uid then is the MAC); other kinds by ``uid``."""

    what = "device"

    subscriberId = IdField()
    kind = serializers.ChoiceField(choices=Device.Kind.choices)
    uid = Text(required=False, max_length=DEVICE_UID_MAX_LENGTH,
               help_text="What identifies the device: the device_id it plays with (a MAC address is normalised). "
                         "Default: the mac; one of uid and mac is required.")
    mac = Mac(required=False, help_text="The device's MAC address; required for kind stb (a set-top box logs in "
                                        "by it). Any of aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF, aabbccddeeff.")
    name = Text(required=False, allow_blank=True, max_length=DEVICE_NAME_MAX_LENGTH)

    def validate(self, attrs):
        if attrs.get("kind") == Device.Kind.STB and not attrs.get("mac"):
            raise serializers.ValidationError({"mac": ["A set-top box (kind stb) needs its MAC address."]})
        if not attrs.get("uid") and not attrs.get("mac"):
            raise serializers.ValidationError({"uid": ["Give the device's uid or its mac."]})
        return attrs


class DeviceNameInput(InputShape):
    """``PUT /devices/{id}``: a device's new name."""

    what = "device"

    name = Text(allow_blank=True, max_length=DEVICE_NAME_MAX_LENGTH)


class DeviceLoginInput(InputShape):
    """``POST /auth/device`` of the client API: a set-top box logs in by its MAC address."""

    what = "device login"

    mac = Mac()
