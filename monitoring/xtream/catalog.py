"""What the Xtream actions list: the subscriber's categories, streams and guide listings (players.md §3).

The channels are those of the subscriber's playback facts (``subscribers.playback_cache``, the access rule's
cache); what the lists show of them comes from the portal's catalog (:func:`portal_catalog`), kept per process
and validated by one query on each use. Each function runs a constant number of queries whatever the number of
channels, and builds plain dicts (no model instances, no serializer), since ``get_live_streams`` of 300 channels
is asked often.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time
from collections.abc import Iterable
from typing import NamedTuple

from django.db import connection

from catena_site.ids import encode_id
from content.epg.selectors import GUIDE_FIELDS, channel_guides, guide_between
from content.models import Category, Channel, ChannelCategory, Program
from content.selectors import CHANNEL_ORDER

DAY = 86400
SHORT_EPG_LIMIT = 4  # what players get without ``limit`` (XC's default)
GUIDE_AHEAD = dt.timedelta(days=7)  # how far ahead the full listing (get_simple_data_table) goes


class PortalCatalog(NamedTuple):
    """What the stream and category lists show of a portal's channels, whoever watches: every channel's row in the
    order of the lists, its categories, the categories in display order."""

    version: tuple  # :func:`catalog_version` when read
    rows: list[tuple]  # (id, name, title, number, logo etag, archive days, created at), ordered as the lists
    categories: dict[int, list[int]]  # channel id → its category IDs, in the channel's order
    ordered_categories: list[tuple[int, str]]  # (id, title) of the portal's categories in display order
    read_at: float  # time.monotonic() when read
    answers: dict  # (watchable channel IDs, logo base, category) → get_live_streams' JSON (live_streams_json)


# Per process: {portal id: PortalCatalog}. Each use validates it with one aggregate query (:func:`catalog_version`);
# every change of a channel or a category saves its ``updated_at`` (the services, the EPG source's renames and
# unlinks included) or changes a count, so a change shows on the next request. ``CATALOG_MAX_AGE`` bounds the one
# case the version cannot see: two changes committing in the reverse order of their timestamps while a catalog is
# read in between.
_catalogs: dict[int, PortalCatalog] = {}
CATALOG_MAX_AGE = 60.0
ANSWERS_PER_CATALOG = 32


# Raw SQL on purpose: it runs on every list request, and compiling the ORM's four subqueries costs several
# times what the database spends answering them.
_VERSION_SQL = ("SELECT (SELECT COUNT(*) FROM {channels} WHERE portal_id = %s), "
                "(SELECT MAX(updated_at) FROM {channels} WHERE portal_id = %s), "
                "(SELECT COUNT(*) FROM {categories} WHERE portal_id = %s), "
                "(SELECT MAX(updated_at) FROM {categories} WHERE portal_id = %s)")


def catalog_version(portal_id: int) -> tuple:
    """``(channels, latest channel change, categories, latest category change)`` of the portal: one query."""
    sql = _VERSION_SQL.format(channels=connection.ops.quote_name(Channel._meta.db_table),
                              categories=connection.ops.quote_name(Category._meta.db_table))
    with connection.cursor() as cursor:
        cursor.execute(sql, [portal_id] * 4)
        return tuple(cursor.fetchone())


def portal_catalog(portal_id: int) -> PortalCatalog:
    """The portal's :class:`PortalCatalog`, read again (three queries) only when it changed."""
    version = catalog_version(portal_id)
    cached = _catalogs.get(portal_id)
    if cached is not None and cached.version == version and time.monotonic() - cached.read_at < CATALOG_MAX_AGE:
        return cached
    rows = list(Channel.objects.filter(portal_id=portal_id).order_by(*CHANNEL_ORDER)
                .values_list("id", "name", "title", "number", "logo_etag", "archive_days", "created_at"))
    categories: dict[int, list[int]] = {}
    for channel_id, category_id in (ChannelCategory.objects.filter(category__portal_id=portal_id)
                                    .order_by("position", "id").values_list("channel_id", "category_id")):
        categories.setdefault(channel_id, []).append(category_id)
    ordered = list(Category.objects.filter(portal_id=portal_id).order_by("position", "id").values_list("id", "title"))
    catalog = PortalCatalog(version, rows, categories, ordered, time.monotonic(), {})
    _catalogs[portal_id] = catalog
    return catalog


def live_categories(portal_id: int, watchable: set[int]) -> list[dict]:
    """``get_live_categories``: the portal's categories holding at least one watchable channel, in display
    order."""
    catalog = portal_catalog(portal_id)
    holding = {category for channel_id, own in catalog.categories.items() if channel_id in watchable for category in own}
    return [{"category_id": str(pk), "category_name": title, "parent_id": 0}
            for pk, title in catalog.ordered_categories if pk in holding]


def numbered(rows: list[tuple]) -> list[int]:
    """The ``num`` of each channel of an ordered list (``number`` is each row's item 3): its own number, and for
    the channels without one (listed after every numbered channel) the numbers after the highest, in order — so
    numbers are unique and a player's channel numbers match the portal's where the portal gives one."""
    highest = max((row[3] for row in rows if row[3] is not None), default=0)
    nums = []
    for row in rows:
        if row[3] is None:
            highest += 1
            nums.append(highest)
        else:
            nums.append(row[3])
    return nums


def live_streams(portal_id: int, watchable: set[int], *, logo_base: str, category_id: int | None = None) -> list[dict]:
    """``get_live_streams``: one item per watchable channel, in the order of the lists (catalog.md: by number,
    channels without one last, then by title) and numbered (:func:`numbered`); only the channels of one category
    with ``category_id`` (numbers stay those of the whole list, so a channel keeps its number in every view)."""
    catalog = portal_catalog(portal_id)
    rows = [row for row in catalog.rows if row[0] in watchable]
    streams = []
    for num, (pk, name, title, _, logo_etag, archive_days, created_at) in zip(numbered(rows), rows):
        own = catalog.categories.get(pk, [])
        if category_id is not None and category_id not in own:
            continue
        streams.append({
            "num": num, "name": title, "stream_type": "live", "stream_id": pk,
            "stream_icon": f"{logo_base}{encode_id(pk)}" if logo_etag else "", "epg_channel_id": name,
            "added": str(int(created_at.timestamp())), "category_id": str(own[0]) if own else None,
            "category_ids": list(own), "custom_sid": "", "tv_archive": 1 if archive_days else 0, "direct_source": "",
            "tv_archive_duration": archive_days,
        })
    return streams


def live_streams_json(portal_id: int, watchable: set[int], *, logo_base: str, category_id: int | None = None) -> bytes:
    """:func:`live_streams` as the JSON answer. It names no subscriber, so subscribers with the same channels
    share it: kept with the portal's catalog (so dropped with it when the catalog changes), at most
    ``ANSWERS_PER_CATALOG`` of them, the oldest dropped first."""
    catalog = portal_catalog(portal_id)
    key = (frozenset(watchable), logo_base, category_id)
    found = catalog.answers.get(key)
    if found is None:
        found = dumps(live_streams(portal_id, watchable, logo_base=logo_base, category_id=category_id))
        keep(catalog.answers, key, found, ANSWERS_PER_CATALOG)
    return found


_keeping = threading.Lock()


def keep(kept: dict, key, value, most: int) -> None:
    """``kept[key] = value`` in a per-process dict of at most ``most`` items, dropping the oldest first (safe
    with a threaded server)."""
    with _keeping:
        while len(kept) >= most:
            del kept[next(iter(kept))]
        kept[key] = value


def forget(kept: dict, key) -> None:
    """Drop ``key`` from a dict :func:`keep` fills (under its lock: ``keep`` may be dropping the oldest)."""
    with _keeping:
        kept.pop(key, None)


def dumps(body) -> bytes:
    """The compact JSON of an answer."""
    return json.dumps(body, separators=(",", ":")).encode()


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def has_archive(program_start: dt.datetime, program_end: dt.datetime, archive_days: int, now: dt.datetime) -> bool:
    """Whether a programme can be watched from the channel's archive: it has ended and it started within the
    archive's depth (the same bound the ``timeshift/`` redirect checks)."""
    return bool(archive_days) and program_end <= now and program_start >= now - dt.timedelta(days=archive_days)


def listings(channel: Channel | _Listed, programs: Iterable, now: dt.datetime) -> dict:
    """``{"epg_listings": [...]}`` of these programmes of the channel: titles and descriptions base64-encoded,
    times in UTC (``server_info.timezone``)."""
    return {"epg_listings": [{
        "id": str(program.id), "epg_id": str(program.epg_source_id), "title": _b64(program.title),
        "lang": program.language, "start": _time(program.start), "end": _time(program.end),
        "description": _b64(program.description), "channel_id": channel.name,
        "start_timestamp": str(int(program.start.timestamp())), "stop_timestamp": str(int(program.end.timestamp())),
        "has_archive": 1 if has_archive(program.start, program.end, channel.archive_days, now) else 0,
        "now_playing": 1 if program.start <= now < program.end else 0,
    } for program in programs]}


class _Listed(NamedTuple):
    """What :func:`listings` reads of a channel and of a programme (``short_epg``'s query gives these)."""

    name: str
    archive_days: int


class _Program(NamedTuple):
    id: int
    epg_source_id: int
    title: str
    language: str
    start: dt.datetime
    end: dt.datetime
    description: str


# Raw SQL on purpose (as ``_VERSION_SQL``): the channel and its next programmes in one query, the channel's row
# alone (NULL programme) when its guide has none, no row when the portal has no such channel. The channel's
# further sources and offset come along: a channel that merges or shifts its guide is read by the EPG selectors.
_SHORT_EPG_SQL = ("SELECT c.name, c.archive_days, c.epg_extra_sources, c.epg_offset_minutes, p.id, "
                  "p.epg_source_id, p.title, p.language, p.{start}, p.{end}, p.description "
                  "FROM {channels} c LEFT JOIN {programs} p ON p.epg_source_id = c.epg_source_id "
                  "AND p.epg_channel_name = c.epg_channel_name AND c.epg_channel_name <> '' AND p.{end} > %s "
                  "AND p.{start} < %s WHERE c.portal_id = %s AND c.id = %s ORDER BY p.{start}, p.id LIMIT %s")


def _aware(value) -> dt.datetime:
    """A datetime column read by raw SQL: aware on PostgreSQL; naive UTC (or its text) on SQLite."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def short_epg(portal_id: int, channel_id: int, limit: int, now: dt.datetime) -> dict | None:
    """``get_short_epg``: the programme on air and the next ones within ``GUIDE_AHEAD``, ``limit`` in all, of the
    portal's channel; None when the portal has no such channel. One query for a channel with one guide and no
    offset (most of them); one more for a channel whose guide is merged from several sources or shifted."""
    quote = connection.ops.quote_name
    sql = _SHORT_EPG_SQL.format(channels=quote(Channel._meta.db_table), programs=quote(Program._meta.db_table),
                                start=quote("start"), end=quote("end"))
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(sql, [adapt(now), adapt(now + GUIDE_AHEAD), portal_id, channel_id, limit])
        rows = cursor.fetchall()
    if not rows:
        return None
    name, archive_days, extra_sources, offset_minutes = rows[0][:4]
    if isinstance(extra_sources, str):  # SQLite gives the JSON column's text
        extra_sources = json.loads(extra_sources)
    if extra_sources or offset_minutes:
        channel = Channel.objects.only("id", "name", "archive_days", *GUIDE_FIELDS).get(pk=channel_id)
        guides = channel_guides(channel)
        return listings(channel, [] if guides is None else guide_between(guides, now, now + GUIDE_AHEAD)[:limit], now)
    programs = [_Program(pk, source, title, language, _aware(start), _aware(end), description)
                  for _, _, _, _, pk, source, title, language, start, end, description in rows if pk is not None]
    return listings(_Listed(name, archive_days), programs, now)


def simple_data_table(channel: Channel, now: dt.datetime) -> dict:
    """``get_simple_data_table``: the channel's guide (merged, shifted) from the start of its archive (at least the
    last day) to ``GUIDE_AHEAD`` ahead, by start time (one query)."""
    since = now - dt.timedelta(days=max(channel.archive_days, 1))
    guides = channel_guides(channel)
    return listings(channel, [] if guides is None else guide_between(guides, since, now + GUIDE_AHEAD), now)
