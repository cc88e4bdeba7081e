"""Monitoring's tables: the operations log (``operations.py``), play sessions and token-sharing suspicions."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from catena_site.models import PortalQuerySet, PublicModel

from .operations import Operation


class CloseReason(models.TextChoices):
    """Who ended a play session."""

    STREAMER = "streamer", _("Closed by the streaming server")
    STALE = "stale", _("No update for SESSION_STALE_SECONDS")
    ACCESS = "access", _("Access withdrawn")
    RECONCILED = "reconciled", _("No longer on the streaming server")


class PlaySession(PublicModel):
    """One subscriber (or an anonymous viewer) watching one channel, as reported by the streaming server.

    Subscriber, channel and programme are kept as IDs (and the channel's name), so history survives their
    deletion. ``streamer_session_id`` is the streaming server's session UUID: one per play session.
    Timestamps come from the streaming server; ``updated_at`` is the newest sign of life.
    """

    # No index of its own: every index below starts with the portal.
    portal = models.ForeignKey("portals.Portal", on_delete=models.CASCADE, related_name="+", db_index=False)
    # Null for an anonymous viewer (a free channel watched without a token, lifecycle.md §3).
    subscriber_id = models.BigIntegerField(null=True, blank=True)
    channel_id = models.BigIntegerField()
    channel_name = models.CharField(max_length=20)
    program_id = models.BigIntegerField(null=True, blank=True)
    streamer_session_id = models.CharField(max_length=64, unique=True)
    token = models.CharField(max_length=64, blank=True, help_text="The playback token the session was opened with.")
    opened_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)
    close_reason = models.CharField(max_length=16, blank=True, choices=CloseReason.choices)
    bytes = models.BigIntegerField(default=0)
    duration = models.IntegerField(null=True, blank=True, help_text="Seconds, as the streaming server reports.")
    ip = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    device_id = models.CharField(max_length=200, null=True, blank=True)
    proto = models.CharField(max_length=16, blank=True)
    dvr = models.BooleanField(default=False)
    country = models.CharField(max_length=8, blank=True)

    objects = PortalQuerySet.as_manager()

    class Meta:
        # Lists are newest first by (opened_at, id); every filter has an index with that order after it. Few
        # indexes on purpose: every event batch and heartbeat flush writes here. ``play_session_portal_live``
        # is small (active sessions only) and also serves limits, access re-checks, flushing and cleanup;
        # heartbeats change no indexed column, so their updates stay HOT in PostgreSQL.
        indexes = [
            models.Index(fields=["portal", "-opened_at", "-id"], name="play_session_portal_opened"),
            models.Index(fields=["portal", "subscriber_id", "-opened_at", "-id"], name="play_session_portal_subscr"),
            models.Index(fields=["portal", "channel_id", "-opened_at", "-id"], name="play_session_portal_channel"),
            models.Index(fields=["portal", "-opened_at", "-id"], condition=Q(active=True),
                         name="play_session_portal_live"),
        ]

    def __str__(self) -> str:
        return f"{self.channel_name} by {self.subscriber_id or 'anonymous'} ({self.streamer_session_id})"


class TokenSharingSuspicion(models.Model):
    """A subscriber whose playback token was used from too many addresses (``suspectedSharing``).

    It holds while ``token_digest`` is the digest of the subscriber's current token: a token reset ends
    it. It never blocks anything by itself.
    """

    portal = models.ForeignKey("portals.Portal", on_delete=models.CASCADE, related_name="+")
    subscriber = models.OneToOneField("subscribers.Subscriber", on_delete=models.CASCADE,
                                      related_name="sharing_suspicion")
    token_digest = models.CharField(max_length=40)
    ips = models.JSONField(default=list)
    detected_at = models.DateTimeField()
    last_detected_at = models.DateTimeField()

    objects = PortalQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["portal", "-last_detected_at"], name="sharing_portal_detected")]

    def __str__(self) -> str:
        return f"sharing suspected for {self.subscriber_id}"


__all__ = ["CloseReason", "Operation", "PlaySession", "TokenSharingSuspicion"]
