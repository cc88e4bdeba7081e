"""The programme on air on a channel at a moment (a play session's ``programId``).

Programmes are stored by the EPG import in ``content.Program`` (epg_source, epg_channel_name, start, end); a
channel points at its guide with ``epg_source`` + ``epg_channel_name``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.db.models import Q

from content.models import Channel, Program
from subscribers.playback_cache import store

GUIDE_TTL = 300  # seconds a channel's guide (EPG source + channel name) is remembered for programme lookups
STARTS_PER_QUERY = 100  # (guide, moment) conditions OR-ed into one query: well under SQLite's expression depth


def _guides(channel_ids: set[int]) -> dict[int, tuple[int, str]]:
    """``{channel id: (epg_source_id, epg_channel_name)}`` of the channels that have a guide; cached briefly.

    Only ``programId`` of new sessions depends on it (never a playback decision), so a guide change may
    take ``GUIDE_TTL`` to show there; in exchange a channel without a guide costs no query at all.
    """
    keys = {channel_id: f"pb:g:{channel_id}" for channel_id in channel_ids}
    try:
        cached = store().get_many(list(keys.values()))
    except Exception:
        cached = {}
    guides = {c: tuple(cached[k]) for c, k in keys.items() if cached.get(k)}
    missing = [c for c, k in keys.items() if k not in cached]
    if missing:
        found = {c: (s, n) for c, s, n in Channel.objects.filter(pk__in=missing)
                 .values_list("id", "epg_source_id", "epg_channel_name") if s and n}
        guides.update(found)
        try:
            for channel_id in missing:
                store().set(keys[channel_id], found.get(channel_id, ()), GUIDE_TTL)
        except Exception:
            pass
    return guides


def program_on_air(channel_id: int, at: dt.datetime) -> int | None:
    """ID of the programme on the channel's guide at ``at`` (start ≤ at < end), or None."""
    return programs_on_air([(channel_id, at)])[0]


def programs_on_air(starts: list[tuple[int, dt.datetime]]) -> list[int | None]:
    """:func:`program_on_air` for many ``(channel_id, at)``: one cache read, then one query per
    ``STARTS_PER_QUERY`` distinct moments on channels with a guide (none for channels without one).

    Of the programmes covering a moment, the one that started last is on air (the unique (source, channel,
    start) index serves each condition).
    """
    guides = _guides({channel_id for channel_id, _ in starts}) if starts else {}
    wanted = sorted({(guides[channel_id], at) for channel_id, at in starts if channel_id in guides})
    on_air: dict[tuple[tuple[int, str], dt.datetime], tuple[dt.datetime, int]] = {}
    for first in range(0, len(wanted), STARTS_PER_QUERY):
        moments: dict[tuple[int, str], list[dt.datetime]] = defaultdict(list)
        condition = Q()
        for guide, at in wanted[first:first + STARTS_PER_QUERY]:
            moments[guide].append(at)
            condition |= Q(epg_source_id=guide[0], epg_channel_name=guide[1], start__lte=at, end__gt=at)
        rows = Program.objects.filter(condition).values_list("epg_source_id", "epg_channel_name", "start", "end", "id")
        for source_id, name, start, end, program_id in rows:
            for at in moments[(source_id, name)]:
                found = on_air.get(((source_id, name), at))
                if start <= at < end and (found is None or found[0] < start):
                    on_air[((source_id, name), at)] = (start, program_id)
    found = [on_air.get((guides.get(channel_id), at)) for channel_id, at in starts]
    return [None if program is None else program[1] for program in found]
