"""Guided mapping: which XMLTV channel of a source each channel of its portal should read its guide from.

Suggestions, for each channel not mapped to the source yet, the first rule that finds one:

1. ``id`` (score 100): the XMLTV id equals the channel's name or title, ignoring case;
2. ``name`` (score 100): a normalised display name (or id) of the XMLTV channel equals the channel's normalised
   title or name (:func:`normalise`);
3. ``fuzzy`` (score 85–99): the closest normalised names by ``difflib`` (ratio ≥ :data:`FUZZY_THRESHOLD`; of names
   equally close, the first by id), but only between names that have the same numbers: "Channel 4" never matches
   "Channel 5", nor "Cinema +1" "Cinema" (a "+1" is another channel, an hour later), and only with the names
   sharing at least half of the channel's pairs of adjacent characters (an index finds those: fast on guides of
   thousands of channels).

Accepting writes the pair through :func:`content.services.update_channel` (its checks, its operation row, its cache
invalidation), all accepted channels in one transaction.

A suggestion depends only on the source's stored XMLTV channels (their ids and names) and the channel's name and
title, so it is computed once and kept in the shared cache (:func:`suggestions_for`): one entry per source and
digest of its stored list (``EpgSource.channels_digest``, written with the list by each import), mapping
``(name, title)`` to its suggestion. The key names what the values depend on, so nothing is ever invalidated: a new
list has another digest (hence another entry), a renamed or new channel another ``(name, title)`` (computed when
first asked for, then kept), and an entry of a list no longer stored is never read again and expires. A successful
fetch fills the entry at the end of its task, once its transaction has committed (:func:`warm_suggestions`), so the
screen's first view after it is fast.
"""

from __future__ import annotations

import difflib
import functools
import logging
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.cache import cache
from django.db import transaction
from django.utils.translation import gettext as _

from catena_site.errors import NotFound
from catena_site.ids import encode_id
from content import services as content_services
from content.inputs import EpgMappingInput
from content.models import Channel, EpgSource, EpgSourceChannel

FUZZY_THRESHOLD = 0.85
QUALITY_WORDS = frozenset({"hd", "fhd", "uhd", "sd", "4k", "hevc"})
_TIMESHIFT = re.compile(r"\+\s*(\d+)")
_ID_SUFFIX = re.compile(r"\.[a-z]{2,3}$")  # "bbcone.uk", "das-erste.de": the id's country or domain part
_WORDS = re.compile(r"[^\W_]+")
_NUMBERS = re.compile(r"\d+")
# Part of every cached suggestion's key: raise it when a change of the rules above changes a suggestion, so no
# entry computed by the old rules is read again.
SUGGESTIONS_VERSION = 1
# How long an entry is kept after it was last written (each fetch of the source writes it): an entry of a list no
# longer stored is never read again, and only this bounds how long it takes room in the cache.
SUGGESTIONS_TTL = 14 * 24 * 3600
# An entry keeps the suggestions of channels renamed since (their old name and title) until it holds this many
# more than asked for; then it is written anew with only the channels asked for.
SUGGESTIONS_SPARE = 1000

log = logging.getLogger(__name__)

# The matcher this process built last, by source and digest of the list it was built from (one, a few MB for
# 20,000 channels): a channel created or retitled after the cache entry was filled is then computed without reading
# and indexing the whole list again. Keyed by what it was built from, so it is never stale.
_last_matcher: dict[tuple[int, str], Matcher] = {}


def _pairs(key: str) -> set[str]:
    """The pairs of adjacent characters of a normalised name (the name itself when shorter)."""
    return {key[index:index + 2] for index in range(len(key) - 1)} or {key}


@functools.lru_cache(maxsize=512)
def _close_lengths(length: int) -> tuple[int, ...]:
    """The lengths of the names whose difflib ratio with a name of ``length`` characters can reach
    :data:`FUZZY_THRESHOLD`: its upper bound ``real_quick_ratio`` (twice the shorter length over both), computed as
    difflib computes it, so leaving the others out changes no suggestion."""
    return tuple(other for other in range(1, int(length * 2 / FUZZY_THRESHOLD) + 2)
                 if 2.0 * min(length, other) / (length + other) >= FUZZY_THRESHOLD)


def normalise(text: str) -> str:
    """The comparable form of a channel name: accents and case folded, a trailing ``.xx`` country part of an id
    dropped, quality words (HD, FHD, UHD, SD, 4K, HEVC) dropped, "+1" kept as the word ``plus1``, then only
    letters and digits (``"BBC One HD"`` → ``bbcone``; ``"Cinema +1"`` → ``cinemaplus1``)."""
    text = text.strip()
    if text.isascii():  # most names: decomposing them changes nothing, and only letters A-Z have a case
        text = text.lower()
    else:
        text = unicodedata.normalize("NFKD", text).casefold()
        text = "".join(char for char in text if not unicodedata.combining(char))
    if "." in text:
        text = _ID_SUFFIX.sub("", text)
    if "+" in text:
        text = _TIMESHIFT.sub(r" plus\1 ", text)
    words = _WORDS.findall(text)
    kept = [word for word in words if word not in QUALITY_WORDS]
    return "".join(kept or words)


@dataclass(frozen=True)
class Suggestion:
    """The XMLTV channel suggested for a channel, by which rule (``id``, ``name`` or ``fuzzy``) and how sure."""

    epg_channel_name: str
    method: str
    score: int


@dataclass
class MappingRow:
    """One channel of the portal beside the source: its current mapping to the source (``""`` when none),
    whether that id is among the source's XMLTV channels, and the suggestion for an unmapped channel."""

    channel: Channel
    mapped_to: str
    known: bool
    suggestion: Suggestion | None

    @property
    def mapped(self) -> bool:
        return bool(self.mapped_to)


def mapped_name(channel: Channel, source: EpgSource) -> str:
    """The EPG channel name ``channel`` reads from ``source`` (its pair or a further source), or ``""``."""
    if channel.epg_source_name == source.name:
        return channel.epg_channel_name
    return next((epg_channel for name, epg_channel, _ in channel.epg_extra_sources if name == source.name), "")


class Matcher:
    """Suggestions against one source's XMLTV channels (built once, asked for each channel)."""

    def __init__(self, xmltv_channels: list[tuple[str, list[str]]]):
        """``xmltv_channels``: ``(XMLTV id, display names)`` pairs in the guide's order by id."""
        self.ids = {xmltv_id.casefold(): xmltv_id for xmltv_id, _ in reversed(xmltv_channels)}
        self.names: dict[str, str] = {}  # normalised name -> XMLTV id (the first channel in file order)
        for xmltv_id, names in xmltv_channels:
            for text in [*names, xmltv_id]:
                key = normalise(text)
                if key:
                    self.names.setdefault(key, xmltv_id)
        self.keys = list(self.names)
        # Which names have each pair of adjacent characters, by their length: the fuzzy rule compares a channel
        # only with the names that share at least half of its pairs (difflib on every name costs seconds per
        # channel on large guides) and whose length can reach the threshold at all (:func:`_close_lengths`).
        self.by_pair: dict[str, dict[int, list[int]]] = defaultdict(dict)
        for index, key in enumerate(self.keys):
            for pair in _pairs(key):
                self.by_pair[pair].setdefault(len(key), []).append(index)

    def suggest_for(self, name: str, title: str) -> Suggestion | None:
        """The best XMLTV channel for a channel of this name and title (all a suggestion depends on), or None."""
        for text in (name, title):
            found = self.ids.get(text.strip().casefold())
            if found is not None:
                return Suggestion(found, "id", 100)
        keys = [key for key in dict.fromkeys((normalise(title), normalise(name))) if key]
        for key in keys:
            if key in self.names:
                return Suggestion(self.names[key], "name", 100)
        best: tuple[float, str] | None = None
        for key in keys:
            ratio, candidate = self._closest(key)
            if candidate is not None and (best is None or ratio > best[0]):
                best = (ratio, candidate)
        if best is None:
            return None
        return Suggestion(self.names[best[1]], "fuzzy", min(99, round(best[0] * 100)))

    def _closest(self, key: str) -> tuple[float, str | None]:
        """The closest name with the same numbers and its ratio (difflib's cheap bounds first, as
        ``get_close_matches`` does); of names equally close, the first in the guide's order by id."""
        matcher = difflib.SequenceMatcher(autojunk=False)
        matcher.set_seq2(key)
        numbers = _NUMBERS.findall(key)
        best, found = FUZZY_THRESHOLD, None
        pairs = _pairs(key)
        lengths = _close_lengths(len(key))
        shared = Counter()
        for pair in pairs:
            by_length = self.by_pair.get(pair)
            if by_length:
                for length in lengths:
                    if length in by_length:
                        shared.update(by_length[length])
        needed = (len(pairs) + 1) // 2
        for index in sorted(index for index, count in shared.items() if count >= needed):
            candidate = self.keys[index]
            matcher.set_seq1(candidate)
            if matcher.real_quick_ratio() < best or matcher.quick_ratio() < best:
                continue
            ratio = matcher.ratio()
            if ratio >= best and (ratio > best or found is None) and _NUMBERS.findall(candidate) == numbers:
                best, found = ratio, candidate
        return best, found


def xmltv_channels_of(source: EpgSource) -> list[EpgSourceChannel]:
    """The source's XMLTV channels as its last successful import stored them, by id."""
    return list(EpgSourceChannel.objects.filter(epg_source=source).order_by("xmltv_id"))


def listed_xmltv_channels(source: EpgSource, search: str, limit: int) -> tuple[int, list[EpgSourceChannel], int]:
    """What the mapping screen shows of the source's XMLTV channels: how many the guide lists, the first ``limit``
    by id whose id or a display name contains ``search`` (any case), and how many more match. Only the channels
    shown are read as model instances (a guide lists up to ``EPG_MAX_CHANNELS``; reading them all took longer than
    the rest of the screen)."""
    stored = EpgSourceChannel.objects.filter(epg_source=source).order_by("xmltv_id")
    needle = search.strip().casefold()
    if not needle:
        total = stored.count()
        return total, list(stored[:limit]), max(0, total - limit)
    rows = list(stored.values_list("pk", "xmltv_id", "display_names"))
    matching = [pk for pk, xmltv_id, names in rows
                if needle in xmltv_id.casefold() or any(needle in name.casefold() for name, _ in names)]
    shown = {channel.pk: channel for channel in EpgSourceChannel.objects.filter(pk__in=matching[:limit])}
    return len(rows), [shown[pk] for pk in matching[:limit] if pk in shown], max(0, len(matching) - limit)


def stored_matcher(source_id: int) -> tuple[str, Matcher]:
    """The matcher of the source's stored XMLTV channels and the digest of that list, read in one statement (so the
    digest is the one of the channels read, even while an import commits another list)."""
    rows = list(EpgSourceChannel.objects.filter(epg_source_id=source_id).order_by("xmltv_id")
                .values_list("xmltv_id", "display_names", "epg_source__channels_digest"))
    digest = rows[0][2] if rows else ""
    return digest, Matcher([(xmltv_id, [name for name, _ in names]) for xmltv_id, names, _ in rows])


def suggestions_key(source_id: int, digest: str) -> str:
    """The shared cache's key of a source's suggestions computed against the stored list of this digest."""
    return f"epg:map:{SUGGESTIONS_VERSION}:{source_id}:{digest}"


def _cached(key: str) -> dict:
    try:
        return cache.get(key) or {}
    except Exception as exc:  # an unreachable cache makes the screen slower, never broken
        log.warning("could not read the cached EPG mapping suggestions %s: %s", key, exc)
        return {}


def _store(key: str, entry: dict) -> None:
    try:
        cache.set(key, entry, SUGGESTIONS_TTL)
    except Exception as exc:
        log.warning("could not cache the EPG mapping suggestions %s: %s", key, exc)


def suggestions_for(source: EpgSource, channels: Iterable[Channel], *, write: bool = False) -> dict:
    """The suggestion (or None) for each ``(name, title)`` of ``channels`` against the source's stored XMLTV channels.

    Read from the source's cache entry for its stored list (:func:`suggestions_key`); only the channels the entry
    lacks are computed, then added to it. ``write`` writes the entry even when it lacked nothing (a fetch keeps it
    from expiring so)."""
    wanted = {(channel.name, channel.title) for channel in channels}
    digest = source.channels_digest
    if not wanted or not digest:  # never fetched, or the guide listed no channel
        return {}
    entry = _cached(suggestions_key(source.pk, digest))
    missing = wanted - entry.keys()
    if missing:
        matcher = _last_matcher.get((source.pk, digest))
        if matcher is None:
            stored_digest, matcher = stored_matcher(source.pk)
            _last_matcher.clear()
            _last_matcher[source.pk, stored_digest] = matcher
            if stored_digest != digest:  # an import stored another list since the source was read: that one counts
                digest = stored_digest
                entry = _cached(suggestions_key(source.pk, digest)) if digest else {}
                missing = wanted - entry.keys()
        if len(entry) > len(wanted) + SUGGESTIONS_SPARE:
            entry = {pair: entry[pair] for pair in wanted - missing}
        entry.update({(name, title): _flat(matcher.suggest_for(name, title)) for name, title in missing})
    if digest and (missing or write):
        _store(suggestions_key(source.pk, digest), entry)
    return {pair: Suggestion(*entry[pair]) if entry[pair] else None for pair in wanted}


def _flat(suggestion: Suggestion | None) -> tuple | None:
    """A suggestion as the cache keeps it: a plain tuple (smaller, and read without this module's classes)."""
    return None if suggestion is None else (suggestion.epg_channel_name, suggestion.method, suggestion.score)


def portal_channels(source: EpgSource):
    """The channels of the source's portal in screen order, with the fields a mapping row reads."""
    return Channel.objects.filter(portal_id=source.portal_id).order_by("number_order", "title", "id").only(
        "id", "name", "title", "number", "epg_source_name", "epg_channel_name", "epg_extra_sources")


def listed_ids(source: EpgSource, xmltv_ids: set[str]) -> set[str]:
    """Which of ``xmltv_ids`` the source's stored XMLTV channels list (one query per 500 ids; none for no id)."""
    ordered, found = sorted(xmltv_ids), set()
    for start in range(0, len(ordered), 500):
        found.update(EpgSourceChannel.objects.filter(epg_source=source, xmltv_id__in=ordered[start:start + 500])
                     .values_list("xmltv_id", flat=True))
    return found


def mapping_rows(source: EpgSource, channels=None) -> list[MappingRow]:
    """Every channel of the source's portal (or ``channels``) with its mapping to the source and, when unmapped,
    the suggested XMLTV channel (:func:`suggestions_for`)."""
    channels = list(portal_channels(source) if channels is None else channels)
    current = [mapped_name(channel, source) for channel in channels]
    suggestions = suggestions_for(source, [channel for channel, name in zip(channels, current) if not name])
    known = listed_ids(source, {name for name in current if name})
    return [MappingRow(channel, name, name in known, None if name else suggestions.get((channel.name, channel.title)))
            for channel, name in zip(channels, current)]


def warm_suggestions(source_id: int) -> int:
    """Compute and cache the suggestions of the source's unmapped channels (what a fetch does at its end, so the
    first view of the mapping after it is fast). Returns how many suggestions there are; 0 when the source is gone."""
    source = EpgSource.objects.filter(pk=source_id).first()
    if source is None:
        return 0
    channels = [channel for channel in portal_channels(source) if not mapped_name(channel, source)]
    return sum(suggestion is not None for suggestion in suggestions_for(source, channels, write=True).values())


def mapping_data(channel: Channel, source: EpgSource, epg_channel_name: str) -> dict:
    """What :func:`content.services.update_channel` is given to map ``channel`` to ``source``'s
    ``epg_channel_name``: the entry naming the source is changed; without one, the pair takes it when empty, else
    the source is added last among ``epgSources``."""
    if channel.epg_source_name == source.name or not channel.epg_source_name:
        return {"epgSourceName": source.name, "epgChannelName": epg_channel_name}
    entries = channel.epg_sources
    if any(entry["epgSourceName"] == source.name for entry in entries):
        entries = [{**entry, "epgChannelName": epg_channel_name} if entry["epgSourceName"] == source.name else entry
                   for entry in entries]
    else:
        entries.append({"epgSourceName": source.name, "epgChannelName": epg_channel_name})
    return {"epgSources": entries}


def accept_mappings(source: EpgSource, pairs: list[tuple[Channel, str]], *, caller) -> list[tuple[Channel, str]]:
    """Map each ``(channel, XMLTV id)`` to ``source``, all in one transaction (a refusal of any leaves every
    channel as it was). Each change is an ``updateChannel`` operation, as if saved from its page. Returns the
    pairs that changed something."""
    caller.require("isContentAdmin")
    changed = []
    with transaction.atomic():
        # The portal first, as every channel save takes it (update_channel, source renames): never a deadlock.
        content_services.lock_portal(source.portal)
        for channel, epg_channel_name in pairs:
            channel = Channel.objects.select_for_update().get(pk=channel.pk)
            if mapped_name(channel, source) == epg_channel_name:
                continue
            content_services.update_channel(channel, caller=caller,
                                            data=mapping_data(channel, source, epg_channel_name))
            changed.append((channel, epg_channel_name))
    return changed


def suggested_pairs(source: EpgSource) -> list[tuple[Channel, str]]:
    """Every suggestion for the source's unmapped channels, as pairs for :func:`accept_mappings`."""
    return [(row.channel, row.suggestion.epg_channel_name) for row in mapping_rows(source)
            if row.suggestion is not None]


def epg_warnings(channel: Channel) -> list[str]:
    """What is wrong with a saved channel's guide names, without refusing them: for each of its sources that an
    import has already listed channels for, an ``epgChannelName`` that is not among them. A source not fetched
    yet (or never fetched since this was recorded) gives no warning: its guide may come later."""
    entries = [(entry["epgSourceName"], entry["epgChannelName"]) for entry in channel.epg_sources
               if entry["epgChannelName"]]
    if not entries:
        return []
    sources = list(EpgSource.objects.filter(portal_id=channel.portal_id, name__in=[name for name, _ in entries]))
    stored = EpgSourceChannel.objects.filter(epg_source__in=sources)
    fetched = set(stored.order_by().values_list("epg_source__name", flat=True).distinct())
    listed = set(stored.filter(xmltv_id__in=[epg_channel for _, epg_channel in entries])
                 .values_list("epg_source__name", "xmltv_id"))
    return [_("The EPG channel %(epg_channel)s is not in the guide of %(source)s as last fetched; the channel shows "
              "no programmes from it until the guide lists it.") % {"epg_channel": epg_channel, "source": name}
            for name, epg_channel in entries if name in fetched and (name, epg_channel) not in listed]


def apply_mapping(source: EpgSource, *, caller, data) -> list[tuple[Channel, str]]:
    """``POST /epg-sources/{id}/mapping``: check ``data`` (:class:`EpgMappingInput`; 400 naming the field), find
    its channels among the source's portal's (any other is a 404 before anything is written), add every
    suggestion when ``acceptAll``, and accept them all in one transaction (:func:`accept_mappings`)."""
    caller.require("isContentAdmin")
    values = EpgMappingInput.check(data)
    listed = values["accept"]
    channels = Channel.objects.filter(portal_id=source.portal_id, pk__in=[entry["channel_id"] for entry in listed])
    found = {channel.pk: channel for channel in channels}
    missing = [entry["channel_id"] for entry in listed if entry["channel_id"] not in found]
    if missing:
        raise NotFound(f"No channel {encode_id(missing[0])} in this portal; nothing was mapped.")
    pairs = [(found[entry["channel_id"]], entry["epg_channel_name"]) for entry in listed]
    if values["accept_all"]:
        chosen = {channel.pk for channel, _ in pairs}
        # The digest as stored now: an import that committed since ``source`` was read has another list, and the
        # suggestions accepted must name ids of the list stored, not of the one before.
        source.channels_digest = EpgSource.objects.filter(pk=source.pk).values_list("channels_digest", flat=True).get()
        pairs += [(channel, name) for channel, name in suggested_pairs(source) if channel.pk not in chosen]
    return accept_mappings(source, pairs, caller=caller)
