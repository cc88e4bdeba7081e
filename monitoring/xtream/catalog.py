"""What the Xtream actions list: the subscriber's categories, streams and guide listings (players.md §3).

The channels are those of the subscriber's playback facts (``subscribers.playback_cache``, the access rule's
cache): each function runs a constant number of queries whatever the number of channels, and builds plain
dicts (no model instances, no serializer), since ``get_live_streams`` of 300 channels is asked often.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable

from catena_site.ids import encode_id
from content.models import Category, Channel, ChannelCategory, Program
from content.selectors import CHANNEL_ORDER

DAY = 86400
SHORT_EPG_LIMIT = 4  # what players get without ``limit`` (XC's default)
GUIDE_AHEAD = dt.timedelta(days=7)  # how far ahead the full listing (get_simple_data_table) goes


def _categories_by_channel(channel_ids: Iterable[int]) -> dict[int, list[int]]:
    """``{channel id: [category id, …]}`` in each channel's own order of categories (one query)."""
    found: dict[int, list[int]] = {}
    for channel_id, category_id in (ChannelCategory.objects.filter(channel_id__in=list(channel_ids))
                                    .order_by("position", "id").values_list("channel_id", "category_id")):
        found.setdefault(channel_id, []).append(category_id)
    return found


def live_categories(channel_ids: Iterable[int]) -> list[dict]:
    """``get_live_categories``: the categories holding at least one of these channels, in display order."""
    links = ChannelCategory.objects.filter(channel_id__in=list(channel_ids)).values("category_id")
    return [{"category_id": str(pk), "category_name": title, "parent_id": 0}
            for pk, title in Category.objects.filter(id__in=links).order_by("position", "id").values_list("id", "title")]


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


def channel_rows(portal_id: int, channel_ids: Iterable[int]) -> list[tuple]:
    """``(id, name, title, number, logo etag, archive days, created at)`` of these channels of the portal, in the
    order of the lists (catalog.md: by number, channels without one last, then by title)."""
    return list(Channel.objects.filter(portal_id=portal_id, id__in=list(channel_ids)).order_by(*CHANNEL_ORDER)
                .values_list("id", "name", "title", "number", "logo_etag", "archive_days", "created_at"))


def live_streams(portal_id: int, channel_ids: Iterable[int], *, logo_base: str,
                 category_id: int | None = None) -> list[dict]:
    """``get_live_streams``: one item per channel, numbered (:func:`numbered`); only the channels of one category
    with ``category_id`` (numbers stay those of the whole list, so a channel keeps its number in every view)."""
    rows = channel_rows(portal_id, channel_ids)
    categories = _categories_by_channel(row[0] for row in rows)
    streams = []
    for num, (pk, name, title, _, logo_etag, archive_days, created_at) in zip(numbered(rows), rows):
        own = categories.get(pk, [])
        if category_id is not None and category_id not in own:
            continue
        streams.append({
            "num": num, "name": title, "stream_type": "live", "stream_id": pk,
            "stream_icon": f"{logo_base}{encode_id(pk)}" if logo_etag else "", "epg_channel_id": name,
            "added": str(int(created_at.timestamp())), "category_id": str(own[0]) if own else None,
            "category_ids": own, "custom_sid": "", "tv_archive": 1 if archive_days else 0, "direct_source": "",
            "tv_archive_duration": archive_days,
        })
    return streams


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def has_archive(program_start: dt.datetime, program_end: dt.datetime, archive_days: int, now: dt.datetime) -> bool:
    """Whether a programme can be watched from the channel's archive: it has ended and it started within the
    archive's depth (the same bound the ``timeshift/`` redirect checks)."""
    return bool(archive_days) and program_end <= now and program_start >= now - dt.timedelta(days=archive_days)


def listings(channel: Channel, programs: Iterable[Program], now: dt.datetime) -> dict:
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


def _guide(channel: Channel):
    if not channel.epg_source_id or not channel.epg_channel_name:
        return Program.objects.none()
    return Program.objects.filter(epg_source_id=channel.epg_source_id, epg_channel_name=channel.epg_channel_name)


def short_epg(channel: Channel, limit: int, now: dt.datetime) -> dict:
    """``get_short_epg``: the programme on air and the next ones, ``limit`` in all (one query)."""
    return listings(channel, _guide(channel).filter(end__gt=now).order_by("start")[:limit], now)


def simple_data_table(channel: Channel, now: dt.datetime) -> dict:
    """``get_simple_data_table``: the channel's guide from the start of its archive (at least the last day) to
    ``GUIDE_AHEAD`` ahead, by start time (one query)."""
    since = now - dt.timedelta(days=max(channel.archive_days, 1))
    return listings(channel, _guide(channel).filter(end__gt=since, start__lt=now + GUIDE_AHEAD).order_by("start"),
                    now)
