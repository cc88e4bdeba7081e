"""The programme on air on a channel at a moment (a play session's ``programId``).

Programmes are stored by the EPG import in ``content.Program`` (epg_source, epg_channel_name, start, end); a
channel points at its guide with ``epg_source`` + ``epg_channel_name``.
"""

from __future__ import annotations

import datetime as dt

from catena_site.shared_store import store
from content.epg import selectors as epg_selectors
from content.models import Channel, Program

GUIDE_TTL = 300  # seconds a channel's guide (EPG source + channel name) is remembered for programme lookups


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
    ``ON_AIR_PER_QUERY`` distinct moments on channels with a guide (none for channels without one).

    Which programme is on air is ``content.epg.selectors``' rule (covering the moment, latest start wins).
    """
    guides = _guides({channel_id for channel_id, _ in starts}) if starts else {}
    on_air = epg_selectors.programs_on_air(
        [(guides[channel_id], at) for channel_id, at in starts if channel_id in guides],
        Program.objects.only("id", "epg_source_id", "epg_channel_name", "start", "end"))
    found = [on_air.get((guides.get(channel_id), at)) for channel_id, at in starts]
    return [None if program is None else program.id for program in found]
