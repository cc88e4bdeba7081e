"""Screen forms of subscribers.

They read the submitted values and hand them to ``subscribers.services`` under the API's names; the rules
live in ``subscribers.validators`` and come back as service refusals through ``show_service_errors``. The
HTML ``pattern`` attributes below mirror those rules only to warn while typing.
"""

from __future__ import annotations

from django import forms

# Browser-side hints of subscribers.validators.phone_errors (which stays the rule).
COUNTRY_CODE_PATTERN = "[0-9]{1,4}"
PHONE_PATTERN = "[0-9]{4,15}"
COUNTRY_CODE_MESSAGE = "Must be 1–4 digits, without '+' or spaces."
PHONE_MESSAGE = "Must be 4–15 digits, without '+', spaces or dashes."


class SubscriberForm(forms.Form):
    name = forms.CharField(required=False, strip=False,
                           widget=forms.TextInput(attrs={"autocomplete": "off", "required": True}))
    phone_country_code = forms.CharField(
        required=False, label="Country code", help_text="Digits only, e.g. 1 or 44.",
        widget=forms.TextInput(attrs={
            "inputmode": "numeric", "pattern": COUNTRY_CODE_PATTERN, "maxlength": 4, "required": True,
            "autocomplete": "off", "data-validate": COUNTRY_CODE_MESSAGE, "class": "input-short",
        }),
    )
    phone = forms.CharField(
        required=False, help_text="The number without the country code: digits only.",
        widget=forms.TextInput(attrs={
            "inputmode": "numeric", "pattern": PHONE_PATTERN, "maxlength": 15, "required": True,
            "autocomplete": "off", "data-validate": PHONE_MESSAGE,
        }),
    )

    SERVICE_FIELDS = {"name": "name", "phoneCountryCode": "phone_country_code", "phone": "phone"}

    def __init__(self, *args, subscriber=None, **kwargs):
        if subscriber is not None:
            kwargs["initial"] = {"name": subscriber.name, "phone_country_code": subscriber.phone_country_code,
                                 "phone": subscriber.phone, **(kwargs.get("initial") or {})}
        super().__init__(*args, **kwargs)
        if subscriber is None:
            self.fields["name"].widget.attrs["autofocus"] = True

    def service_data(self) -> dict:
        data = self.cleaned_data
        return {"name": data["name"], "phoneCountryCode": data["phone_country_code"].strip(),
                "phone": data["phone"].strip()}
