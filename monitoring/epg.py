"""The programme on air on a channel at a moment (a play session's ``programId``).

Programmes are stored by the EPG import in ``content.Program`` (epg_source, epg_channel_name, start, end); a
channel points at its guide with ``epg_source`` + ``epg_channel_name``. Until that model exists every lookup
answers None without touching the database.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist, FieldError

from content.models import Channel
from subscribers.playback_cache import store

log = logging.getLogger(__name__)


def program_model():
    """``content.Program`` once the EPG app defines it, else None."""
    try:
        return apps.get_model("content", "Program")
    except LookupError:
        return None


def _field(model, *names: str) -> str | None:
    """The first of ``names`` that the model has (the EPG model's names were still settling)."""
    for name in names:
        try:
            model._meta.get_field(name)
            return name
        except FieldDoesNotExist:
            continue
    return None


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
    """:func:`program_on_air` for many ``(channel_id, at)``: one cache read, a query per channel with a guide."""
    program = program_model()
    if program is None or not starts:
        return [None] * len(starts)
    source, end = _field(program, "epg_source", "source"), _field(program, "end", "stop")
    if source is None or end is None:
        log.error("content.Program has no source/end field; programId left empty")
        return [None] * len(starts)
    guides = _guides({channel_id for channel_id, _ in starts})
    found = []
    for channel_id, at in starts:
        guide = guides.get(channel_id)
        if guide is None:
            found.append(None)
            continue
        try:
            # The unique (source, channel, start) index: the last programme starting at or before ``at``.
            found.append(program.objects.filter(**{f"{source}_id": guide[0], "epg_channel_name": guide[1],
                                                   "start__lte": at, f"{end}__gt": at})
                         .order_by("-start").values_list("id", flat=True).first())
        except FieldError:  # the model's fields differ from the plan: no programme rather than a failed session
            log.exception("content.Program has unexpected fields; programId left empty")
            found.append(None)
    return found
