"""Reads of EPG data shared by the API and the screens (each a single indexed query, no N+1)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from ..models import ACTIVE_STATUSES, Channel, EpgFetch, EpgSource, Program


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


# The days a programme listing may be asked for: the years the importer accepts (content.epg.xmltv), which also
# keeps "the next day" of a listing a valid date (9999-12-31 has none).
FIRST_DAY, LAST_DAY = dt.date(1900, 1, 1), dt.date(2200, 12, 31)
DAY_RULE = f"Must be a day from {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()} (YYYY-MM-DD)."


def day_error(day: dt.date) -> str | None:
    """Why programmes cannot be listed for ``day``, or None."""
    return None if FIRST_DAY <= day <= LAST_DAY else DAY_RULE


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


Guide = tuple[int, str]  # (epg_source_id, epg_channel_name): where a channel's programmes are in the EPG

ON_AIR_PER_QUERY = 100  # (guide, moment) conditions OR-ed into one query: well under SQLite's expression depth


# The rule of "on air", written once: a programme covers ``at`` when start ≤ at < end; of the programmes of a
# guide covering ``at`` (a guide may overlap), the one that started last is on air. The next programme is the
# first to start after ``at``. Every now/next and programme-on-air lookup goes through these three.

def covering(at: dt.datetime) -> Q:
    """The programmes that cover ``at`` (start ≤ at < end)."""
    return Q(start__lte=at, end__gt=at)


def on_air_among(programs: Iterable[Program], at: dt.datetime) -> Program | None:
    """Of ``programs`` (one guide's, any order), the one on air at ``at``: covering it, started last."""
    on_air = None
    for program in programs:
        if program.start <= at < program.end and (on_air is None or on_air.start < program.start):
            on_air = program
    return on_air


def next_among(programs: Iterable[Program], at: dt.datetime) -> Program | None:
    """Of ``programs`` (one guide's, any order), the first to start after ``at``."""
    upcoming = None
    for program in programs:
        if program.start > at and (upcoming is None or program.start < upcoming.start):
            upcoming = program
    return upcoming


def now_and_next(source_id: int, channel: str, at: dt.datetime | None = None) -> tuple[Program | None, Program | None]:
    """The programme on air on an EPG channel at ``at`` and the one after it (however far ahead).

    Two indexed lookups, each ordered so that its first row is what :func:`on_air_among` /
    :func:`next_among` would choose (the unique (source, channel, start) index serves both).
    """
    at = at or timezone.now()
    programs = Program.objects.filter(epg_source_id=source_id, epg_channel_name=channel)
    current = on_air_among(programs.filter(covering(at)).order_by("-start")[:1], at)
    upcoming = next_among(programs.filter(start__gt=at).order_by("start")[:1], at)
    return current, upcoming


def now_and_next_of_guides(guides: Iterable[Guide], at: dt.datetime, *, lookahead: dt.timedelta
                           ) -> dict[Guide, tuple[Program | None, Program | None]]:
    """:func:`now_and_next` for many guides at one moment in one query; a next programme is looked for only
    within ``lookahead`` of ``at``. Every guide asked for is in the answer."""
    guides = set(guides)
    found: dict[Guide, list[Program]] = defaultdict(list)
    if guides:
        rows = Program.objects.filter(
            epg_source_id__in={source for source, _ in guides},
            epg_channel_name__in={name for _, name in guides},
            end__gt=at, start__lt=at + lookahead,
        )
        for program in rows:
            guide = (program.epg_source_id, program.epg_channel_name)
            if guide in guides:
                found[guide].append(program)
    return {guide: (on_air_among(found[guide], at), next_among(found[guide], at)) for guide in guides}


def programs_on_air(moments: Iterable[tuple[Guide, dt.datetime]], programs: QuerySet[Program] | None = None,
                    ) -> dict[tuple[Guide, dt.datetime], Program]:
    """The programme on air for each ``(guide, at)`` that has one: one query per ``ON_AIR_PER_QUERY``
    distinct moments (the unique (source, channel, start) index serves each condition).

    ``programs`` narrows the rows loaded (e.g. ``Program.objects.only(...)``); all of ``Program`` by default.
    """
    programs = Program.objects.all() if programs is None else programs
    wanted = sorted(set(moments))
    on_air: dict[tuple[Guide, dt.datetime], Program] = {}
    for first in range(0, len(wanted), ON_AIR_PER_QUERY):
        chunk = wanted[first:first + ON_AIR_PER_QUERY]
        moments_of: dict[Guide, list[dt.datetime]] = defaultdict(list)
        condition = Q()
        for guide, at in chunk:
            moments_of[guide].append(at)
            condition |= Q(epg_source_id=guide[0], epg_channel_name=guide[1]) & covering(at)
        rows: dict[Guide, list[Program]] = defaultdict(list)
        for program in programs.filter(condition):
            rows[(program.epg_source_id, program.epg_channel_name)].append(program)
        for guide, ats in moments_of.items():
            for at in ats:
                program = on_air_among(rows[guide], at)
                if program is not None:
                    on_air[(guide, at)] = program
    return on_air


def program_on_air(channel: Channel, at: dt.datetime | None = None) -> Program | None:
    """The programme on air on a channel's guide at ``at``; None without a guide or programme."""
    if not channel.epg_source_id or not channel.epg_channel_name:
        return None
    return now_and_next(channel.epg_source_id, channel.epg_channel_name, at)[0]


def with_epg_today(channels: QuerySet[Channel], day: dt.date | None = None) -> QuerySet[Channel]:
    """Annotate ``has_epg_today``: the channel's guide has a programme overlapping the UTC ``day``."""
    day = day or timezone.now().astimezone(dt.UTC).date()
    first = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
    programs = Program.objects.filter(epg_source_id=OuterRef("epg_source_id"),
                                      epg_channel_name=OuterRef("epg_channel_name"),
                                      start__lt=first + dt.timedelta(days=1), end__gt=first)
    return channels.annotate(has_epg_today=Exists(programs))
