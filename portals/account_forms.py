"""Screen forms of My account and of the login's second step.

Like every screen form they only read the submitted values; the rules (current password, password policy,
codes) are ``portals.account``'s, whose refusals come back onto these forms.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

CODE_WIDGET = forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True,
                                     "spellcheck": "false", "autocapitalize": "off", "maxlength": 64})


class PasswordChangeForm(forms.Form):
    current_password = forms.CharField(
        required=False, strip=False, label=_("Current password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))
    new_password = forms.CharField(
        required=False, strip=False, label=_("New password"),
        help_text=_("At least 8 characters with an upper-case letter, a lower-case letter, a digit and a special "
                  "character. Your other sessions end; this one stays."),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    SERVICE_FIELDS = {"currentPassword": "current_password", "newPassword": "new_password"}

    def service_data(self) -> dict:
        return {"currentPassword": self.cleaned_data["current_password"],
                "newPassword": self.cleaned_data["new_password"]}


class CodeForm(forms.Form):
    """A code of the authenticator app (or a recovery code where one is accepted)."""

    code = forms.CharField(required=False, label=_("Code"), widget=CODE_WIDGET)

    SERVICE_FIELDS = {"code": "code"}

    def service_data(self) -> dict:
        return {"code": self.cleaned_data["code"]}
