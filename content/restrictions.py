"""Location restrictions as the auth check reads them: a compact text per restricted channel, decided by bisect.

A channel with ``locationRestrictions`` plays only for a viewer whose address is in one of its locations'
``networks`` or whose country (the streaming server's GeoIP guess, when it sends one) is one of their
``countries``. The playback cache keeps, per restricted channel, the union of its locations as one text —
``countries;IPv4 ranges;IPv6 ranges`` (``FI,SE;167772160-184549375;…``: sorted, merged, inclusive integer
ranges) — built by :func:`encode` on a cache miss. A check turns the text into a :class:`Restriction` once per
process and distinct text (:func:`parse`; content-addressed, so never stale), then answers with a bisect.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_right
from collections.abc import Iterable

MAX_PARSED = 4096  # distinct restriction texts kept parsed per process (then the memo starts afresh)


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
    for version in (4, 6):
        parts.append(",".join(f"{start}-{end}" for start, end in _merged(ranges[version])))
    return ";".join(parts)


class Restriction:
    """One restriction text, parsed: :meth:`allows` answers with a set lookup and a bisect."""

    __slots__ = ("countries", "starts", "ends")

    def __init__(self, text: str):
        countries, v4, v6 = text.split(";")
        self.countries = frozenset(filter(None, countries.split(",")))
        self.starts: dict[int, list[int]] = {}
        self.ends: dict[int, list[int]] = {}
        for version, ranges in ((4, v4), (6, v6)):
            pairs = [tuple(int(n) for n in item.split("-")) for item in ranges.split(",") if item]
            self.starts[version] = [start for start, _ in pairs]
            self.ends[version] = [end for _, end in pairs]

    def allows(self, ip: str | None, country: str | None) -> bool:
        """Whether a viewer at ``ip`` (text; absent or not an address: in no network) in ``country`` may play."""
        if country and country.upper() in self.countries:
            return True
        address = _address(ip)
        if address is None:
            return False
        version, number = address
        index = bisect_right(self.starts[version], number) - 1
        return index >= 0 and number <= self.ends[version][index]


def _address(ip: str | None) -> tuple[int, int] | None:
    """``(IP version, integer)`` of an address text; an IPv4-mapped IPv6 address counts as its IPv4 address."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.version, int(address)


_parsed: dict[str | bytes, Restriction] = {}


def parse(raw: str | bytes) -> Restriction:
    """The :class:`Restriction` of a restriction text (as stored: ``str`` or Redis's ``bytes``), memoised."""
    found = _parsed.get(raw)
    if found is None:
        if len(_parsed) >= MAX_PARSED:
            _parsed.clear()
        found = _parsed[raw] = Restriction(raw.decode() if isinstance(raw, bytes) else raw)
    return found


def allows(raw: str | bytes | None, ip: str | None, country: str | None) -> bool:
    """Whether a channel with restriction text ``raw`` (None or empty: unrestricted) plays for this viewer."""
    return not raw or parse(raw).allows(ip, country)
