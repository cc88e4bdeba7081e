"""Guided mapping: which XMLTV channel of a source each channel of its portal should read its guide from.

Suggestions, for each channel not mapped to the source yet, the first rule that finds one:

1. ``id`` (score 100): the XMLTV id equals the channel's name or title, ignoring case;
2. ``name`` (score 100): a normalised display name (or id) of the XMLTV channel equals the channel's normalised
   title or name (:func:`normalise`);
3. ``fuzzy`` (score 85–99): the closest normalised names by ``difflib`` (ratio ≥ :data:`FUZZY_THRESHOLD`), but
   only between names that have the same numbers: "Channel 4" never matches "Channel 5", nor "Cinema +1"
   "Cinema" (a "+1" is another channel, an hour later), and only with the names sharing at least half of the
   channel's pairs of adjacent characters (an index finds those: fast on guides of thousands of channels).

Accepting writes the pair through :func:`content.services.update_channel` (its checks, its operation row, its cache
invalidation), all accepted channels in one transaction.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass

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


def _pairs(key: str) -> set[str]:
    """The pairs of adjacent characters of a normalised name (the name itself when shorter)."""
    return {key[index:index + 2] for index in range(len(key) - 1)} or {key}


def normalise(text: str) -> str:
    """The comparable form of a channel name: accents and case folded, a trailing ``.xx`` country part of an id
    dropped, quality words (HD, FHD, UHD, SD, 4K, HEVC) dropped, "+1" kept as the word ``plus1``, then only
    letters and digits (``"BBC One HD"`` → ``bbcone``; ``"Cinema +1"`` → ``cinemaplus1``)."""
    text = unicodedata.normalize("NFKD", text.strip()).casefold()
    text = "".join(char for char in text if not unicodedata.combining(char))
    text = _TIMESHIFT.sub(r" plus\1 ", _ID_SUFFIX.sub("", text))
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

    def __init__(self, xmltv_channels: list[EpgSourceChannel]):
        self.ids = {channel.xmltv_id.casefold(): channel.xmltv_id for channel in reversed(xmltv_channels)}
        self.names: dict[str, str] = {}  # normalised name -> XMLTV id (the first channel in file order)
        for channel in xmltv_channels:
            for text in [*channel.names, channel.xmltv_id]:
                key = normalise(text)
                if key:
                    self.names.setdefault(key, channel.xmltv_id)
        self.keys = list(self.names)
        # Which names have each pair of adjacent characters: the fuzzy rule compares a channel only with the names
        # that share at least half of its pairs (difflib on every name costs seconds per channel on large guides).
        self.by_pair: dict[str, list[int]] = defaultdict(list)
        for index, key in enumerate(self.keys):
            for pair in _pairs(key):
                self.by_pair[pair].append(index)

    def suggest(self, channel: Channel) -> Suggestion | None:
        """The best XMLTV channel for ``channel``, or None when no rule finds one."""
        for text in (channel.name, channel.title):
            found = self.ids.get(text.strip().casefold())
            if found is not None:
                return Suggestion(found, "id", 100)
        keys = [key for key in dict.fromkeys((normalise(channel.title), normalise(channel.name))) if key]
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
        ``get_close_matches`` does)."""
        matcher = difflib.SequenceMatcher(autojunk=False)
        matcher.set_seq2(key)
        numbers = _NUMBERS.findall(key)
        best, found = FUZZY_THRESHOLD, None
        pairs = _pairs(key)
        shared = Counter()
        for pair in pairs:
            shared.update(self.by_pair.get(pair, ()))
        needed = (len(pairs) + 1) // 2
        for candidate in [self.keys[index] for index, count in shared.items() if count >= needed]:
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


def mapping_rows(source: EpgSource, channels=None) -> list[MappingRow]:
    """Every channel of the source's portal (or ``channels``) with its mapping to the source and, when unmapped,
    the suggested XMLTV channel."""
    xmltv = xmltv_channels_of(source)
    known = {channel.xmltv_id for channel in xmltv}
    matcher = Matcher(xmltv)
    if channels is None:
        channels = Channel.objects.filter(portal_id=source.portal_id).order_by("number_order", "title", "id").only(
            "id", "name", "title", "number", "epg_source_name", "epg_channel_name", "epg_extra_sources")
    rows = []
    for channel in channels:
        current = mapped_name(channel, source)
        rows.append(MappingRow(channel, current, current in known,
                               None if current or not xmltv else matcher.suggest(channel)))
    return rows


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
        pairs += [(channel, name) for channel, name in suggested_pairs(source) if channel.pk not in chosen]
    return accept_mappings(source, pairs, caller=caller)
