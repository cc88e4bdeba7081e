"""Location restrictions as the auth check reads them: a compact text per restricted channel, decided by bisect.

A channel with ``locationRestrictions`` plays only for a viewer whose address is in one of its locations'
``networks`` or whose country (the streaming server's GeoIP guess, when it sends one) is one of their
``countries``. The playback cache keeps, per restricted channel, the union of its locations as one text built
by :func:`encode` on a cache miss::

    FI,SE;0a000000-0a0000ff,c0000200-c00002ff;20010db8000000000000000000000000-20010db8ffffffffffffffffffffffff

countries, then the IPv4 and the IPv6 networks as sorted, merged, inclusive ranges of fixed-width lower-case
hex (8 digits for IPv4, 32 for IPv6), so that comparing the texts compares the addresses. The same text is
decided here (:class:`Restriction`, parsed once per process and distinct text: content-addressed, never stale)
and by the Redis script of ``subscribers.playback_cache`` (a binary search over the fixed-width records), both
from a viewer *key* (:func:`viewer_key`): ``4:<8 hex>`` or ``6:<32 hex>`` and an upper-case country.
"""

from __future__ import annotations

import ipaddress
import re
from bisect import bisect_right
from collections.abc import Iterable
from typing import NamedTuple

MAX_PARSED = 4096  # distinct restriction texts kept parsed per process (then the memo starts afresh)
WIDTH = {4: 8, 6: 32}  # hex digits of an address
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")


class Viewer(NamedTuple):
    """Where a viewer is, as restrictions compare it: ``address`` ``4:<hex>``/``6:<hex>`` or "" (none or not an
    address), ``country`` two upper-case letters or ""."""

    address: str = ""
    country: str = ""


def viewer_key(ip: str | None, country: str | None) -> Viewer:
    """The :class:`Viewer` of an ``ip`` and ``country`` as the streaming server sends them (an IPv4-mapped IPv6
    address counts as its IPv4 address; anything that is not an address or a country code counts as absent)."""
    address = ""
    if ip:
        try:
            parsed = ipaddress.ip_address(ip.strip())
        except ValueError:
            parsed = None
        if parsed is not None:
            if parsed.version == 6 and parsed.ipv4_mapped is not None:
                parsed = parsed.ipv4_mapped
            address = f"{parsed.version}:{int(parsed):0{WIDTH[parsed.version]}x}"
    return Viewer(address, country.upper() if country and _COUNTRY.match(country) else "")


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, overlapping or adjacent ranges joined."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def encode(locations: Iterable[tuple[Iterable[str], Iterable[str]]]) -> str:
    """The restriction text of a channel restricted to these ``(countries, networks)`` locations."""
    countries: set[str] = set()
    ranges: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
    for location_countries, networks in locations:
        countries.update(code.upper() for code in location_countries or ())
        for text in networks or ():
            network = ipaddress.ip_network(text, strict=False)
            ranges[network.version].append((int(network.network_address), int(network.broadcast_address)))
    parts = [",".join(sorted(countries))]
    for version, width in WIDTH.items():
        parts.append(",".join(f"{start:0{width}x}-{end:0{width}x}" for start, end in _merged(ranges[version])))
    return ";".join(parts)


class Restriction:
    """One restriction text, parsed: :meth:`allows` answers with a set lookup and a bisect."""

    __slots__ = ("countries", "starts", "ends")

    def __init__(self, text: str):
        countries, v4, v6 = text.split(";")
        self.countries = frozenset(filter(None, countries.split(",")))
        self.starts: dict[str, list[str]] = {}
        self.ends: dict[str, list[str]] = {}
        for version, ranges in (("4", v4), ("6", v6)):
            pairs = [item.split("-") for item in ranges.split(",") if item]
            self.starts[version] = [start for start, _ in pairs]
            self.ends[version] = [end for _, end in pairs]

    def allows(self, viewer: Viewer) -> bool:
        """Whether this viewer is in one of the countries or in one of the networks."""
        if viewer.country and viewer.country in self.countries:
            return True
        version, _, key = viewer.address.partition(":")
        starts = self.starts.get(version)
        if not starts:
            return False
        index = bisect_right(starts, key) - 1
        return index >= 0 and key <= self.ends[version][index]


_parsed: dict[str | bytes, Restriction] = {}


def parse(raw: str | bytes) -> Restriction:
    """The :class:`Restriction` of a restriction text (as stored: ``str`` or Redis's ``bytes``), memoised."""
    found = _parsed.get(raw)
    if found is None:
        if len(_parsed) >= MAX_PARSED:
            _parsed.clear()
        found = _parsed[raw] = Restriction(raw.decode() if isinstance(raw, bytes) else raw)
    return found


def allows(raw: str | bytes | None, viewer: Viewer) -> bool:
    """Whether a channel with restriction text ``raw`` (None or empty: unrestricted) plays for this viewer."""
    return not raw or parse(raw).allows(viewer)


# The same decision in the Redis script (``subscribers.playback_cache``): ``located(text, address, country)``.
LUA = """
local function inside(ranges, key, width)
  local stride = 2 * width + 2
  local lo, hi = 0, math.floor((#ranges + 1) / stride) - 1
  while lo <= hi do
    local mid = math.floor((lo + hi) / 2)
    local at = mid * stride + 1
    if string.sub(ranges, at, at + width - 1) > key then hi = mid - 1
    elseif string.sub(ranges, at + width + 1, at + 2 * width) < key then lo = mid + 1
    else return true end
  end
  return false
end
local function located(text, address, country)
  local countries, v4, v6 = string.match(text, '^([^;]*);([^;]*);(.*)$')
  if country ~= '' and string.find(',' .. countries .. ',', ',' .. country .. ',', 1, true) then return true end
  local version, key = string.sub(address, 1, 2), string.sub(address, 3)
  if version == '4:' then return inside(v4, key, 8) end
  if version == '6:' then return inside(v6, key, 32) end
  return false
end
"""
