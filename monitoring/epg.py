"""The programme on air on a channel at a moment (a play session's ``programId``).

Programmes are stored by the EPG import in ``content.Program`` (source, epg_channel_name, start, stop); a
channel points at its guide with ``epg_source`` + ``epg_channel_name``. Until that model exists every lookup
answers None without touching the database.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist, FieldError
from django.db.models import F

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


def program_on_air(channel_id: int, at: dt.datetime) -> int | None:
    """ID of the programme on the channel's guide at ``at`` (start ≤ at < end), or None."""
    program = program_model()
    if program is None:
        return None
    source, end = _field(program, "source", "epg_source"), _field(program, "stop", "end")
    if source is None or end is None:
        log.error("content.Program has no source/end field; programId left empty")
        return None
    try:
        # One query: the channel's guide (source + EPG channel name) joined to the programmes on it.
        return (program.objects.filter(**{f"{source}__channels__id": channel_id,
                                          "epg_channel_name": F(f"{source}__channels__epg_channel_name"),
                                          "start__lte": at, f"{end}__gt": at})
                .order_by("-start").values_list("id", flat=True).first())
    except FieldError:  # the model's fields differ from the plan: no programme rather than a failed session
        log.exception("content.Program has unexpected fields; programId left empty")
        return None
