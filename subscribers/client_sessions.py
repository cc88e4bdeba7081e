"""How subscribers log in to the client app: the SMS login codes and the app sessions (client API)."""

from __future__ import annotations

from django.db import models


class SmsCode(models.Model):
    """The one valid login code of a phone number in a portal (a new one replaces it). Stored hashed."""

    portal = models.ForeignKey("portals.Portal", on_delete=models.CASCADE, related_name="+")
    full_phone = models.CharField(max_length=19)
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        app_label = "subscribers"
        constraints = [models.UniqueConstraint(fields=["portal", "full_phone"], name="sms_code_one_per_number")]

    def __str__(self) -> str:
        return f"code for +{self.full_phone}"


class AppSession(models.Model):
    """A subscriber's login in a TV app (``Authorization: Bearer``). Only the token's hash is stored.

    It ends on logout, on expiry, on deletion of the subscriber (cascade), and is refused once the subscriber
    is disabled or their phone number differs from the one they logged in with.
    """

    token_hash = models.CharField(max_length=64, unique=True)
    subscriber = models.ForeignKey("subscribers.Subscriber", on_delete=models.CASCADE, related_name="app_sessions")
    full_phone = models.CharField(max_length=19, help_text="The number logged in with.")
    device = models.CharField(max_length=300, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        app_label = "subscribers"
        indexes = [models.Index(fields=["subscriber", "last_seen_at"], name="app_session_subscriber")]

    def __str__(self) -> str:
        return f"app session of {self.subscriber_id}"
