"""Subscribers (the people who watch) and their package subscriptions."""

from __future__ import annotations

import secrets

from django.db import models

from catena_site.models import PortalQuerySet, PublicModel


def new_playback_token() -> str:
    """An unguessable playback token: 24 random bytes (192 bits), URL-safe."""
    return secrets.token_urlsafe(24)


# players.md §2: read off a TV screen and typed with a remote, so no look-alikes (no 0/O, 1/l/I).
PLAYER_PASSWORD_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
PLAYER_PASSWORD_LENGTH = 10


def new_player_password() -> str:
    """A fresh player password: 10 characters of an unambiguous alphabet (about 57 bits)."""
    return "".join(secrets.choice(PLAYER_PASSWORD_ALPHABET) for _ in range(PLAYER_PASSWORD_LENGTH))


class Subscriber(PublicModel):
    """A viewer of a portal, identified by a phone number unique within the portal."""

    portal = models.ForeignKey("portals.Portal", on_delete=models.CASCADE, related_name="subscribers")
    name = models.CharField(max_length=200)
    phone_country_code = models.CharField(max_length=4)
    phone = models.CharField(max_length=15)
    full_phone = models.CharField(max_length=19, help_text="Country code and phone, digits only.")
    playback_token = models.CharField(max_length=64, unique=True, default=new_playback_token)
    disabled = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    # lifecycle.md §2: this subscriber's device limit (IPTVPORTAL max_terminal); null: the portal's setting.
    max_devices = models.PositiveIntegerField(null=True, blank=True)
    # players.md §2: what IPTV players log in with. ``login`` defaults to ``full_phone`` and is unique in the
    # portal; the player password is a device credential like the token, so it is stored to be shown again.
    login = models.CharField(max_length=64)
    player_password = models.CharField(max_length=32, default=new_player_password)

    objects = PortalQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["portal", "full_phone"], name="subscriber_phone_unique_in_portal"),
            models.UniqueConstraint(fields=["portal", "login"], name="subscriber_login_unique_in_portal"),
        ]
        indexes = [
            models.Index(fields=["portal", "disabled", "id"], name="subscriber_portal_disabled"),
            models.Index(fields=["portal", "name"], name="subscriber_portal_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} (+{self.full_phone})"

    def save(self, *args, **kwargs):
        if not self.login:
            self.login = self.full_phone
        super().save(*args, **kwargs)

    @property
    def international_phone(self) -> str:
        return f"+{self.full_phone}"


class Subscription(models.Model):
    """A subscriber's explicit subscription to a package, in force while ``starts_at <= now < expires_at``
    (either end open when null). An expired one stays, as history."""

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="subscriptions")
    package = models.ForeignKey("content.Package", on_delete=models.CASCADE, related_name="subscriptions")
    created_at = models.DateTimeField(auto_now_add=True)
    starts_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # When the minute job recorded ``expirePackageSubscriber`` for the current period (once per period).
    expiry_recorded_at = models.DateTimeField(null=True, blank=True)
    # When the expiry reminder SMS went out for the current period (never twice).
    reminded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["subscriber", "package"], name="subscription_unique")]
        indexes = [
            models.Index(fields=["package", "subscriber"], name="subscription_by_package"),
            models.Index(fields=["expires_at"], name="subscription_by_expiry"),
        ]

    def __str__(self) -> str:
        return f"{self.subscriber_id} → {self.package_id}"


class ExpiryReminder(models.Model):
    """An expiry reminder SMS sent for a subscription (lifecycle.md §1), listed on the subscriber card.

    What was sent stays even when the subscription or the package goes: the package's name is kept with it.
    """

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="expiry_reminders")
    package = models.ForeignKey("content.Package", on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="+")
    package_name = models.CharField(max_length=200)
    expires_at = models.DateTimeField(help_text="The end of the period the reminder announced.")
    sent_at = models.DateTimeField()
    phone = models.CharField(max_length=20, help_text="The international number it went to.")
    text = models.TextField()

    class Meta:
        ordering = ["-sent_at", "-id"]
        indexes = [models.Index(fields=["subscriber", "sent_at"], name="expiry_reminder_by_subscriber")]

    def __str__(self) -> str:
        return f"{self.subscriber_id}: {self.package_name} ends {self.expires_at:%Y-%m-%d}"


from .client_sessions import AppSession, SmsCode  # noqa: E402  (models of the client API)
from .device_model import Device  # noqa: E402  (lifecycle.md §2)

__all__ = ["Subscriber", "Subscription", "ExpiryReminder", "AppSession", "SmsCode", "Device", "new_playback_token",
           "new_player_password"]
