"""Reads of EPG data shared by the API and the screens (each a single indexed query, no N+1)."""

from __future__ import annotations

import datetime as dt

from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from .models import ACTIVE_STATUSES, Channel, EpgFetch, EpgSource, Program


def epg_sources_for(portal) -> QuerySet[EpgSource]:
    """The portal's sources with their newest finished fetch (``last_fetch_result``) loaded."""
    return EpgSource.objects.for_portal(portal).select_related("last_fetch")


def fetches_for(portal, *, source: EpgSource | None = None) -> QuerySet[EpgFetch]:
    """The portal's fetch history, newest first; only one source's with ``source``."""
    fetches = EpgFetch.objects.for_portal(portal)
    if source is not None:
        fetches = fetches.filter(epg_source=source)
    return fetches.order_by("-id")


def active_fetch(source: EpgSource) -> EpgFetch | None:
    """The fetch of ``source`` that is queued or running now, if any."""
    return source.fetches.filter(status__in=ACTIVE_STATUSES).first()


def starting_on(programs: QuerySet[Program], day: dt.date) -> QuerySet[Program]:
    """Those of ``programs`` that start on the UTC ``day`` (the ``date`` of the API's programme)."""
    first = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
    return programs.filter(start__gte=first, start__lt=first + dt.timedelta(days=1))


def programs_of(source: EpgSource, *, day: dt.date | None = None, channel: str | None = None) -> QuerySet[Program]:
    """A source's programmes by start time, optionally of one UTC day and/or one EPG channel."""
    programs = Program.objects.filter(epg_source=source)
    if channel is not None:
        programs = programs.filter(epg_channel_name=channel)
    if day is not None:
        programs = starting_on(programs, day)
    return programs.order_by("start", "id")


def epg_channel_names(source: EpgSource) -> list[str]:
    """The EPG channel IDs that have programmes in a source, sorted (for a channel form's picker)."""
    return list(Program.objects.filter(epg_source=source).order_by("epg_channel_name")
                .values_list("epg_channel_name", flat=True).distinct())


def now_and_next(source_id: int, channel: str, at: dt.datetime | None = None) -> tuple[Program | None, Program | None]:
    """The programme on air on an EPG channel at ``at`` (start ≤ at < end) and the one after it."""
    at = at or timezone.now()
    programs = Program.objects.filter(epg_source_id=source_id, epg_channel_name=channel)
    current = programs.filter(start__lte=at).order_by("-start").first()
    if current is not None and current.end <= at:
        current = None
    upcoming = programs.filter(start__gt=at).order_by("start").first()
    return current, upcoming


def program_on_air(channel: Channel, at: dt.datetime | None = None) -> Program | None:
    """The programme on air on a channel's guide at ``at``; None without a guide or programme."""
    if not channel.epg_source_id or not channel.epg_channel_name:
        return None
    return now_and_next(channel.epg_source_id, channel.epg_channel_name, at)[0]


def with_epg_today(channels: QuerySet[Channel], day: dt.date | None = None) -> QuerySet[Channel]:
    """Annotate ``has_epg_today``: the channel's guide has a programme overlapping the UTC ``day``."""
    day = day or timezone.now().astimezone(dt.UTC).date()
    first = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
    programmes = Program.objects.filter(epg_source_id=OuterRef("epg_source_id"),
                                        epg_channel_name=OuterRef("epg_channel_name"),
                                        start__lt=first + dt.timedelta(days=1), end__gt=first)
    return channels.annotate(has_epg_today=Exists(programmes))
