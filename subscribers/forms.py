"""Screen forms of subscribers.

They read the submitted values and hand them to ``subscribers.services`` under the API's names; the rules
are ``subscribers.inputs.SubscriberInput``'s and come back, every field's at once, as service refusals through
``show_service_errors``. The HTML ``pattern`` attributes below are the same rule's constants, to warn while
typing.
"""

from __future__ import annotations

from django import forms
from django.core.validators import ProhibitNullCharactersValidator
from django.utils.translation import gettext_lazy as _

from .inputs import (
    COUNTRY_CODE_MAX_LENGTH,
    COUNTRY_CODE_PATTERN,
    COUNTRY_CODE_RULE,
    LOGIN_MAX_LENGTH,
    LOGIN_PATTERN,
    LOGIN_RULE,
    PHONE_MAX_LENGTH,
    PHONE_PATTERN,
    PHONE_RULE,
)


class SubmittedText(forms.CharField):
    """The text as submitted, with no rule of its own: even a NUL is left to the input shape, so that it is
    reported together with the other fields' errors rather than in a round of its own."""

    def __init__(self, **kwargs):
        super().__init__(required=False, **kwargs)
        self.validators = [v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)]


class SubscriberForm(forms.Form):
    name = SubmittedText(label=_("Name"), strip=False, widget=forms.TextInput(attrs={"autocomplete": "off", "required": True}))
    phone_country_code = SubmittedText(
        label=_("Country code"), help_text=_("Digits only, e.g. 1 or 44."),
        widget=forms.TextInput(attrs={
            "inputmode": "numeric", "pattern": COUNTRY_CODE_PATTERN, "maxlength": COUNTRY_CODE_MAX_LENGTH,
            "required": True, "autocomplete": "off", "data-validate": COUNTRY_CODE_RULE, "class": "input-short",
        }),
    )
    phone = SubmittedText(
        label=_("Phone"), help_text=_("The number without the country code: digits only."),
        widget=forms.TextInput(attrs={
            "inputmode": "numeric", "pattern": PHONE_PATTERN, "maxlength": PHONE_MAX_LENGTH, "required": True,
            "autocomplete": "off", "data-validate": PHONE_RULE,
        }),
    )

    max_devices = SubmittedText(
        label=_("Devices"), help_text=_("How many devices this subscriber may use, 0–1000. Blank: the portal's limit."),
        widget=forms.NumberInput(attrs={"min": 0, "max": 1000, "class": "input-short"}))

    login = SubmittedText(
        label=_("Player login"),
        help_text=_("What the subscriber types into IPTV players such as TiviMate. Blank: the phone number with its "
                  "country code, which then follows the phone when it changes."),
        widget=forms.TextInput(attrs={
            "pattern": LOGIN_PATTERN, "maxlength": LOGIN_MAX_LENGTH, "autocomplete": "off", "spellcheck": "false",
            "autocapitalize": "none", "data-validate": LOGIN_RULE, "placeholder": _("The phone number"),
        }),
    )

    SERVICE_FIELDS = {"name": "name", "phoneCountryCode": "phone_country_code", "phone": "phone",
                      "maxDevices": "max_devices", "login": "login"}

    def __init__(self, *args, subscriber=None, **kwargs):
        if subscriber is not None:
            # A login that is the phone number shows blank: left blank, it keeps following the number.
            login = "" if subscriber.login == subscriber.full_phone else subscriber.login
            kwargs["initial"] = {"name": subscriber.name, "phone_country_code": subscriber.phone_country_code,
                                 "phone": subscriber.phone, "max_devices": subscriber.max_devices, "login": login,
                                 **(kwargs.get("initial") or {})}
        super().__init__(*args, **kwargs)
        if subscriber is None:
            self.fields["name"].widget.attrs["autofocus"] = True

    def service_data(self) -> dict:
        """The submitted values under the API's names (the phone fields as typed, without surrounding spaces)."""
        data = self.cleaned_data
        return {"name": data["name"], "phoneCountryCode": data["phone_country_code"], "phone": data["phone"],
                "maxDevices": _whole_number(data["max_devices"]), "login": data["login"].strip() or None}


def _whole_number(value: str):
    """Digits become an int, blank is None, anything else goes to the service as typed (whose shape names it)."""
    value = value.strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        return value


class DeviceForm(forms.Form):
    """Add a set-top box to a subscriber from the card: its MAC and a name (``DeviceInput``'s rules)."""

    mac = SubmittedText(label=_("MAC address"), widget=forms.TextInput(attrs={
        "placeholder": "00:1a:79:00:00:01", "autocomplete": "off", "spellcheck": "false", "required": True}))
    name = SubmittedText(label=_("Name"), strip=False, widget=forms.TextInput(attrs={"autocomplete": "off"}))

    SERVICE_FIELDS = {"mac": "mac", "name": "name"}
