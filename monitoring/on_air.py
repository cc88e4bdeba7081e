"""The programme on air on a channel at a moment: an archive session's ``programId`` (at its archive
position, ``monitoring.archive``) and the screens' programme of a live session (at its start).

Programmes are stored by the EPG import in ``content.Program`` (epg_source, epg_channel_name, start, end); a
channel points at its guide with ``epg_source`` + ``epg_channel_name`` (and further sources merged after it,
its times shifted by ``epg_offset_minutes``: ``content.epg.selectors.ChannelGuides``).
"""

from __future__ import annotations

import datetime as dt

from catena_site.shared_store import store
from content.epg import selectors as epg_selectors
from content.epg.selectors import ChannelGuides
from content.models import Channel, Program

GUIDE_TTL = 300  # seconds a channel's guide (EPG source + channel name) is remembered for programme lookups


def _guides(channel_ids: set[int]) -> dict[int, ChannelGuides]:
    """``{channel id: its guides (content.epg.selectors.ChannelGuides)}`` of the channels that have one; cached
    briefly.

    Only ``programId`` of new sessions depends on it (never a playback decision), so a guide change may
    take ``GUIDE_TTL`` to show there; in exchange a channel without a guide costs no query at all.
    """
    keys = {channel_id: f"pb:g2:{channel_id}" for channel_id in channel_ids}
    try:
        cached = store().get_many(list(keys.values()))
    except Exception:
        cached = {}
    guides = {c: ChannelGuides.from_cache_value(cached[k]) for c, k in keys.items() if cached.get(k)}
    missing = [c for c, k in keys.items() if k not in cached]
    if missing:
        found = _read_guides(Channel.objects.filter(pk__in=missing))
        guides.update(found)
        try:
            for channel_id in missing:
                store().set(keys[channel_id], found[channel_id].cache_value() if channel_id in found else (),
                            GUIDE_TTL)
        except Exception:
            pass
    return guides


def _read_guides(channels) -> dict[int, ChannelGuides]:
    """The guides of ``channels`` (a queryset) that have one: one query."""
    found = {}
    for channel_id, *columns in channels.values_list("id", *epg_selectors.GUIDE_FIELDS):
        guides = epg_selectors.guides_from(*columns)
        if guides is not None:
            found[channel_id] = guides
    return found


def _current_guides(channel_ids: set[int]) -> dict[int, ChannelGuides]:
    """:func:`_guides` read from the database (one query): for screens, whose query count must not depend on
    what the cache holds."""
    return _read_guides(Channel.objects.filter(pk__in=channel_ids))


def _on_air(starts: list[tuple[int, dt.datetime]], guides: dict[int, ChannelGuides],
            *fields: str) -> list[Program | None]:
    """The programme (loading only ``fields`` besides what the rule needs) on air for each ``(channel_id, at)``."""
    on_air = epg_selectors.channel_programs_on_air(
        [(guides[channel_id], at) for channel_id, at in starts if channel_id in guides],
        Program.objects.only("id", "epg_source_id", "epg_channel_name", "start", "end", *fields))
    return [on_air.get((guides.get(channel_id), at)) for channel_id, at in starts]


def programs_on_air(starts: list[tuple[int, dt.datetime]]) -> list[int | None]:
    """ID of the programme on the channel's guide at each ``(channel_id, at)`` (start ≤ at < end), or None: one cache read, then one query per
    ``ON_AIR_PER_QUERY`` distinct moments on channels with a guide (none for channels without one).

    Which programme is on air is ``content.epg.selectors``' rule (covering the moment, latest start wins).
    """
    guides = _guides({channel_id for channel_id, _ in starts}) if starts else {}
    return [None if program is None else program.id for program in _on_air(starts, guides)]


def titles_on_air(starts: list[tuple[int, dt.datetime]]) -> list[str | None]:
    """The title of the programme on air for each ``(channel_id, at)`` (as :func:`programs_on_air`), or None:
    the screens' programme of a live session. One query for the guides, then as :func:`programs_on_air`."""
    guides = _current_guides({channel_id for channel_id, _ in starts}) if starts else {}
    return [None if program is None else program.title for program in _on_air(starts, guides, "title")]
