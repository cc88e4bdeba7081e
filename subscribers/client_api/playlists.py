"""Formats for ordinary IPTV players: extended M3U and XMLTV (gzip, streamed while generated)."""

from __future__ import annotations

import datetime as dt
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from xml.sax.saxutils import escape, quoteattr

from content.epg.selectors import ChannelGuides, channel_guides, guide_between, guide_rows, shifted
from content.models import Program


def _attribute(value: str) -> str:
    """An M3U attribute value: no double quotes or line breaks inside."""
    return value.replace('"', "'").replace("\r", " ").replace("\n", " ")


def _extinf_attributes(entry: dict) -> str:
    """``tvg-id tvg-name [tvg-chno] tvg-logo group-title [radio] [catchup catchup-days]``: the channel number only
    when it has one, ``radio="true"`` only for an audio-only channel, and ``catchup="flussonic"
    catchup-days="<n>"`` only for a channel keeping an archive (players.md §1: players build the archive URL of a
    past programme from the live URL, Flussonic's way; the entry's ``catchup`` names another mode, ``xc`` for
    the Xtream Codes URLs of ``get.php``)."""
    pairs = [("tvg-id", entry["id"]), ("tvg-name", entry["name"])]
    if entry.get("number") is not None:
        pairs.append(("tvg-chno", str(entry["number"])))
    pairs += [("tvg-logo", entry["logo"]), ("group-title", entry["group"])]
    if entry.get("radio"):
        pairs.append(("radio", "true"))
    if entry.get("archive_days"):
        pairs += [("catchup", entry.get("catchup", "flussonic")), ("catchup-days", str(entry["archive_days"]))]
    return " ".join(f'{key}="{_attribute(value)}"' for key, value in pairs)


def m3u(*, guide_url: str, entries: list[dict]) -> str:
    """``#EXTM3U url-tvg=…`` and one ``#EXTINF`` + URL pair per entry."""
    lines = [f'#EXTM3U url-tvg="{_attribute(guide_url)}"']
    for entry in entries:
        title = entry["title"].replace("\r", " ").replace("\n", " ")
        lines.append(f"#EXTINF:-1 {_extinf_attributes(entry)},{title}")
        lines.append(entry["url"])
    return "\n".join(lines) + "\n"


def _xmltv_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S +0000")


def _program_element(channel_id: str, program: Program) -> str:
    lang = f" lang={quoteattr(program.language)}" if program.language else ""
    parts = [f"<programme start=\"{_xmltv_time(program.start)}\" stop=\"{_xmltv_time(program.end)}\" "
             f"channel={quoteattr(channel_id)}>", f"<title{lang}>{escape(program.title)}</title>"]
    if program.subtitle:
        parts.append(f"<sub-title{lang}>{escape(program.subtitle)}</sub-title>")
    if program.description:
        parts.append(f"<desc{lang}>{escape(program.description)}</desc>")
    if program.genre:
        parts.append(f"<category{lang}>{escape(program.genre)}</category>")
    if program.episode:
        parts.append(f"<episode-num system=\"onscreen\">{escape(program.episode)}</episode-num>")
    if program.icon:
        parts.append(f"<icon src={quoteattr(program.icon)} />")
    if program.rating:
        parts.append(f"<rating><value>{escape(program.rating)}</value></rating>")
    parts.append("</programme>\n")
    return "".join(parts)


def xmltv(channels, start: dt.datetime, stop: dt.datetime, *, logo: Callable,
          since: Callable | None = None) -> Iterator[str]:
    """XMLTV of these channels' programmes overlapping [start, stop), generated piece by piece; with ``since``
    (channel → moment), each channel's programmes overlap [since(channel), stop) instead."""
    yield '<?xml version="1.0" encoding="UTF-8"?>\n<tv generator-info-name="Catena">\n'
    # Channels with one guide share one streamed query (its rows shifted by each channel's offset); a channel
    # merging several guides is read and merged on its own (content.epg.selectors.guide_between).
    by_guide: dict[tuple[int, str], list[tuple[str, dt.datetime, ChannelGuides]]] = defaultdict(list)
    merged: list[tuple[str, dt.datetime, ChannelGuides]] = []
    for channel in channels:
        icon = logo(channel)
        yield (f"<channel id={quoteattr(channel.name)}><display-name>{escape(channel.title)}</display-name>"
               + (f"<icon src={quoteattr(icon)} />" if icon else "") + "</channel>\n")
        guides = channel_guides(channel)
        if guides is not None:
            entry = (channel.name, since(channel) if since is not None else start, guides)
            (merged.append(entry) if guides.merged else by_guide[guides.guides[0]].append(entry))
    if by_guide:
        entries = [entry for guide in by_guide.values() for entry in guide]
        programs = (guide_rows([guides for _, _, guides in entries], min(moment for _, moment, _ in entries), stop)
                    .order_by("epg_source_id", "epg_channel_name", "start")
                    .iterator(chunk_size=2000))
        for program in programs:
            for channel_id, moment, guides in by_guide.get((program.epg_source_id, program.epg_channel_name), ()):
                if program.end + guides.offset > moment and program.start + guides.offset < stop:
                    yield _program_element(channel_id, shifted(program, guides.offset))
    for channel_id, moment, guides in merged:
        for program in guide_between(guides, moment, stop):
            yield _program_element(channel_id, program)
    yield "</tv>\n"


def gzip_chunks(pieces: Iterable[str], *, flush_every: int = 256 * 1024) -> Iterator[bytes]:
    """Gzip a stream of text pieces into chunks of roughly ``flush_every`` bytes of input."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    pending: list[bytes] = []
    size = 0
    for piece in pieces:
        data = piece.encode("utf-8")
        pending.append(data)
        size += len(data)
        if size >= flush_every:
            out = compressor.compress(b"".join(pending))
            pending, size = [], 0
            if out:
                yield out
    yield compressor.compress(b"".join(pending)) + compressor.flush()
