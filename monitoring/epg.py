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


def _guide(channel_id: int) -> tuple[int, str] | None:
    """The channel's ``(epg_source_id, epg_channel_name)``, or None; cached for a few minutes.

    Only ``programId`` of new sessions depends on it (never a playback decision), so a guide change may
    take ``GUIDE_TTL`` to show there; in exchange a channel without a guide costs no query at all.
    """
    key = f"pb:g:{channel_id}"
    try:
        cached = store().get_many([key]).get(key)
    except Exception:
        cached = None
    if cached is not None:
        return cached or None
    row = Channel.objects.filter(pk=channel_id).values_list("epg_source_id", "epg_channel_name").first()
    guide = (row[0], row[1]) if row is not None and row[0] and row[1] else ()
    try:
        store().set(key, guide, GUIDE_TTL)
    except Exception:
        pass
    return guide or None


def program_on_air(channel_id: int, at: dt.datetime) -> int | None:
    """ID of the programme on the channel's guide at ``at`` (start ≤ at < end), or None."""
    program = program_model()
    if program is None:
        return None
    source, end = _field(program, "epg_source", "source"), _field(program, "end", "stop")
    if source is None or end is None:
        log.error("content.Program has no source/end field; programId left empty")
        return None
    guide = _guide(channel_id)
    if guide is None:
        return None
    try:
        # The unique (source, channel, start) index: the last programme starting at or before ``at``.
        return (program.objects.filter(**{f"{source}_id": guide[0], "epg_channel_name": guide[1], "start__lte": at,
                                          f"{end}__gt": at})
                .order_by("-start").values_list("id", flat=True).first())
    except FieldError:  # the model's fields differ from the plan: no programme rather than a failed session
        log.exception("content.Program has unexpected fields; programId left empty")
        return None
