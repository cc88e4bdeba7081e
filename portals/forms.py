"""Screen forms of portals and managers.

They only read the submitted values into Python types (no field is required, none has a rule of its own) and
hand them to ``portals.services`` under the API's names; every rule (lengths, password policy, logo format,
permissions) is in the input shapes the services call (``portals.inputs``), whose refusals — every field's at
once — come back onto these forms through ``catena_site.web.show_service_errors``.
"""

from __future__ import annotations

from django import forms
from django.conf import settings as django_settings
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from .models import DEFAULT_ARCHIVE_DAYS, DEFAULT_EXPIRY_REMINDER_TEMPLATE, DEFAULT_SMS_TEMPLATE
from .permissions import PERMISSIONS
from .services import guide_language
from .validators import MAX_LOGO_BYTES, time_zone_names


class WholeNumberField(forms.CharField):
    """A number field that only reads: digits become an int, anything else goes to the service as typed (whose
    shape names the rule together with every other field's), blank is None."""

    def to_python(self, value):
        value = super().to_python(value)
        if value == "":
            return None
        try:
            return int(value)
        except ValueError:
            return value


class LoginForm(forms.Form):
    email = forms.CharField(label=_("Email"), required=False, widget=forms.EmailInput(attrs={"autocomplete": "username",
                                                                          "autofocus": True}))
    password = forms.CharField(label=_("Password"), required=False, strip=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))

    SERVICE_FIELDS = {"email": "email", "password": "password"}


class PortalSettingsForm(forms.Form):
    """Branding and settings of the portal (``PUT /portal`` on a screen, plus a logo upload)."""

    title = forms.CharField(label=_("Title"), required=False, strip=False)
    description = forms.CharField(label=_("Description"), required=False, strip=False, widget=forms.Textarea(attrs={"rows": 3}))
    logo = forms.FileField(required=False, label=_("Upload a logo"),
                           help_text=_("PNG, JPEG or WebP, at most 1 MB and 4096×4096 pixels."),
                           widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg,image/webp",
                                                                  "data-logo-preview": "logo-preview"}))
    logo_url = forms.CharField(required=False, label=_("…or a logo URL"), help_text=_("An https:// address."),
                               widget=forms.URLInput(attrs={"placeholder": "https://"}))
    remove_logo = forms.BooleanField(required=False, label=_("Remove the logo"))
    auto_create_subscribers = forms.BooleanField(
        required=False, label=_("Create subscribers on first SMS login (they get only free packages)"),
        help_text=_("Self-registration: an unknown phone number may log in to the apps by SMS code and becomes a "
                  "subscriber. Off: only numbers of existing subscribers get a code."))
    sms_template = forms.CharField(
        required=False, strip=False, label=_("SMS message template"),
        help_text=format_lazy(
            "{} {}", _("The text of the login SMS. {title} is replaced by the portal title and {code} by the login "
                       "code; it must contain {code}. At most 300 characters. Leave blank for the default:"),
            DEFAULT_SMS_TEMPLATE),
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": 300, "placeholder": DEFAULT_SMS_TEMPLATE}))
    max_sessions_per_subscriber = WholeNumberField(
        required=False, label=_("Concurrent play sessions per subscriber"),
        help_text=_("From 1 to 1000; blank means unlimited."),
        widget=forms.NumberInput(attrs={"min": 1, "max": 1000}))
    # lifecycle.md §2: devices
    allow_device_registration = forms.BooleanField(
        required=False, label=_("Register devices when first seen playing"),
        help_text=_("A player, app or set-top box that plays with a device ID becomes one of the subscriber's "
                  "devices. Off: only devices a manager added may play."))
    allow_device_unregister = forms.BooleanField(
        required=False, label=_("Subscribers may remove their own devices in the apps"))
    max_devices_per_subscriber = WholeNumberField(
        required=False, label=_("Devices per subscriber"),
        help_text=_("From 1 to 1000; blank means unlimited. A subscriber's own limit (on their card) wins."),
        widget=forms.NumberInput(attrs={"min": 1, "max": 1000}))
    device_limit_policy = forms.ChoiceField(
        required=False, label=_("When a subscriber's devices are full"),
        choices=[("refuse", "Refuse the new device"), ("replace_oldest", "Replace the least recently seen device")])
    stream_base_url = forms.CharField(
        required=False, label=_("Stream base URL"),
        help_text=_("Where players fetch the channels' streams: an http:// or https:// address."),
        widget=forms.URLInput())
    allow_anonymous = forms.BooleanField(
        required=False, label=_("Anonymous viewing of the free packages"),
        help_text=_("Players without a login or token may watch the channels of the free packages: the apps' "
                  "channel list and playlist show them, and the streaming server lets them play (sessions are "
                  "recorded as anonymous). The other packages stay paid."))
    xtream_api = forms.BooleanField(
        required=False, label=_("Xtream Codes API for IPTV players"),
        help_text=_("IPTV players (TiviMate, IPTV Smarters, Kodi) log in at this portal's address with a "
                  "subscriber's login and player password: player_api.php, get.php, xmltv.php and the live/ and "
                  "timeshift/ stream addresses answer. Off by default."))
    time_zone = forms.ChoiceField(
        required=False, label=_("Time zone"), choices=(),
        help_text=_("The screens show times in this zone (its name beside them); the API and CSV exports stay "
                    "in UTC."))
    expiry_reminder_days = WholeNumberField(
        required=False, label=_("Expiry reminder: days before the end"),
        help_text=_("Send a subscriber one SMS this many days before a subscription ends (from 1 to 90). Blank: "
                  "no reminders."),
        widget=forms.NumberInput(attrs={"min": 1, "max": 90}))
    expiry_reminder_template = forms.CharField(
        required=False, strip=False, label=_("Expiry reminder template"),
        help_text=format_lazy(
            "{} {}", _("The text of the reminder SMS: {title} is the portal title, {package} the package and {date} "
                       "the end date (YYYY-MM-DD, UTC). At most 300 characters. Leave blank for the default:"),
            DEFAULT_EXPIRY_REMINDER_TEMPLATE),
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": 300, "placeholder": DEFAULT_EXPIRY_REMINDER_TEMPLATE}))
    require_2fa = forms.BooleanField(
        required=False, label=_("Require two-factor authentication of every manager"),
        help_text=_("Managers without it are sent to enrol an authenticator app when they log in to the screens, "
                  "and cannot log in to the API until they have. Only the portal owner changes this."))
    guide_language = forms.CharField(
        required=False, label=_("Guide language"),
        help_text=_("When an EPG source's guide offers titles and descriptions in several languages, this one is "
                  "imported: a language code such as en, ru or pt-BR. Blank: the first language the guide "
                  "lists. Applies from each source's next fetch."),
        widget=forms.TextInput(attrs={"placeholder": "e.g. en", "maxlength": 12, "autocomplete": "off",
                                      "spellcheck": "false"}))
    icareus_api = forms.BooleanField(
        required=False, label=_("Icareus-compatible channels API"),
        help_text=_("Scripts written for Icareus Suite's Channels Management API manage this portal's channels at "
                  "/api/channels/admin with the organization number below. Off by default: its generated tokens "
                  "are weaker than X-Auth-Token."))
    default_archive_days = WholeNumberField(
        required=False, label=_("Archive days for autoRecord"),
        help_text=format_lazy(_("Days of catch-up a channel gets when that API turns autoRecord on, 1–365. Blank: "
                                "{days}."), days=DEFAULT_ARCHIVE_DAYS),
        widget=forms.NumberInput(attrs={"min": 1, "max": 365, "placeholder": DEFAULT_ARCHIVE_DAYS}))

    # The service's error keys (API names) → the fields that show them.
    SERVICE_FIELDS = {
        "branding.title": "title",
        "branding.description": "description",
        "branding.logo": "logo_url",
        "logoFile": "logo",
        "removeLogo": "remove_logo",
        "settings.autoCreateSubscribers": "auto_create_subscribers",
        "settings.maxSessionsPerSubscriber": "max_sessions_per_subscriber",
        "settings.smsTemplate": "sms_template",
        "settings.streamBaseUrl": "stream_base_url",
        "settings.require2fa": "require_2fa",
        "settings.allowAnonymous": "allow_anonymous",
        "settings.xtreamApi": "xtream_api",
        "settings.timeZone": "time_zone",
        "settings.icareusApi": "icareus_api",
        "settings.defaultArchiveDays": "default_archive_days",
        "settings.expiryReminderDays": "expiry_reminder_days",
        "settings.expiryReminderTemplate": "expiry_reminder_template",
        "guideLanguage": "guide_language",
        "settings.allowDeviceRegistration": "allow_device_registration",
        "settings.allowDeviceUnregister": "allow_device_unregister",
        "settings.maxDevicesPerSubscriber": "max_devices_per_subscriber",
        "settings.deviceLimitPolicy": "device_limit_policy",
    }

    def __init__(self, *args, portal, read_only: bool = False, owner: bool = False, **kwargs):
        self.portal = portal
        settings = portal.effective_settings
        kwargs["initial"] = {
            "title": portal.title,
            "description": portal.description,
            "logo_url": portal.logo_url,
            "auto_create_subscribers": settings["autoCreateSubscribers"],
            "max_sessions_per_subscriber": settings["maxSessionsPerSubscriber"],
            "sms_template": settings["smsTemplate"] or "",
            "stream_base_url": settings["streamBaseUrl"] or "",
            "require_2fa": settings["require2fa"],
            "allow_anonymous": settings["allowAnonymous"],
            "xtream_api": settings["xtreamApi"],
            "time_zone": settings["timeZone"],
            "icareus_api": settings["icareusApi"],
            "default_archive_days": settings["defaultArchiveDays"],
            "expiry_reminder_days": settings["expiryReminderDays"],
            "expiry_reminder_template": settings["expiryReminderTemplate"] or "",
            "guide_language": guide_language(portal),
            "allow_device_registration": settings["allowDeviceRegistration"],
            "allow_device_unregister": settings["allowDeviceUnregister"],
            "max_devices_per_subscriber": settings["maxDevicesPerSubscriber"],
            "device_limit_policy": settings["deviceLimitPolicy"],
            **(kwargs.get("initial") or {}),
        }
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [(name, name) for name in sorted(time_zone_names())]
        # The default is a deployment setting: show it in the empty field and in the help.
        stream_base_url = self.fields["stream_base_url"]
        stream_base_url.widget.attrs["placeholder"] = django_settings.STREAM_BASE_URL
        stream_base_url.help_text = format_lazy("{} {} {}", stream_base_url.help_text,
                                                _("Leave blank for the default:"), django_settings.STREAM_BASE_URL)
        if read_only:
            for field in self.fields.values():
                field.disabled = True
        if not owner:  # a disabled field keeps its initial value when submitted: unchanged
            self.fields["require_2fa"].disabled = True

    def service_data(self) -> dict:
        """The values under the names of ``services.update_portal(…, screen=True)``."""
        data = self.cleaned_data
        branding = {"title": data["title"], "description": data["description"]}
        logo_url = data["logo_url"].strip()
        if logo_url != self.portal.logo_url:
            # A new address replaces the logo; emptying the field removes a logo given by address.
            branding["logo"] = logo_url or None
        logo_file = None
        if data.get("logo"):
            # Read one byte past the limit, so an oversized upload is refused without being held whole.
            logo_file = data["logo"].read(MAX_LOGO_BYTES + 1)
        return {
            "branding": branding,
            "settings": {
                "autoCreateSubscribers": data["auto_create_subscribers"],
                "maxSessionsPerSubscriber": data["max_sessions_per_subscriber"],
                # Blank (or only spaces) means the default, which the service stores as None.
                "smsTemplate": data["sms_template"] if data["sms_template"].strip() else None,
                "streamBaseUrl": data["stream_base_url"].strip() or None,
                "require2fa": data["require_2fa"],
                "allowAnonymous": data["allow_anonymous"],
                "xtreamApi": data["xtream_api"],
                "timeZone": data["time_zone"] or self.portal.effective_settings["timeZone"],
                "icareusApi": data["icareus_api"],
                "defaultArchiveDays": data["default_archive_days"],
                "expiryReminderDays": data["expiry_reminder_days"],
                "expiryReminderTemplate": data["expiry_reminder_template"] if data["expiry_reminder_template"].strip() else None,
                "allowDeviceRegistration": data["allow_device_registration"],
                "allowDeviceUnregister": data["allow_device_unregister"],
                "maxDevicesPerSubscriber": data["max_devices_per_subscriber"],
                "deviceLimitPolicy": data["device_limit_policy"] or "refuse",
            },
            "logoFile": logo_file,
            "removeLogo": data["remove_logo"],
            # Not one of the API's settings (the Management API documents no such field): the screen's own.
            "guideLanguage": data["guide_language"],
        }


def _flag_field(flag: str) -> forms.BooleanField:
    permission = PERMISSIONS[flag]
    return forms.BooleanField(required=False, label=_(permission.label), help_text=_(permission.scope))


class ManagerForm(forms.Form):
    """A manager's account and permission flags; the password is optional when editing."""

    email = forms.CharField(label=_("Email"), required=False, widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    name = forms.CharField(label=_("Name"), required=False)
    password = forms.CharField(label=_("Password"),
        required=False, strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 8 characters with an upper-case letter, a lower-case letter, a digit and a "
                  "special character."),
    )
    is_admin = _flag_field("isAdmin")
    is_content_admin = _flag_field("isContentAdmin")
    is_subscriber_admin = _flag_field("isSubscriberAdmin")

    FLAGS = {permission.field: flag for flag, permission in PERMISSIONS.items()}
    SERVICE_FIELDS = {"email": "email", "name": "name", "password": "password",
                      **{api: field for field, api in FLAGS.items()}}

    def __init__(self, *args, manager=None, editing_self: bool = False, read_only: bool = False, **kwargs):
        if manager is not None:
            kwargs["initial"] = {
                "email": manager.email, "name": manager.name, "is_admin": manager.is_admin,
                "is_content_admin": manager.is_content_admin, "is_subscriber_admin": manager.is_subscriber_admin,
                **(kwargs.get("initial") or {}),
            }
        super().__init__(*args, **kwargs)
        if manager is None:
            self.fields["password"].widget.attrs["required"] = True
        else:
            self.fields["password"].label = "New password"
            self.fields["password"].help_text = "Leave blank to keep the current password. " + \
                self.fields["password"].help_text
        if editing_self:
            # Nobody changes their own flags; a disabled field keeps its initial value when submitted.
            for field in self.FLAGS:
                self.fields[field].disabled = True
                self.fields[field].help_text = "You cannot change your own permissions."
        if read_only:
            for field in self.fields.values():
                field.disabled = True

    def flag_fields(self):
        return [self[name] for name in self.FLAGS]

    def account_fields(self):
        return [self["email"], self["name"], self["password"]]

    def service_data(self) -> dict:
        """The manager fields under their API names; a blank password is left out (kept as it is)."""
        data = self.cleaned_data
        result = {"email": data["email"], "name": data["name"]}
        result.update({api: data[field] for field, api in self.FLAGS.items()})
        if data["password"]:
            result["password"] = data["password"]
        return result
