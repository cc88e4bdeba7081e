"""Portals, their managers, manager sessions and failed login attempts."""

from __future__ import annotations

import hashlib
import secrets

from django.contrib.auth.hashers import check_password, make_password
from django.db import models

from catena_site.models import PortalQuerySet, PublicModel

# The login SMS when a portal's ``smsTemplate`` setting is None: portals owns the setting, so its default too.
DEFAULT_SMS_TEMPLATE = "Your {title} code: {code}"
DEFAULT_PORTAL_SETTINGS = {
    "autoCreateSubscribers": False, "maxSessionsPerSubscriber": None, "smsTemplate": None, "streamBaseUrl": None,
    "require2fa": False,
    # catalog.md §4: the Icareus-compatible channels endpoint, and the archive days its ``autoRecord`` sets
    "icareusApi": False, "defaultArchiveDays": None,
    # lifecycle.md §1: expiry reminders by SMS
    "expiryReminderDays": None, "expiryReminderTemplate": None,
    # lifecycle.md §2: devices
    "allowDeviceRegistration": True, "allowDeviceUnregister": True, "maxDevicesPerSubscriber": None,
    "deviceLimitPolicy": "refuse",
    # lifecycle.md §3: anonymous viewing of the free packages
    "allowAnonymous": False,
    # players.md §3: the Xtream Codes API (player_api.php, get.php, xmltv.php, live/, timeshift/)
    "xtreamApi": False,
    # operations.md §4: the IANA zone the screens show times in (the API stays UTC)
    "timeZone": "UTC",
}
DEVICE_LIMIT_POLICIES = ("refuse", "replace_oldest")
DEFAULT_ARCHIVE_DAYS = 7  # what ``autoRecord`` sets when the portal's ``defaultArchiveDays`` is None
DEFAULT_EXPIRY_REMINDER_TEMPLATE = "{title}: your {package} subscription ends on {date}."


def new_api_key() -> str:
    """A fresh portal API key: 32 random bytes, URL-safe."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """SHA-256 of a bearer secret; only the hash is stored, so a database leak leaks no live session."""
    return hashlib.sha256(token.encode()).hexdigest()


DEFAULT_SERVER_NAME = "default"


class StreamingServer(models.Model):
    """A streaming server (Flussonic) that asks Catena who may play; every portal is bound to one.

    System-level (Django admin only). Stream names are unique among the portals of one server. The server
    named ``default`` (created by the migration; new portals get it) takes each empty field from the
    ``STREAMER_*`` settings, so a deployment configured by environment variables keeps working unchanged;
    the other servers use their own fields only (see ``portals.streaming_servers``).
    """

    name = models.SlugField(max_length=64, unique=True)
    key = models.CharField(max_length=128, blank=True,
                           help_text="The ?key= of the auth and events URLs this server calls. Empty: no key "
                                     "(the default server uses STREAMER_KEY).")
    allowed_ips = models.TextField(blank=True, help_text="Addresses or CIDRs the server calls from, one per line "
                                                         "or comma-separated. Empty: any address (the default "
                                                         "server uses STREAMER_ALLOWED_IPS).")
    api_url = models.CharField(max_length=500, blank=True, verbose_name="API URL",
                               help_text="e.g. http://flussonic:80/streamer/api/v3 (re-authorization and "
                                         "reconciliation). Empty: none (the default server uses STREAMER_API_URL).")
    api_user = models.CharField(max_length=200, blank=True, verbose_name="API user")
    api_password = models.CharField(max_length=200, blank=True, verbose_name="API password")
    api_token = models.CharField(max_length=500, blank=True, verbose_name="API token",
                                 help_text="Bearer token, instead of user and password.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["key"], condition=~models.Q(key=""),
                                               name="streaming_server_key_unique")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT_SERVER_NAME


class Portal(PublicModel):
    """A branded TV service of one operator: the tenant that owns every other object."""

    name = models.SlugField(max_length=64, unique=True, help_text="Technical name, immutable.")
    domain = models.CharField(max_length=253, unique=True, help_text="Domain name, immutable.")
    title = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    logo_url = models.URLField(max_length=500, blank=True)
    logo_image = models.BinaryField(null=True, blank=True, editable=True)
    logo_content_type = models.CharField(max_length=40, blank=True)
    api_key = models.CharField(max_length=128, unique=True, default=new_api_key)
    owner = models.OneToOneField(
        "portals.Manager", null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_portal"
    )
    settings = models.JSONField(default=dict, blank=True)
    streaming_server = models.ForeignKey(StreamingServer, on_delete=models.PROTECT, related_name="portals",
                                         help_text="The streaming server that serves this portal's channels.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.title or self.name

    @property
    def display_title(self) -> str:
        return self.title or self.name

    @property
    def effective_settings(self) -> dict:
        """The portal settings with defaults filled in for every key."""
        return {**DEFAULT_PORTAL_SETTINGS, **(self.settings or {})}


class Manager(PublicModel):
    """A person who manages one portal. The same email may have accounts in several portals."""

    portal = models.ForeignKey(Portal, on_delete=models.CASCADE, related_name="managers")
    email = models.EmailField(max_length=254)
    name = models.CharField(max_length=200, blank=True)
    password = models.CharField(max_length=255)
    is_admin = models.BooleanField(default=False)
    is_content_admin = models.BooleanField(default=False)
    is_subscriber_admin = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_login_at = models.DateTimeField(null=True, blank=True)
    # The screens' language this manager chose in the header ("" = the browser's Accept-Language).
    language = models.CharField(max_length=8, blank=True, default="")

    objects = PortalQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["portal", "email"], name="manager_email_unique_in_portal")]
        indexes = [models.Index(fields=["email"], name="manager_email")]

    def __str__(self) -> str:
        return f"{self.email} ({self.portal_id})"

    def set_password(self, raw_password: str) -> None:
        self.password = make_password(raw_password)

    def check_password(self, raw_password: str) -> bool:
        return check_password(raw_password, self.password)

    @property
    def is_owner(self) -> bool:
        return self.portal.owner_id == self.id


class ManagerSession(models.Model):
    """A login of a manager (API ``sessionId`` or a web login). Only the token's hash is stored."""

    token_hash = models.CharField(max_length=64, unique=True)
    manager = models.ForeignKey(Manager, on_delete=models.CASCADE, related_name="sessions")
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [models.Index(fields=["last_seen_at"], name="manager_session_seen")]

    def __str__(self) -> str:
        return f"session of {self.manager_id}"


class ManagerTotp(models.Model):
    """A manager's TOTP authenticator (RFC 6238, 30-second steps, 6 digits).

    Pending from ``POST /me/totp`` until a code from the authenticator app confirms it (``confirmed_at``), then
    two-factor authentication is on. ``last_used_step`` is the time-step of the last code accepted: a code is
    accepted once, and never one of an earlier step.
    """

    manager = models.OneToOneField(Manager, on_delete=models.CASCADE, related_name="totp")
    secret = models.CharField(max_length=64)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    last_used_step = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"TOTP of {self.manager_id} ({'on' if self.confirmed_at else 'pending'})"

    @property
    def enabled(self) -> bool:
        return self.confirmed_at is not None


class RecoveryCode(models.Model):
    """One of a manager's single-use recovery codes (shown once at enrolment); only its SHA-256 is stored."""

    manager = models.ForeignKey(Manager, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["manager", "code_hash"], name="recovery_code_unique")]

    def __str__(self) -> str:
        return f"recovery code of {self.manager_id}"
