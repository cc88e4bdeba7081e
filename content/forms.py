"""Screen forms of channels, packages and EPG sources.

They only read the submitted values into Python types and hand them to ``content.services`` under the API's
names; every rule (technical names, lengths, logo format, EPG source) is the services' (``content.inputs``), whose
refusals come back onto these forms, every field's at once, through ``catena_site.web.show_service_errors``.
"""

from __future__ import annotations

from django import forms

from portals.validators import MAX_LOGO_BYTES

from .models import EpgSource


def read_upload(upload, limit: int) -> bytes:
    """An uploaded file's bytes, reading one byte past ``limit`` so the service refuses it by its own rule."""
    return upload.read(limit + 1)


class ChannelForm(forms.Form):
    """A channel: technical name (create only), title, EPG source and channel, logo upload or removal."""

    name = forms.CharField(required=False, label="Technical name",
                           help_text="The stream name on the streaming server: 2–20 letters, digits, '-' or '_'. "
                                     "It cannot be changed later.",
                           widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    title = forms.CharField(required=False, strip=False, help_text="The name subscribers see.")
    # Text offered as a list: the portal's sources, and the name the channel refers to even while no source has it.
    epg_source = forms.CharField(required=False, label="EPG source", widget=forms.Select)
    epg_channel_name = forms.CharField(required=False, strip=False, label="EPG channel name",
                                       help_text="The channel's id in the EPG source's XMLTV guide.")
    logo = forms.FileField(required=False, label="Upload a logo",
                           help_text="PNG, JPEG or WebP, at most 1 MB and 4096×4096 pixels.",
                           widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg,image/webp",
                                                                  "data-logo-preview": "logo-preview"}))
    remove_logo = forms.BooleanField(required=False, label="Remove the logo")

    # The service's error keys (API names) → the fields that show them.
    SERVICE_FIELDS = {"name": "name", "title": "title", "epgSourceName": "epg_source",
                      "epgChannelName": "epg_channel_name", "logo": "logo"}

    def __init__(self, *args, portal, channel=None, read_only: bool = False, **kwargs):
        self.portal = portal
        self.channel = channel
        if channel is not None:
            kwargs["initial"] = {
                "name": channel.name,
                "title": channel.title,
                "epg_source": channel.epg_source_name,
                "epg_channel_name": channel.epg_channel_name,
                **(kwargs.get("initial") or {}),
            }
        super().__init__(*args, **kwargs)
        self._offer_epg_sources()
        if channel is not None:
            self.fields["name"].disabled = True
            self.fields["name"].help_text = "The stream name on the streaming server; it cannot be changed."
            if not channel.has_logo:
                del self.fields["remove_logo"]
        else:
            self.fields["name"].widget.attrs.update(autofocus=True)
            del self.fields["remove_logo"]
        if read_only:
            for field in self.fields.values():
                field.disabled = True
        else:  # the EPG channel IDs of the chosen source are offered while typing (channel_form.html)
            self.fields["epg_channel_name"].widget.attrs.update(list="epg-channel-names", autocomplete="off")

    def _offer_epg_sources(self) -> None:
        """The portal's EPG sources as choices, and the name the channel refers to while no source has it."""
        field = self.fields["epg_source"]
        names = list(EpgSource.objects.for_portal(self.portal).order_by("name").values_list("name", flat=True))
        choices = [("", "— No EPG —")] + [(name, name) for name in names]
        channel = self.channel
        waiting = channel.epg_source_name if channel is not None and channel.epg_source_id is None else ""
        if waiting:
            choices.append((waiting, f"{waiting} (no EPG source named {waiting} yet)"))
            field.help_text = (f"No EPG source named {waiting} yet: the channel is linked to it as soon as a "
                               "source of that name is added.")
        elif not names:
            field.help_text = "This portal has no EPG sources yet."
        field.widget.choices = choices

    def service_data(self) -> dict:
        """The channel fields under their API names; the logo only when it changes."""
        data = self.cleaned_data
        result = {
            "title": data["title"],
            "epgSourceName": data["epg_source"] or None,
            "epgChannelName": data["epg_channel_name"],
        }
        if self.channel is None:
            result["name"] = data["name"].strip()
        if data.get("logo"):
            result["logo"] = read_upload(data["logo"], MAX_LOGO_BYTES)
        elif data.get("remove_logo"):
            result["logo"] = None
        return result


class PackageForm(forms.Form):
    """A package's name and description."""

    name = forms.CharField(required=False, help_text="2–20 letters, digits, '-' or '_'.",
                           widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    description = forms.CharField(required=False, strip=False, widget=forms.Textarea(attrs={"rows": 3}))

    SERVICE_FIELDS = {"name": "name", "description": "description"}

    def __init__(self, *args, package=None, read_only: bool = False, **kwargs):
        if package is not None:
            kwargs["initial"] = {"name": package.name, "description": package.description,
                                 **(kwargs.get("initial") or {})}
        super().__init__(*args, **kwargs)
        if read_only:
            for field in self.fields.values():
                field.disabled = True

    def service_data(self) -> dict:
        data = self.cleaned_data
        return {"name": data["name"].strip(), "description": data["description"]}


class EpgSourceForm(forms.Form):
    """An EPG source: its name, the URL of its XMLTV guide and the days between automatic fetches."""

    name = forms.CharField(required=False,
                           help_text="2–64 letters, digits, '.', '-' or '_'. Channels name their EPG source by it.",
                           widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    url = forms.CharField(required=False, strip=False, label="URL",
                          help_text="The http:// or https:// address of the XMLTV file (it may be gzipped).",
                          widget=forms.URLInput(attrs={"autocomplete": "off", "spellcheck": "false",
                                                       "placeholder": "https://epg.example.com/guide.xml"}))
    period = forms.IntegerField(required=False, label="Period (days)",
                                help_text="Days between automatic fetches; Update now fetches at any time.",
                                widget=forms.NumberInput(attrs={"min": 1, "step": 1}))

    SERVICE_FIELDS = {"name": "name", "url": "url", "period": "period"}

    def __init__(self, *args, source=None, read_only: bool = False, **kwargs):
        self.source = source
        initial = {"period": 1} if source is None else {"name": source.name, "url": source.url,
                                                        "period": source.period}
        kwargs["initial"] = {**initial, **(kwargs.get("initial") or {})}
        super().__init__(*args, **kwargs)
        if source is None:
            self.fields["name"].widget.attrs.update(autofocus=True)
        if read_only:
            for field in self.fields.values():
                field.disabled = True

    def service_data(self) -> dict:
        """The fields under their API names; an empty period is left out (1 day on create, unchanged on edit)."""
        data = self.cleaned_data
        result = {"name": data["name"].strip(), "url": data["url"]}
        if data["period"] is not None:
            result["period"] = data["period"]
        return result
