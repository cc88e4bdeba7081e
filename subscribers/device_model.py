"""A subscriber's devices (lifecycle.md §2, IPTVPORTAL's terminals): what may play, and how many."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from catena_site.models import PortalQuerySet, PublicModel


class Device(PublicModel):
    """One device of a subscriber: an app, a player or a set-top box.

    ``uid`` identifies it, unique per subscriber (two accounts of one household may share a TV): the auth
    check's ``device_id``, an app's device ID at login, or an STB's MAC (normalised ``aa:bb:cc:dd:ee:ff``).
    ``mac`` is set for set-top boxes only and is unique in the portal: an STB logs in by it.
    """

    class Kind(models.TextChoices):
        APP = "app", "App"
        PLAYER = "player", "Player"
        STB = "stb", "Set-top box"

    portal = models.ForeignKey("portals.Portal", on_delete=models.CASCADE, related_name="+")
    subscriber = models.ForeignKey("subscribers.Subscriber", on_delete=models.CASCADE, related_name="devices")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    uid = models.CharField(max_length=200)
    mac = models.CharField(max_length=17, blank=True)
    name = models.CharField(max_length=200, blank=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)

    objects = PortalQuerySet.as_manager()

    class Meta:
        app_label = "subscribers"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["subscriber", "uid"], name="device_uid_unique_per_subscriber"),
            models.UniqueConstraint(fields=["portal", "mac"], condition=Q(kind="stb"),
                                    name="device_stb_mac_unique_in_portal"),
        ]

    def __str__(self) -> str:
        return self.name or self.uid
