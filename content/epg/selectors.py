"""Reads of EPG data shared by the API and the screens (each a single indexed query, no N+1)."""

from __future__ import annotations

import bisect
import copy
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import IntegerField, Q, QuerySet, Value
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


@dataclass(frozen=True)
class ChannelGuides:
    """Where a channel's programmes are: its guides in priority order (the ``epgSources`` that exist) and the
    shift (``epgOffsetMinutes``) applied to their times when they are read.

    The shift is applied when read, never stored: one EPG channel may feed several channels with different
    shifts, and a changed shift shows at once without a re-import.
    """

    guides: tuple[Guide, ...]
    offset: dt.timedelta = dt.timedelta(0)

    @property
    def merged(self) -> bool:
        """Whether several guides are merged (else the one guide's programmes are the channel's)."""
        return len(self.guides) > 1

    def cache_value(self) -> list:
        """A JSON-able form for a cache (:meth:`from_cache_value` reads it back)."""
        return [[list(guide) for guide in self.guides], int(self.offset.total_seconds())]

    @classmethod
    def from_cache_value(cls, value) -> ChannelGuides:
        return cls(tuple((source, name) for source, name in value[0]), dt.timedelta(seconds=value[1]))


def channel_guides(channel: Channel) -> ChannelGuides | None:
    """The channel's guides (needs ``epg_source_id``, ``epg_channel_name``, ``epg_extra_sources`` and
    ``epg_offset_minutes`` loaded; no query), or None when it has none."""
    return guides_from(channel.epg_source_id, channel.epg_channel_name, channel.epg_extra_sources,
                       channel.epg_offset_minutes)


def guides_from(source_id: int | None, channel_name: str, extra_sources: list, offset_minutes: int
                ) -> ChannelGuides | None:
    """:func:`channel_guides` from the channel's column values (for ``values_list`` reads)."""
    guides = [(source_id, channel_name)] if source_id and channel_name else []
    guides += [(extra_id, extra_name) for _, extra_name, extra_id in extra_sources or () if extra_id and extra_name]
    if not guides:
        return None
    return ChannelGuides(tuple(guides), dt.timedelta(minutes=offset_minutes or 0))


GUIDE_FIELDS = ("epg_source_id", "epg_channel_name", "epg_extra_sources", "epg_offset_minutes")


def shifted(program: Program, offset: dt.timedelta) -> Program:
    """``program`` with its times moved by ``offset`` (a copy: the same row may be read for several channels)."""
    if not offset:
        return program
    program = copy.copy(program)
    program.start += offset
    program.end += offset
    return program


def merge_guides(guides: ChannelGuides, programs: Iterable[Program]) -> list[Program]:
    """The channel's programmes among ``programs`` (rows of any guides, any order), by start: for each time
    range, those of the first guide (in priority order) that has programmes there; shifted by the channel's
    offset.

    A programme of a later guide is kept only when no programme of an earlier guide overlaps it, so the
    merged guide never shows two programmes at once where the sources disagree.
    """
    rank = {guide: index for index, guide in enumerate(guides.guides)}
    by_guide: list[list[Program]] = [[] for _ in guides.guides]
    for program in programs:
        index = rank.get((program.epg_source_id, program.epg_channel_name))
        if index is not None:
            by_guide[index].append(program)
    kept: list[Program] = []
    covered: list[tuple[dt.datetime, dt.datetime]] = []  # sorted, disjoint: the time of the guides so far
    for rows in by_guide:
        rows.sort(key=lambda program: program.start)
        new = [program for program in rows if not _overlaps(covered, program.start, program.end)]
        kept += new
        covered = _union(covered + [(program.start, program.end) for program in rows])
    kept.sort(key=lambda program: (program.start, program.id))
    return [shifted(program, guides.offset) for program in kept]


def _overlaps(covered: list[tuple[dt.datetime, dt.datetime]], start: dt.datetime, end: dt.datetime) -> bool:
    index = bisect.bisect_left(covered, (end,))  # the spans starting before ``end``…
    return index > 0 and covered[index - 1][1] > start  # …of which the last ends furthest (disjoint, sorted)


def _union(spans: list[tuple[dt.datetime, dt.datetime]]) -> list[tuple[dt.datetime, dt.datetime]]:
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def guide_rows(guides: Iterable[ChannelGuides], first: dt.datetime, last: dt.datetime,
               programs: QuerySet[Program] | None = None) -> QuerySet[Program]:
    """The stored programmes of all these guides that can overlap [first, last) once shifted: one query."""
    guides = list(guides)
    programs = Program.objects.all() if programs is None else programs
    if not guides:
        return programs.none()
    offsets = [channel.offset for channel in guides]
    return programs.filter(epg_source_id__in={source for channel in guides for source, _ in channel.guides},
                           epg_channel_name__in={name for channel in guides for _, name in channel.guides},
                           end__gt=first - max(offsets), start__lt=last - min(offsets))


# How far around a window the rows of merged guides are read: a later guide's programme is hidden by an earlier
# guide's that overlaps it, which may lie outside the window (only programmes longer than this escape the rule).
MERGE_MARGIN = dt.timedelta(hours=12)


def guides_between(channels: dict, first: dt.datetime, last: dt.datetime,
                   programs: QuerySet[Program] | None = None) -> dict:
    """``{key: the merged, shifted programmes of channels[key] overlapping [first, last), by start}`` for many
    channels (``channels``: key → :class:`ChannelGuides`) in one query."""
    margin = MERGE_MARGIN if any(guides.merged for guides in channels.values()) else dt.timedelta(0)
    by_guide: dict[Guide, list[Program]] = defaultdict(list)
    for program in guide_rows(channels.values(), first - margin, last + margin, programs):
        by_guide[(program.epg_source_id, program.epg_channel_name)].append(program)
    return {key: [program for program in merge_guides(guides, [row for guide in guides.guides
                                                               for row in by_guide.get(guide, ())])
                  if program.end > first and program.start < last]
            for key, guides in channels.items()}


def guide_between(guides: ChannelGuides, first: dt.datetime, last: dt.datetime,
                  programs: QuerySet[Program] | None = None) -> list[Program]:
    """The channel's merged, shifted programmes overlapping [first, last), by start (one query)."""
    return guides_between({None: guides}, first, last, programs)[None]


def now_and_next_of_channels(channels: dict, at: dt.datetime, *, lookahead: dt.timedelta) -> dict:
    """``{key: (on air at ``at``, the next programme within ``lookahead``)}`` on the merged, shifted guides of
    ``channels`` (key → :class:`ChannelGuides`), in one query; the rule of :func:`on_air_among`/:func:`next_among`."""
    listed = guides_between(channels, at, at + lookahead)
    return {key: (on_air_among(programs, at), next_among(programs, at)) for key, programs in listed.items()}


def channel_programs_on_air(moments: Iterable[tuple[ChannelGuides, dt.datetime]],
                            programs: QuerySet[Program] | None = None) -> dict:
    """``{(guides, at): programme}`` on air on each channel's merged, shifted guide, for those that have one.

    A channel with one guide goes through :func:`programs_on_air` (one query per ``ON_AIR_PER_QUERY`` moments);
    channels merging several cost one query per distinct moment (the screens ask for one: now).
    """
    moments = list(dict.fromkeys(moments))
    single = programs_on_air([(guides.guides[0], at - guides.offset) for guides, at in moments if not guides.merged],
                             programs)
    merged_at: dict[dt.datetime, dict] = defaultdict(dict)
    for guides, at in moments:
        if guides.merged:
            merged_at[at][guides] = guides
    merged = {(guides, at): on_air_among(listed, at) for at, channels in merged_at.items()
              for guides, listed in guides_between(channels, at, at + dt.timedelta(microseconds=1), programs).items()}
    found = {}
    for guides, at in moments:
        if guides.merged:
            program = merged[(guides, at)]
        else:
            program = single.get((guides.guides[0], at - guides.offset))
            program = None if program is None else shifted(program, guides.offset)
        if program is not None:
            found[(guides, at)] = program
    return found


def guide_starting_on(guides: ChannelGuides, day: dt.date) -> list[Program]:
    """The channel's merged, shifted programmes starting on the UTC ``day`` (the client's day listing)."""
    first = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
    last = first + dt.timedelta(days=1)
    return [program for program in guide_between(guides, first, last) if program.start >= first]

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
    """The programme on air on a channel's (merged, shifted) guide at ``at``; None without a guide or programme."""
    guides = channel_guides(channel)
    if guides is None:
        return None
    at = at or timezone.now()
    return channel_programs_on_air([(guides, at)]).get((guides, at))


def channels_with_programs(channels: dict, first: dt.datetime, last: dt.datetime) -> set:
    """The keys of ``channels`` (key → :class:`ChannelGuides`) whose guide has a programme overlapping
    [first, last) once shifted by the channel's offset, in any of its sources: one query for them all (a
    ``UNION`` of one select per distinct offset among them)."""
    by_offset: dict[dt.timedelta, set[Guide]] = defaultdict(set)
    for guides in channels.values():
        by_offset[guides.offset].update(guides.guides)
    selects = [Program.objects.filter(epg_source_id__in={source for source, _ in guides},
                                      epg_channel_name__in={name for _, name in guides},
                                      start__lt=last - offset, end__gt=first - offset)
               .order_by().annotate(shift=Value(int(offset.total_seconds()), output_field=IntegerField()))
               .values_list("epg_source_id", "epg_channel_name", "shift")
               for offset, guides in by_offset.items()]
    if not selects:
        return set()
    found = set(selects[0].union(*selects[1:]) if len(selects) > 1 else selects[0].distinct())
    return {key for key, guides in channels.items()
            if any((*guide, int(guides.offset.total_seconds())) in found for guide in guides.guides)}


def mark_epg_today(channels: list[Channel], day: dt.date | None = None) -> list[Channel]:
    """Set ``has_guide`` (the channel names a guide: ``epgSources`` of existing sources) and ``has_epg_today``
    (one of its sources has a programme overlapping the UTC ``day`` once shifted by ``epgOffsetMinutes``) on
    each of ``channels``: one query for the page."""
    day = day or timezone.now().astimezone(dt.UTC).date()
    first = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
    guides = {}
    for channel in channels:
        channel.has_guide = (found := channel_guides(channel)) is not None
        if found is not None:
            guides[channel.pk] = found
    today = channels_with_programs(guides, first, first + dt.timedelta(days=1)) if guides else set()
    for channel in channels:
        channel.has_epg_today = channel.pk in today
    return channels


def channel_day_schedule(channel: Channel, day: dt.date, zone: dt.tzinfo) -> list[Program]:
    """The channel's merged, shifted programmes overlapping the local ``day`` of ``zone`` (midnight to midnight
    there), by start; ``[]`` when it has no guide. One query."""
    guides = channel_guides(channel)
    if guides is None:
        return []
    first = dt.datetime.combine(day, dt.time.min, tzinfo=zone)
    last = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    return guide_between(guides, first, last)
