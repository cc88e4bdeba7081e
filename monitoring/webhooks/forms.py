"""The webhook form of the screens; its rules are the API's (``WebhookInput``, through the services)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from monitoring.operations import OperationType, Webhook


class WebhookForm(forms.Form):
    """URL, the operation types to receive (none ticked: all) and ``active``."""

    url = forms.CharField(label=_("URL"), required=False, max_length=None,
                          widget=forms.URLInput(attrs={"placeholder": "https://billing.example.com/catena-webhook"}),
                          help_text=_("http:// or https://, at most 2000 characters, on a public address. Receives a "
                                    "signed POST with the operation's JSON for every operation."))
    types = forms.MultipleChoiceField(label=_("Operation types"), required=False, choices=OperationType.choices,
                                      widget=forms.CheckboxSelectMultiple,
                                      help_text=_("Leave all unticked to receive every type."))
    active = forms.BooleanField(label=_("Active"), required=False, initial=True,
                                help_text=_("A paused webhook gets nothing queued until it is active again."))

    SERVICE_FIELDS = {"url": "url", "types": "types", "active": "active"}

    def __init__(self, *args, webhook: Webhook | None = None, **kwargs):
        if webhook is not None:
            kwargs["initial"] = {"url": webhook.url, "types": list(webhook.types), "active": webhook.active,
                                 **(kwargs.get("initial") or {})}
        super().__init__(*args, **kwargs)

    def service_data(self) -> dict:
        data = self.cleaned_data
        return {"url": data["url"], "types": list(data["types"]), "active": data["active"]}
