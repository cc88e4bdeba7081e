"""A strict extended-M3U parser for the tests of ``playlist.m3u``: anything a picky player could choke on fails."""

from __future__ import annotations

import re

# The attributes an #EXTINF line may carry, and those it must.
KNOWN = {"tvg-id", "tvg-name", "tvg-chno", "tvg-logo", "group-title", "radio", "catchup", "catchup-days"}
REQUIRED = {"tvg-id", "tvg-name", "tvg-logo", "group-title"}
CATCHUP_MODES = {"flussonic", "xc"}  # Kodi's and TiviMate's: Flussonic URLs, and Xtream Codes timeshift/ URLs
CATCHUP_DAYS = re.compile(r"[1-9][0-9]{0,2}")  # 1–365: a channel's archiveDays
ATTRIBUTE = re.compile(r' ([a-z-]+)="([^"\r\n]*)"')
EXTINF = re.compile(r'#EXTINF:-1((?: [a-z-]+="[^"\r\n]*")+),([^\r\n]+)')


def parse_m3u(text: str) -> tuple[str, list[dict]]:
    """``(url-tvg, entries)``: the header first, then #EXTINF + URL pairs and nothing else. Each #EXTINF is
    ``#EXTINF:-1 key="value" …,title`` with known keys, each at most once, the required ones present, catch-up
    as Kodi and TiviMate read it (``catchup="flussonic"`` or ``"xc"`` with ``catchup-days`` of 1–365, both or neither); each
    URL line an absolute http(s) URL. An entry is ``{"attributes": {key: value}, "title", "url"}``."""
    assert text.endswith("\n") and "\r" not in text
    lines = text.split("\n")[:-1]
    header = re.fullmatch(r'#EXTM3U url-tvg="(https?://[^"\s]+)"', lines[0])
    assert header, lines[0]
    assert (len(lines) - 1) % 2 == 0, "an #EXTINF line without its URL"
    entries = []
    for info, url in zip(lines[1::2], lines[2::2]):
        match = EXTINF.fullmatch(info)
        assert match, info
        pairs = ATTRIBUTE.findall(match[1])
        keys = [key for key, _ in pairs]
        assert len(keys) == len(set(keys)), f"an attribute twice: {info}"
        assert set(keys) <= KNOWN, f"unknown attributes {set(keys) - KNOWN}: {info}"
        assert REQUIRED <= set(keys), f"missing attributes {REQUIRED - set(keys)}: {info}"
        _check_catchup(dict(pairs), info)
        assert re.fullmatch(r"https?://\S+", url), url
        entries.append({"attributes": dict(pairs), "title": match[2], "url": url})
    return header[1], entries



def _check_catchup(attributes: dict, info: str) -> None:
    """``catchup`` and ``catchup-days`` come together: the Flussonic (or Xtream Codes) mode and a whole number of
    days (1–365)."""
    if "catchup" not in attributes and "catchup-days" not in attributes:
        return
    assert attributes.get("catchup") in CATCHUP_MODES, f"catch-up mode: {info}"
    days = attributes.get("catchup-days", "")
    assert CATCHUP_DAYS.fullmatch(days) and int(days) <= 365, f"catch-up days: {info}"
