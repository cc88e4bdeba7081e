"""XMLTV documents for tests, and a way to run a fetch synchronously through the services."""

from __future__ import annotations

import datetime as dt
import gzip
from xml.sax.saxutils import escape, quoteattr

from django.utils import timezone

from content.epg import services as epg_services
from content.models import EpgSource, FetchTrigger, Program
from portals.auth import Caller

# Tomorrow 00:00 UTC: every test guide lies in the future, clear of the retention cut-off.
BASE = (timezone.now().astimezone(dt.UTC) + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def at(hours: float) -> dt.datetime:
    """``BASE`` plus some hours, as an aware UTC datetime."""
    return BASE + dt.timedelta(hours=hours)


def xmltv_time(hours: float, offset_minutes: int = 0) -> str:
    """The XMLTV spelling of ``at(hours)`` in a given UTC offset (``20300101120000 +0300``)."""
    local = at(hours) + dt.timedelta(minutes=offset_minutes)
    sign = "+" if offset_minutes >= 0 else "-"
    hh, mm = divmod(abs(offset_minutes), 60)
    return local.strftime("%Y%m%d%H%M%S") + f" {sign}{hh:02d}{mm:02d}"


def program(channel: str, start: float | str, stop: float | str | None = None, title: str | None = "Show",
              *, offset: int = 0, body: str = "", **fields) -> str:
    """One ``<programme>``; ``start``/``stop`` are hours after BASE (or literal XMLTV times)."""
    attrs = f"start={quoteattr(start if isinstance(start, str) else xmltv_time(start, offset))}"
    if stop is not None:
        attrs += f" stop={quoteattr(stop if isinstance(stop, str) else xmltv_time(stop, offset))}"
    inner = f'<title lang="en">{escape(title)}</title>' if title is not None else ""
    for tag, value in fields.items():
        inner += f"<{tag.replace('_', '-')}>{escape(value)}</{tag.replace('_', '-')}>"
    return f"  <programme {attrs} channel={quoteattr(channel)}>{inner}{body}</programme>\n"


def guide(*programs: str, doctype: bool = True, channels: tuple[str, ...] = ()) -> bytes:
    """A complete XMLTV document."""
    head = '<?xml version="1.0" encoding="UTF-8"?>\n'
    if doctype:
        head += '<!DOCTYPE tv SYSTEM "xmltv.dtd">\n'
    listed = "".join(f'  <channel id={quoteattr(c)}><display-name>{escape(c)}</display-name></channel>\n'
                     for c in channels)
    return (head + '<tv generator-info-name="catena-tests">\n' + listed + "".join(programs) + "</tv>\n").encode()


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def make_source(portal, name: str = "main-epg", url: str = "https://epg.example.com/guide.xml", **extra) -> EpgSource:
    return epg_services.create_epg_source(portal, caller=Caller(portal=portal), data={"name": name, "url": url, **extra})


def fetch_now(source: EpgSource):
    """Queue a fetch of ``source`` and run it here, synchronously, as the worker would; the finished fetch."""
    fetch, _ = epg_services.request_fetch(source, trigger=FetchTrigger.MANUAL)
    return epg_services.run_fetch(fetch.id)


def stored(source: EpgSource) -> list[tuple]:
    """The source's programmes as ``(channel, start, end, title)``, by channel and start."""
    return list(Program.objects.filter(epg_source=source).order_by("epg_channel_name", "start")
                .values_list("epg_channel_name", "start", "end", "title"))


def every_page(api, url: str, key: str, first: dict | None = None) -> list[dict]:
    """The items of a keyset-paginated list: ``first`` (or the first page of ``url``), then each ``next``."""
    page = first if first is not None else api.get(url).json()
    items = list(page[key])
    while page["next"]:
        page = api.get(f"{url}{'&' if '?' in url else '?'}cursor={page['next']}").json()
        items += page[key]
    return items
