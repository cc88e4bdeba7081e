"""EPG: XMLTV sources, the history of their fetches, and the programmes they bring."""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from catena_site.models import PortalQuerySet, PublicModel

EPG_SOURCE_NAME_PATTERN = r"^[a-zA-Z0-9_.-]{2,64}$"
UNCHANGED_MESSAGE = "EPG source unchanged since"  # how the message of a fetch of an unchanged guide starts
MAX_OFFSET_MINUTES = 1440  # a source's or a channel's guide shift: at most a day either way


class EpgSource(PublicModel):
    """An XMLTV guide the portal fetches every ``period`` days; channels refer to it by name.

    ``offset_minutes``/``force_offset`` are applied by the importer while it converts the guide's times to UTC,
    so a change takes effect on the next fetch.

    ``next_fetch_at`` is when the beat dispatcher next enqueues a fetch (now for a new source; after a
    failure it backs off); ``last_fetch`` is the newest finished fetch (``last_fetch_result``).
    """

    portal = models.ForeignKey("portals.Portal", on_delete=models.CASCADE, related_name="epg_sources")
    name = models.CharField(max_length=64)
    url = models.URLField(max_length=2000)
    period = models.PositiveIntegerField(default=1, help_text="Days between automatic fetches.")
    offset_minutes = models.SmallIntegerField(
        default=0, help_text="The offset of the guide's times that have none (e.g. 180 for local times of UTC+3).")
    force_offset = models.BooleanField(
        default=False, help_text="Apply offset_minutes to every time, replacing the offset the guide gives.")
    next_fetch_at = models.DateTimeField(default=timezone.now)
    failures = models.PositiveIntegerField(default=0, help_text="Failed fetches since the last success.")
    last_fetch = models.ForeignKey("content.EpgFetch", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    # What identifies the body of the last import (see content.epg.importer.KeptGuide): a fetch that downloads the
    # same body (or gets 304 Not Modified for these validators) writes nothing. Cleared by anything that changes
    # how the body maps to programmes (URL, offset); the digest also covers the import's settings and version.
    guide_digest = models.CharField(max_length=160, blank=True, default="",
                                    help_text="Settings key and BLAKE2b digest of the last imported body.")
    guide_etag = models.CharField(max_length=512, blank=True, default="")
    guide_last_modified = models.CharField(max_length=64, blank=True, default="")
    guide_imported_at = models.DateTimeField(null=True, blank=True,
                                             help_text="When the body the digest identifies was imported.")
    # What the guided mapping's cached suggestions are keyed by (content.epg.mapping): the digest of the stored
    # XMLTV channels' ids and names, written with them by each import (content.epg.channels); "" while none.
    channels_digest = models.CharField(max_length=64, blank=True, default="",
                                       help_text="Digest of the ids and names of the stored XMLTV channels.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PortalQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["portal", "name"], name="epg_source_name_unique_in_portal")]
        indexes = [models.Index(fields=["next_fetch_at"], name="epg_source_next_fetch")]

    def __str__(self) -> str:
        return self.name

    @property
    def period_delta(self) -> dt.timedelta:
        return dt.timedelta(days=self.period)


class FetchStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCESS = "success", _("Success")
    ERROR = "error", _("Error")
    TIMEOUT = "timeout", _("Timeout")


ACTIVE_STATUSES = (FetchStatus.QUEUED, FetchStatus.RUNNING)
FINISHED_STATUSES = (FetchStatus.SUCCESS, FetchStatus.ERROR, FetchStatus.TIMEOUT)


class FetchTrigger(models.TextChoices):
    SCHEDULE = "schedule", _("Schedule")
    MANUAL = "manual", _("Manual")


class EpgFetch(PublicModel):
    """One fetch of a source: created when its job is queued, then running, then finished with figures.

    At most one fetch per source is queued or running (a partial unique index), so two imports of one
    source never overlap, whichever worker runs them.
    """

    portal = models.ForeignKey("portals.Portal", on_delete=models.CASCADE, related_name="+", db_index=False)
    epg_source = models.ForeignKey(EpgSource, on_delete=models.CASCADE, related_name="fetches", db_index=False)
    job_id = models.CharField(max_length=64, unique=True)
    trigger = models.CharField(max_length=16, choices=FetchTrigger.choices, default=FetchTrigger.SCHEDULE)
    status = models.CharField(max_length=16, choices=FetchStatus.choices, default=FetchStatus.QUEUED)
    message = models.TextField(blank=True)
    channels = models.PositiveIntegerField(default=0)
    found_programs = models.PositiveIntegerField(default=0)
    imported_programs = models.PositiveIntegerField(default=0)
    deleted_programs = models.PositiveIntegerField(default=0)
    fetch_duration = models.FloatField(null=True, blank=True, help_text="Seconds spent downloading.")
    import_duration = models.FloatField(null=True, blank=True, help_text="Seconds spent parsing and writing.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(
        null=True, blank=True, help_text="While running: renewed by the importing worker; once passed, the "
                                         "worker is taken for dead and the dispatcher gives the fetch up.")
    fetched_at = models.DateTimeField(null=True, blank=True, help_text="When the download ended.")
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = PortalQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["epg_source"], condition=Q(status__in=["queued", "running"]),
                                    name="epg_fetch_one_active_per_source"),
        ]
        indexes = [
            # Newest first is the order of every list; each filter has its own (portal, key, id) path.
            models.Index(fields=["portal", "-id"], name="epg_fetch_portal_id"),
            models.Index(fields=["portal", "status", "-id"], name="epg_fetch_portal_status_id"),
            models.Index(fields=["epg_source", "-id"], name="epg_fetch_source_id"),
        ]

    def __str__(self) -> str:
        return f"fetch {self.public_id} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def unchanged(self) -> bool:
        """A successful fetch that found the guide imported last, so wrote nothing (``importer.KeptGuide``)."""
        return self.status == FetchStatus.SUCCESS and self.message.startswith(UNCHANGED_MESSAGE)


class Program(PublicModel):
    """One programme of a source's guide, times in UTC; ``content_hash`` makes re-imports idempotent.

    A source holds at most one programme per (EPG channel, start). Written only by the importer, in bulk.
    """

    # No database-level foreign keys: 180k deferred checks per import cost more than the whole insert. The
    # portal is always the source's; the importer holds the source row locked while it writes, and deleting
    # a source (which takes the same lock) deletes its programmes through the ORM cascade.
    portal = models.ForeignKey("portals.Portal", on_delete=models.CASCADE, related_name="+", db_index=False,
                               db_constraint=False)
    epg_source = models.ForeignKey(EpgSource, on_delete=models.CASCADE, related_name="programs", db_index=False,
                                   db_constraint=False)
    epg_channel_name = models.TextField()
    start = models.DateTimeField()
    end = models.DateTimeField()
    title = models.TextField()
    language = models.TextField(blank=True)
    description = models.TextField(blank=True)
    genre = models.TextField(blank=True)
    rating = models.TextField(blank=True)
    subtitle = models.TextField(blank=True)
    icon = models.TextField(blank=True)
    episode = models.TextField(blank=True)
    content_hash = models.BigIntegerField()

    objects = PortalQuerySet.as_manager()

    class Meta:
        ordering = ["start", "id"]
        constraints = [
            # Also the path of "programmes of channel X by time" and "what is on X now and next".
            models.UniqueConstraint(fields=["epg_source", "epg_channel_name", "start"],
                                    name="program_source_channel_start"),
        ]
        indexes = [models.Index(fields=["epg_source", "start", "id"], name="program_source_start")]

    def __str__(self) -> str:
        return f"{self.epg_channel_name} {self.start:%Y-%m-%d %H:%M} {self.title}"

    @property
    def date(self) -> dt.date:
        """The UTC day of ``start``."""
        return self.start.astimezone(dt.UTC).date()


class EpgSourceChannel(models.Model):
    """One channel of a source's guide as its last successful import found it: the XMLTV ``<channel id>`` with
    its display names (all, in file order, ``[name, lang]``) and icon, and how many of the file's programmes
    were kept for that id. An id with programmes but no ``<channel>`` element is listed too (no names, no icon).

    Replaced by each import, in the transaction that replaces the programmes: a failed import changes nothing.
    The guided mapping screen and ``GET /epg-sources/{id}/channels`` read it; a channel saved with an
    ``epgChannelName`` missing from it gets a warning.
    """

    epg_source = models.ForeignKey(EpgSource, on_delete=models.CASCADE, related_name="xmltv_channels")
    xmltv_id = models.CharField(max_length=255)
    display_names = models.JSONField(default=list, blank=True)
    icon = models.CharField(max_length=2000, blank=True)
    program_count = models.PositiveIntegerField(default=0)
    listed = models.BooleanField(default=True, help_text="Whether the guide has a <channel> element for this id.")

    class Meta:
        ordering = ["xmltv_id"]
        constraints = [models.UniqueConstraint(fields=["epg_source", "xmltv_id"],
                                               name="epg_source_channel_unique_id")]

    def __str__(self) -> str:
        return self.xmltv_id

    @property
    def names(self) -> list[str]:
        """The display names alone, in file order."""
        return [name for name, _ in self.display_names]
