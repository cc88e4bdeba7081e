"""The programme an archive (``dvr``) play session watches: its ``programId`` (streaming.md §2, players.md §1).

The manual's ``programId`` is "the program ID if watching from archive; null for live". The archive position
comes from the client's query string (``from`` or ``utc``, Unix seconds, as catch-up players send them) or
from a Flussonic archive URL (``/<name>/index-<from>-<duration>.m3u8``, ``archive-<from>-<duration>.m3u8``)
when the streaming server passes one on. A live session never gets a programme: the screens compute what was
on air for it (``monitoring.on_air``).

Looked up when the session is written (an auth ``new_session`` that writes, the buffered starts, an event
batch), never on a warm auth check.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from urllib.parse import parse_qs

from .on_air import programs_on_air

POSITION_PARAMETERS = ("from", "utc")
_ARCHIVE_URL = re.compile(r"(?:^|/)(?:index|archive)-(\d{1,11})-(?:\d{1,11}|now)\.(?:m3u8|mpd|ts)(?:$|[?#])")
LATEST_POSITION = 32503680000  # year 3000, in seconds: anything later is no archive position


def _moment(text: str) -> dt.datetime | None:
    """A Unix time in seconds (digits only, after 1970 and before the year 3000), else None."""
    if not (0 < len(text) <= 11 and text.isascii() and text.isdigit()) or not 0 < int(text) < LATEST_POSITION:
        return None
    return dt.datetime.fromtimestamp(int(text), dt.UTC)


def _parameters(query_string: str) -> dict[str, list[str]]:
    try:
        return parse_qs(query_string.lstrip("?"), max_num_fields=100) if "=" in query_string else {}
    except ValueError:  # more fields than any player sends
        return {}


def position(query_string: str | None, url: str | None = None) -> dt.datetime | None:
    """The archive position a client asked for: ``from``/``utc`` of its query string, else ``<from>`` of an
    archive URL (the ``url`` given, or one inside the query string); None when neither says it."""
    query_string = query_string if isinstance(query_string, str) else ""
    values = _parameters(query_string)
    for name in POSITION_PARAMETERS:
        for value in values.get(name, ()):
            moment = _moment(value.strip())
            if moment is not None:
                return moment
    for text in (url, query_string):
        found = _ARCHIVE_URL.search(text) if isinstance(text, str) and text else None
        if found:
            return _moment(found.group(1))
    return None


def program_id(channel_id: int, at: dt.datetime | None) -> int | None:
    """ID of the programme on the channel's guide at archive position ``at``; None without a position."""
    return programs_on_air([(channel_id, at)])[0] if at is not None else None


def fill_program_ids(sessions: Iterable[tuple[object, dt.datetime | None]]) -> list:
    """Give each archive session of ``(session, archive position)`` that has no programme yet the programme at
    its position (one batched look-up); returns the sessions that got one. Live sessions are left alone."""
    wanted = [(session, at) for session, at in sessions
              if session.dvr and session.program_id is None and at is not None]
    if not wanted:
        return []
    found = programs_on_air([(session.channel_id, at) for session, at in wanted])
    filled = []
    for (session, _), program in zip(wanted, found):
        if program is not None:
            session.program_id = program
            filled.append(session)
    return filled
