"""Screen forms of channels, packages and EPG sources.

They only read the submitted values into Python types and hand them to ``content.services`` under the API's
names; every rule (technical names, lengths, logo format, EPG source) is the services' (``content.inputs``), whose
refusals come back onto these forms, every field's at once, through ``catena_site.web.show_service_errors``.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from catena_site.ids import encode_id
from portals.validators import MAX_LOGO_BYTES

from .inputs import MAX_EPG_SOURCES
from .models import AspectRatio, Category, EpgSource, Location, Quality


def split_list(text: str) -> list[str]:
    """Items typed one per line, or separated by commas or spaces."""
    return text.replace(",", " ").split()


def read_upload(upload, limit: int) -> bytes:
    """An uploaded file's bytes, reading one byte past ``limit`` so the service refuses it by its own rule."""
    return upload.read(limit + 1)


def disable_fields(form: forms.Form, *, name_fixed: bool, read_only: bool) -> None:
    """An existing object's technical name cannot change; a reader sees every field, none editable."""
    if name_fixed:
        form.fields["name"].disabled = True
    if read_only:
        for field in form.fields.values():
            field.disabled = True


class ChannelForm(forms.Form):
    """A channel: technical name (create only), title, EPG source and channel, logo upload or removal."""

    name = forms.CharField(required=False, label=_("Technical name"),
                           help_text=_("The stream name on the streaming server: 2–20 letters, digits, '-' or '_'. "
                                     "It cannot be changed later."),
                           widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    title = forms.CharField(label=_("Title"), required=False, strip=False, help_text=_("The name subscribers see."))
    # Text offered as a list: the portal's sources, and the name the channel refers to even while no source has it.
    epg_source = forms.CharField(required=False, label=_("EPG source"), widget=forms.Select)
    epg_channel_name = forms.CharField(required=False, strip=False, label=_("EPG channel name"),
                                       help_text=_("The channel's id in the EPG source's XMLTV guide."))
    epg_extra_sources = forms.CharField(
        required=False, strip=False, label=_("Further EPG sources"), widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("One per line: a source name, a space, and the channel's id in it. Where the source above has "
                    "no programmes, the first of these that has them fills the guide."))
    epg_offset_minutes = forms.IntegerField(
        required=False, label=_("EPG offset (minutes)"),
        help_text=_("Shifts every programme of this channel's guide (−1440 to 1440; 0 or empty: none)."),
        widget=forms.NumberInput(attrs={"min": -1440, "max": 1440, "step": 1}))
    logo = forms.FileField(required=False, label=_("Upload a logo"),
                           help_text=_("PNG, JPEG or WebP, at most 1 MB and 4096×4096 pixels."),
                           widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg,image/webp",
                                                                  "data-logo-preview": "logo-preview"}))
    remove_logo = forms.BooleanField(required=False, label=_("Remove the logo"))
    number = forms.IntegerField(label=_("Number"), required=False, help_text=_("The logical channel number players sort by (1–99999), "
                                                          "unique in the portal; empty for none."),
                                widget=forms.NumberInput(attrs={"min": 1, "max": 99999, "step": 1}))
    categories = forms.MultipleChoiceField(label=_("Categories"), required=False, widget=forms.CheckboxSelectMultiple,
                                           help_text=_("The groups players list the channel under."))
    description = forms.CharField(label=_("Description"), required=False, strip=False, widget=forms.Textarea(attrs={"rows": 3}))
    language = forms.CharField(label=_("Language"), required=False, help_text=_("A language (en) or locale (en_US) code; empty for none."))
    aspect_ratio = forms.ChoiceField(required=False, label=_("Aspect ratio"), choices=AspectRatio.choices)
    quality = forms.ChoiceField(label=_("Quality"), required=False, choices=Quality.choices)
    audio_only = forms.BooleanField(required=False, label=_("Audio only (a radio station)"))
    is_public = forms.BooleanField(required=False, label=_("Public"),
                                   help_text=_("Listed in catalogs shown to people without access to it."))
    is_exclusive = forms.BooleanField(required=False, label=_("Exclusive"))
    archive_days = forms.IntegerField(required=False, label=_("Archive days"),
                                      help_text=_("Days of catch-up the streaming server keeps (0–365)."),
                                      widget=forms.NumberInput(attrs={"min": 0, "max": 365, "step": 1}))
    location_restrictions = forms.MultipleChoiceField(
        required=False, label=_("Location restrictions"), widget=forms.CheckboxSelectMultiple,
        help_text=_("None checked: the channel plays anywhere; else only from these locations."))

    # The service's error keys (API names) → the fields that show them.
    SERVICE_FIELDS = {"name": "name", "title": "title", "epgSourceName": "epg_source",
                      "epgChannelName": "epg_channel_name", "logo": "logo", "number": "number",
                      "categories": "categories", "description": "description", "language": "language",
                      "aspectRatio": "aspect_ratio", "quality": "quality", "audioOnly": "audio_only",
                      "isPublic": "is_public", "isExclusive": "is_exclusive", "archiveDays": "archive_days",
                      "locationRestrictions": "location_restrictions", "epgSources": "epg_extra_sources",
                      "epgOffsetMinutes": "epg_offset_minutes",
                      **{f"epgSources.{index}.{key}": "epg_extra_sources" for index in range(1, MAX_EPG_SOURCES)
                         for key in ("epgSourceName", "epgChannelName")},
                      "epgSources.0.epgSourceName": "epg_source", "epgSources.0.epgChannelName": "epg_channel_name"}
    # Catalog fields read as they are (form field → API name).
    CATALOG_FIELDS = {"description": "description", "language": "language", "aspect_ratio": "aspectRatio",
                      "audio_only": "audioOnly", "is_public": "isPublic", "is_exclusive": "isExclusive"}

    def __init__(self, *args, portal, channel=None, read_only: bool = False, **kwargs):
        self.portal = portal
        self.channel = channel
        if channel is not None:
            kwargs["initial"] = {
                "name": channel.name,
                "title": channel.title,
                "epg_source": channel.epg_source_name,
                "epg_channel_name": channel.epg_channel_name,
                "epg_extra_sources": "\n".join(f"{name} {epg_channel}"
                                               for name, epg_channel, _ in channel.epg_extra_sources),
                "epg_offset_minutes": channel.epg_offset_minutes,
                **self._catalog_initial(channel),
                **(kwargs.get("initial") or {}),
            }
        else:
            kwargs["initial"] = {"quality": Quality.HD, "is_public": True, "archive_days": 0,
                                 **(kwargs.get("initial") or {})}
        super().__init__(*args, **kwargs)
        self._offer_epg_sources()
        self.fields["categories"].choices = [
            (c.public_id, c.title) for c in Category.objects.for_portal(portal).order_by("position", "id")]
        self.fields["location_restrictions"].choices = [
            (loc.public_id, loc.title) for loc in Location.objects.for_portal(portal).order_by("title", "id")]
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

    @staticmethod
    def _catalog_initial(channel) -> dict:
        return {
            "number": channel.number, "description": channel.description, "language": channel.language,
            "aspect_ratio": channel.aspect_ratio, "quality": channel.quality, "audio_only": channel.audio_only,
            "is_public": channel.is_public, "is_exclusive": channel.is_exclusive,
            "archive_days": channel.archive_days,
            "categories": [encode_id(pk) for pk in channel.category_links.order_by("position", "id")
                           .values_list("category_id", flat=True)],
            "location_restrictions": [encode_id(pk) for pk in channel.location_links.order_by("position", "id")
                                      .values_list("location_id", flat=True)],
        }

    def _offer_epg_sources(self) -> None:
        """The portal's EPG sources as choices, and the name the channel refers to while no source has it."""
        field = self.fields["epg_source"]
        names = list(EpgSource.objects.for_portal(self.portal).order_by("name").values_list("name", flat=True))
        choices = [("", "— No EPG —")] + [(name, name) for name in names]
        channel = self.channel
        waiting = channel.epg_source_name if channel is not None and channel.epg_source_id is None else ""
        if waiting:
            choices.append((waiting, gettext("%(name)s (no EPG source named %(name)s yet)") % {"name": waiting}))
            field.help_text = gettext("No EPG source named %(name)s yet: the channel is linked to it as soon as a "
                                      "source of that name is added.") % {"name": waiting}
        elif not names:
            field.help_text = _("This portal has no EPG sources yet.")
        field.widget.choices = choices

    def service_data(self) -> dict:
        """The channel fields under their API names; the logo only when it changes."""
        data = self.cleaned_data
        result = {
            "title": data["title"],
            **self._epg_sources(data),
            "epgOffsetMinutes": data["epg_offset_minutes"] or 0,
            "number": data["number"],
            "quality": data["quality"] or Quality.HD,
            "archiveDays": 0 if data["archive_days"] is None else data["archive_days"],
            "categories": data["categories"],
            "locationRestrictions": data["location_restrictions"],
            **{api: data[field] for field, api in self.CATALOG_FIELDS.items()},
        }
        if self.channel is None:
            result["name"] = data["name"].strip()
        if data.get("logo"):
            result["logo"] = read_upload(data["logo"], MAX_LOGO_BYTES)
        elif data.get("remove_logo"):
            result["logo"] = None
        return result


    def clean_epg_extra_sources(self) -> list[dict]:
        entries = []
        for line in self.cleaned_data["epg_extra_sources"].splitlines():
            if not line.strip():
                continue
            parts = line.strip().split(None, 1)
            if len(parts) != 2:
                raise forms.ValidationError(_("“%(line)s”: write a source name, a space, and the channel's id "
                                              "in that source.") % {"line": line.strip()})
            entries.append({"epgSourceName": parts[0], "epgChannelName": parts[1]})
        return entries

    def _epg_sources(self, data) -> dict:
        """The EPG pair; ``epgSources`` (the pair first) instead when further sources are listed or were."""
        pair = {"epgSourceName": data["epg_source"] or None, "epgChannelName": data["epg_channel_name"]}
        extras = data["epg_extra_sources"]
        if not extras and not (self.channel is not None and self.channel.epg_extra_sources):
            return pair
        return {"epgSources": ([pair] if pair["epgSourceName"] else []) + extras}


class CategoryForm(forms.Form):
    """A category's technical name (create only), title and position."""

    name = forms.CharField(label=_("Name"), required=False, help_text=_("2–20 letters, digits, '-' or '_'. It cannot be changed later."),
                           widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    title = forms.CharField(label=_("Title"), required=False, strip=False, help_text=_("The group name players show."))
    position = forms.IntegerField(label=_("Position"), required=False, help_text=_("Smallest first; empty: after the last category."))

    SERVICE_FIELDS = {"name": "name", "title": "title", "position": "position"}

    def __init__(self, *args, category=None, read_only: bool = False, **kwargs):
        self.category = category
        if category is not None:
            kwargs["initial"] = {"name": category.name, "title": category.title, "position": category.position,
                                 **(kwargs.get("initial") or {})}
        super().__init__(*args, **kwargs)
        disable_fields(self, name_fixed=category is not None, read_only=read_only)

    def service_data(self) -> dict:
        data = self.cleaned_data
        result = {"title": data["title"]}
        if self.category is None:
            result["name"] = data["name"].strip()
        if data["position"] is not None:
            result["position"] = data["position"]
        return result


class LocationForm(forms.Form):
    """A location's technical name (create only), title, countries and networks."""

    name = forms.CharField(label=_("Name"), required=False, help_text=_("2–20 letters, digits, '-' or '_'. It cannot be changed later."),
                           widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    title = forms.CharField(label=_("Title"), required=False, strip=False)
    countries = forms.CharField(label=_("Countries"), required=False, help_text=_("ISO 3166-1 alpha-2 codes separated by spaces or commas, "
                                                          "e.g. FI SE EE."),
                                widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    networks = forms.CharField(label=_("Networks"), required=False, help_text=_("IPv4 or IPv6 networks, one per line, e.g. 192.0.2.0/24 "
                                                         "(at most 1,000)."),
                               widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}))

    SERVICE_FIELDS = {"name": "name", "title": "title", "countries": "countries", "networks": "networks"}

    def __init__(self, *args, location=None, read_only: bool = False, **kwargs):
        self.location = location
        if location is not None:
            kwargs["initial"] = {"name": location.name, "title": location.title,
                                 "countries": " ".join(location.countries), "networks": "\n".join(location.networks),
                                 **(kwargs.get("initial") or {})}
        super().__init__(*args, **kwargs)
        disable_fields(self, name_fixed=location is not None, read_only=read_only)

    def service_data(self) -> dict:
        data = self.cleaned_data
        result = {"title": data["title"], "countries": split_list(data["countries"]),
                  "networks": split_list(data["networks"])}
        if self.location is None:
            result["name"] = data["name"].strip()
        return result


class PackageForm(forms.Form):
    """A package's name and description."""

    name = forms.CharField(label=_("Name"), required=False, help_text=_("2–20 letters, digits, '-' or '_'."),
                           widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    description = forms.CharField(label=_("Description"), required=False, strip=False, widget=forms.Textarea(attrs={"rows": 3}))

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

    name = forms.CharField(label=_("Name"), required=False,
                           help_text=_("2–64 letters, digits, '.', '-' or '_'. Channels name their EPG source by it."),
                           widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    url = forms.CharField(required=False, strip=False, label=_("URL"),
                          help_text=_("The http:// or https:// address of the XMLTV file (it may be gzipped)."),
                          widget=forms.URLInput(attrs={"autocomplete": "off", "spellcheck": "false",
                                                       "placeholder": "https://epg.example.com/guide.xml"}))
    period = forms.IntegerField(required=False, label=_("Period (days)"),
                                help_text=_("Days between automatic fetches; Update now fetches at any time."),
                                widget=forms.NumberInput(attrs={"min": 1, "step": 1}))

    offset_minutes = forms.IntegerField(
        required=False, label=_("Time offset (minutes)"),
        help_text=_("The offset east of UTC of the guide's times that give none, e.g. 180 for UTC+3 (−1440 to "
                    "1440). It applies from the next fetch."),
        widget=forms.NumberInput(attrs={"min": -1440, "max": 1440, "step": 1}))
    force_offset = forms.BooleanField(required=False, label=_("Use this offset for every time"),
                                      help_text=_("Replace the offsets the guide gives (a guide whose offsets "
                                                  "are wrong)."))

    SERVICE_FIELDS = {"name": "name", "url": "url", "period": "period", "offsetMinutes": "offset_minutes",
                      "forceOffset": "force_offset"}

    def __init__(self, *args, source=None, read_only: bool = False, **kwargs):
        self.source = source
        initial = {"period": 1} if source is None else {"name": source.name, "url": source.url,
                                                        "period": source.period,
                                                        "offset_minutes": source.offset_minutes,
                                                        "force_offset": source.force_offset}
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
        result = {"name": data["name"].strip(), "url": data["url"], "offsetMinutes": data["offset_minutes"] or 0,
                  "forceOffset": data["force_offset"]}
        if data["period"] is not None:
            result["period"] = data["period"]
        return result
