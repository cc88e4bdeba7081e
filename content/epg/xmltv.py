"""XMLTV bytes in, programmes out: an incremental, hardened expat parser that never builds a tree.

Hardening is defusedxml's: :class:`defusedxml.ElementTree.DefusedXMLParser` creates the expat parser and
installs its refusal policy (``forbid_entities``, ``forbid_external``; ``forbid_dtd`` stays off, as in
defusedxml's defaults): any entity declaration (the billion-laughs and XXE vectors) raises its
``EntitiesForbidden``, any external entity reference its ``ExternalReferenceForbidden``, each turned into
the fetch's message. Only its ElementTree callbacks are replaced, by the tree-free handlers below
(ElementTree's pure-Python callbacks cost 1.5× the parse time on large guides). Parameter entities are
never parsed and no DTD is ever loaded, so ``<!DOCTYPE tv SYSTEM "xmltv.dtd">`` is accepted and never
fetched. expat never processes XInclude; a guide declaring its namespace is refused (what it would include
would silently be missing).

A programme row is the tuple ``(channel, start, stop, title, language, description, genre, rating,
subtitle, icon, episode)``; ``start``/``stop`` are UTC Unix seconds. A programme without ``stop`` ends at
the next programme's start on its channel (file order); invalid programmes are skipped and counted by
reason in :attr:`XmltvParser.skipped`.

Bounded whatever the guide (a hostile guide must not exhaust the worker): every text field keeps at most
its :data:`FIELD_LIMITS` characters (the rest is dropped, never buffered), a channel id longer than
:data:`MAX_CHANNEL_ID` characters skips the programme, at most ``max_channels`` channels are kept per guide
(programmes of further channels are skipped and counted, so per-channel state stays bounded), and a single
tag, attribute, comment or processing instruction longer than :data:`MAX_TOKEN_BYTES` refuses the guide
(expat buffers a token whole).
"""

from __future__ import annotations

import calendar
import re
from collections import Counter
from pyexpat import XML_PARAM_ENTITY_PARSING_NEVER, ErrorString, ExpatError

from defusedxml import DefusedXmlException, EntitiesForbidden
from defusedxml.ElementTree import DefusedXMLParser

from .errors import FetchFailed

# Skip reasons, as they appear in the fetch message.
NO_CHANNEL = "no channel"
NO_TITLE = "no title"
BAD_START = "missing or invalid start time"
BAD_STOP = "invalid stop time"
NOT_AFTER_START = "stop not after start"
NO_STOP = "no stop time and no later programme on the channel"
DUPLICATE = "duplicate of the previous programme (same channel and start)"
LONG_CHANNEL = "channel id too long"
TOO_MANY_CHANNELS = "on a channel beyond EPG_MAX_CHANNELS"

# Characters kept of each field (the first ones); what follows is dropped while parsing.
FIELD_LIMITS = {"title": 1000, "sub-title": 1000, "desc": 10_000, "category": 200, "episode-num": 200,
                "rating": 100}
MAX_ICON_URL = 2000  # a longer icon URL is dropped (a cut URL would point elsewhere)
MAX_CHANNEL_ID = 255
MAX_LANGUAGE = 35
MAX_TOKEN_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_CHANNELS = 20_000
# The guide's <channel> elements (for the guided mapping): at most this many display names per channel, each of at
# most MAX_DISPLAY_NAME characters, and at most MAX_CHANNEL_TEXT characters of names and icon URLs over the whole
# guide (a hostile guide stays small).
MAX_DISPLAY_NAMES = 10
MAX_DISPLAY_NAME = 200
MAX_CHANNEL_TEXT = 4_000_000
XINCLUDE_NAMESPACES = frozenset({"http://www.w3.org/2001/XInclude", "http://www.w3.org/2003/XInclude"})
_DECLARED_ENCODING = re.compile(rb"""^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?\sencoding\s*=\s*["']([^"']{0,64})""")

# A raw programme (``XmltvParser(raw=True)``): what the XML says, before any check or conversion.
RAW_FIELDS = ("channel", "start", "stop", "title", "language", "desc", "category", "rating", "sub-title", "icon",
              "episode-num")
TEXT_FIELDS = frozenset({"title", "desc", "category", "sub-title", "episode-num"})
LANGUAGE_FIELDS = frozenset({"title", "desc", "category", "sub-title"})

_GENERAL_TIME = re.compile(
    r"\s*(\d{4})(\d{2})(\d{2})(\d{2})?(\d{2})?(\d{2})?\s*(?:([+-])(\d{2}):?(\d{2})|(Z|UTC|GMT))?\s*$")
_MIN_YEAR, _MAX_YEAR = 1900, 2200


class XmltvTimes:
    """XMLTV time strings to UTC Unix seconds, fast for the usual ``YYYYMMDDhhmmss +hhmm`` form.

    ``offset_minutes`` is the offset of a time that gives none (the source's ``offsetMinutes``); with ``force``
    it replaces the offset every time gives (a guide that labels local times as UTC).
    """

    CACHE_SIZE = 50_000

    def __init__(self, *, offset_minutes: int = 0, force: bool = False):
        self._default_offset = offset_minutes * 60
        self._force = force
        self._days: dict[str, int] = {}
        self._offsets: dict[str, int] = {}
        self._seen: dict[str, int | None] = {}  # guides repeat the same times across channels

    def epoch(self, text: str) -> int | None:
        """UTC seconds of an XMLTV time; a time without offset is UTC; None when it is not a valid time."""
        try:
            return self._seen[text]
        except KeyError:
            pass
        if len(self._seen) >= self.CACHE_SIZE:
            self._seen.clear()
        value = self._seen[text] = self._convert(text)
        return value

    def _day(self, text: str) -> int:
        year, month, day = int(text[:4]), int(text[4:6]), int(text[6:8])
        if not _MIN_YEAR <= year <= _MAX_YEAR or not 1 <= month <= 12:
            raise ValueError(text)
        if not 1 <= day <= calendar.monthrange(year, month)[1]:
            raise ValueError(text)
        seconds = calendar.timegm((year, month, day, 0, 0, 0))
        self._days[text] = seconds
        return seconds

    def _offset(self, text: str) -> int:
        if text[0] not in "+-" or not text[1:].isdigit() or len(text) != 5:
            raise ValueError(text)
        hours, minutes = int(text[1:3]), int(text[3:5])
        if hours > 23 or minutes > 59:
            raise ValueError(text)
        seconds = (hours * 3600 + minutes * 60) * (-1 if text[0] == "-" else 1)
        self._offsets[text] = seconds
        return seconds

    def _convert(self, text: str) -> int | None:
        try:
            if len(text) == 20 and text[14] == " " and text[:14].isdigit():
                day = self._days.get(text[:8]) or self._day(text[:8])
                offset = self._offsets.get(text[15:])
                if offset is None:
                    offset = self._offset(text[15:])
                if self._force:
                    offset = self._default_offset
                hour, minute, second = int(text[8:10]), int(text[10:12]), int(text[12:14])
            else:
                match = _GENERAL_TIME.match(text)
                if match is None:
                    return None
                year, month, dom, hh, mi, ss, sign, oh, om, zone = match.groups()
                day = self._days.get(year + month + dom) or self._day(year + month + dom)
                offset = self._offset(f"{sign}{oh}{om}") if sign else 0
                if self._force or not (sign or zone):
                    offset = self._default_offset
                hour, minute, second = int(hh or 0), int(mi or 0), int(ss or 0)
            if hour > 23 or minute > 59 or second > 60:
                return None
            return day + hour * 3600 + minute * 60 + second - offset
        except ValueError:
            return None


_NO_TREE = object()  # DefusedXMLParser's target: no tree is built, no ElementTree callback is installed


def _language_matches(lang: str, preferred: str) -> bool:
    lang = lang.lower()
    return lang == preferred or lang.split("-", 1)[0] == preferred.split("-", 1)[0]


class XmltvParser:
    """Feed bytes; collect finished programme rows from :attr:`rows` after each :meth:`feed`.

    ``language`` (e.g. ``"en"``) picks, among several ``title``/``desc``/``category``/``sub-title``
    elements, the one in that language; without it (or without a match) the first one is kept.
    ``offset_minutes``/``force_offset``: see :class:`XmltvTimes` (a raw parser converts no time: the parser that
    takes its raw programmes applies them).

    The work can be split between two processes (see :mod:`.pipeline`): a parser made with ``raw=True``
    only reads the XML, and its :attr:`rows` are *raw* programmes — the strings of :data:`RAW_FIELDS`, as
    found — which another parser turns into rows with :meth:`take_raw` (times, checks, skips, figures) and,
    once every raw programme is taken, :meth:`end_raw`.
    """

    def __init__(self, *, language: str = "", max_channels: int = DEFAULT_MAX_CHANNELS, raw: bool = False,
                 offset_minutes: int = 0, force_offset: bool = False):
        self.rows: list[tuple] = []
        self.found = 0
        self.skipped: Counter[str] = Counter()
        self.ranges: dict[str, list[int]] = {}  # channel -> [first start, last stop] of kept programmes
        self._language = (language or "").strip().lower()
        self._times = XmltvTimes(offset_minutes=offset_minutes, force=force_offset)
        self._channels: dict[str, list] = {}  # channel -> [last start, pending row without stop or None]
        self._max_channels = max_channels
        self._root_seen = False
        self._fed = 0  # bytes given to expat so far
        self._head = b""  # the document's first bytes, for the encoding named in its XML declaration
        # The guide's <channel> elements: id -> [[[display name, lang], …], icon URL] (first element of an id wins),
        # and how many programmes were kept per channel id (:meth:`channel_listing` joins them).
        self.channels: dict[str, list] = {}
        self.counts: dict[str, int] = {}
        self._channel_text = 0
        self._parser = self._make_parser(self._collect_raw if raw else self._finish_program)

    # --- public API -------------------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Parse the next piece of the document; FetchFailed for bad or refused XML."""
        if len(self._head) < 256:
            self._head += data[:256]
        self._fed += len(data)
        try:
            self._parser.Parse(data, False)
        except ExpatError as exc:
            raise self._xml_error(exc) from None
        except DefusedXmlException as exc:  # a ValueError: before the encoding errors
            raise self._refusal(exc) from None
        except (ValueError, LookupError) as exc:  # pyexpat: an encoding it cannot decode
            raise self._encoding_error(exc) from None
        if self._fed - self._parser.CurrentByteIndex > MAX_TOKEN_BYTES:
            raise FetchFailed(f"Refused the guide: a single tag, attribute, comment or processing instruction "
                              f"is longer than {MAX_TOKEN_BYTES // 2**20} MiB at {self.position()}.")

    def close(self) -> None:
        """End of document: check it is complete, and skip programmes still waiting for a stop time."""
        try:
            self._parser.Parse(b"", True)
        except ExpatError as exc:
            raise self._xml_error(exc) from None
        except DefusedXmlException as exc:
            raise self._refusal(exc) from None
        except (ValueError, LookupError) as exc:
            raise self._encoding_error(exc) from None
        if not self._root_seen:
            raise FetchFailed("The document has no <tv> element.")
        self.end_raw()

    def take_raw(self, programs: list[tuple]) -> None:
        """Turn raw programmes (from a ``raw=True`` parser) into :attr:`rows`, as :meth:`feed` would have."""
        add = self._add_program
        for program in programs:
            add(*program)

    def end_raw(self) -> None:
        """Every programme is in: skip those still waiting for a stop time (:meth:`close` does it too)."""
        for state in self._channels.values():
            if state[1] is not None:
                self.skipped[NO_STOP] += 1
                state[1] = None

    @property
    def channel_count(self) -> int:
        return len(self.ranges)

    def channel_listing(self) -> list[tuple[str, list, str, int, bool]]:
        """``(id, display names, icon, programmes kept, has a <channel> element)`` for every id that has a
        ``<channel>`` element or kept programmes, in file order of the elements, then of the programmes."""
        listing = [(channel_id, names, icon, self.counts.get(channel_id, 0), True)
                   for channel_id, (names, icon) in self.channels.items()]
        return listing + [(channel_id, [], "", count, False) for channel_id, count in self.counts.items()
                          if channel_id not in self.channels]

    def position(self) -> str:
        return f"line {self._parser.CurrentLineNumber}, column {self._parser.CurrentColumnNumber + 1}"

    # --- hardening --------------------------------------------------------------------------------------

    def _refusal(self, exc: DefusedXmlException) -> FetchFailed:
        """defusedxml's refusal as the fetch's message (expat stopped at the end of the refused declaration)."""
        where = self.position()
        if isinstance(exc, EntitiesForbidden):
            kind = "unparsed entity" if exc.notation_name else "entity"
            return FetchFailed(f"Refused the guide: it declares the {kind} {exc.name!r} at {where} "
                               "(entity declarations are not allowed).")
        # ExternalReferenceForbidden: declarations are refused first, so this is the second line of defence.
        return FetchFailed(f"Refused the guide: it references the external entity {getattr(exc, 'sysid', '')!r} "
                           f"at {where} (external references are never fetched).")

    def _refuse_xinclude(self, prefix, uri) -> None:
        if uri in XINCLUDE_NAMESPACES:
            raise FetchFailed(f"Refused the guide: it declares the XInclude namespace at {self.position()} "
                              "(XInclude is not supported; included documents are never fetched).")

    def _xml_error(self, exc: ExpatError) -> FetchFailed:
        return FetchFailed(f"The guide is not well-formed XML: {ErrorString(exc.code)} at line {exc.lineno}, "
                           f"column {exc.offset + 1}.")

    def _encoding_error(self, exc: Exception) -> FetchFailed:
        match = _DECLARED_ENCODING.match(self._head)
        name = match.group(1).decode("ascii", "replace").strip().lower() if match else ""
        if not name:
            return FetchFailed(f"The guide's encoding cannot be read: {exc}.")
        return FetchFailed(f"Unsupported encoding {name} declared by the guide; use UTF-8 (or UTF-16, ISO-8859-1, "
                           "US-ASCII or another single-byte encoding).")

    # --- parsing ----------------------------------------------------------------------------------------

    def _make_parser(self, finish):
        # defusedxml's expat parser with its refusal handlers; a target without callbacks keeps ElementTree's
        # element handlers off, and its default handler (doctype bookkeeping) goes: the handlers are ours.
        parser = DefusedXMLParser(target=_NO_TREE, forbid_dtd=False, forbid_entities=True,
                                  forbid_external=True).parser
        parser.DefaultHandlerExpand = None
        parser.SetParamEntityParsing(XML_PARAM_ENTITY_PARSING_NEVER)
        parser.ordered_attributes = False
        parser.StartNamespaceDeclHandler = self._refuse_xinclude
        parser.buffer_text = True
        parser.buffer_size = 1 << 16
        self._install_element_handlers(parser, finish)
        return parser

    def _install_element_handlers(self, parser, finish) -> None:
        """Closures over local state: the fastest way to run expat callbacks in CPython. ``finish(attributes,
        values, title language)`` takes each programme."""
        language = self._language
        text_fields, language_fields = TEXT_FIELDS, LANGUAGE_FIELDS
        depth = 0  # 0 outside a programme, 1 on <programme>, 2 on its children, …
        attributes: dict = {}
        values: dict = {}
        chosen_language: dict = {}
        capture = None  # the field whose text is being collected, and at which depth
        capture_depth = 0
        capture_language = ""
        capture_limit = 0
        limits = FIELD_LIMITS
        in_rating = False
        text = ""

        def start(name, attrs):
            nonlocal depth, attributes, values, chosen_language, capture, capture_depth, capture_language
            nonlocal capture_limit, in_rating, text
            if depth == 0:
                if name == "programme":
                    depth, attributes, values, chosen_language, in_rating = 1, attrs, {}, {}, False
                elif name == "channel":  # read by handlers of its own until it ends (programmes never pay for it)
                    _ChannelReader(self, parser, attrs)
                elif not self._root_seen:
                    if name != "tv":
                        raise FetchFailed(f"The document is not XMLTV: its root element is <{name}>, not <tv>.")
                    self._root_seen = True
                return
            depth += 1
            if capture is not None:
                return
            if depth == 2:
                if name in text_fields:
                    capture, capture_depth, text, capture_limit = name, 2, "", limits[name]
                    capture_language = attrs.get("lang", "") if name != "episode-num" else attrs.get("system", "")
                    if len(capture_language) > MAX_LANGUAGE:
                        capture_language = ""
                elif name == "icon":
                    if "icon" not in values:
                        src = attrs.get("src", "")
                        values["icon"] = src if len(src) <= MAX_ICON_URL else ""
                elif name == "rating":
                    in_rating = "rating" not in values
            elif depth == 3 and in_rating and name == "value":
                capture, capture_depth, text, capture_language = "rating", 3, "", ""
                capture_limit = limits["rating"]

        def data(chunk):
            nonlocal text
            if capture is not None and len(text) <= capture_limit:  # beyond the limit, text is dropped
                text += chunk

        def end(name):
            nonlocal depth, capture, in_rating
            if capture is not None and depth == capture_depth:  # the end of a field (depth 2 or 3)
                value = (text[:capture_limit] if len(text) > capture_limit else text).strip()
                if capture not in values:
                    values[capture], chosen_language[capture] = value, capture_language
                elif capture == "episode-num":
                    if capture_language == "onscreen" and chosen_language.get(capture) != "onscreen":
                        values[capture], chosen_language[capture] = value, "onscreen"
                elif language and capture in language_fields and value:
                    if not _language_matches(chosen_language.get(capture, ""), language) and \
                            _language_matches(capture_language, language):
                        values[capture], chosen_language[capture] = value, capture_language
                capture = None
                depth -= 1
            elif depth == 1:  # the programme's end
                depth = 0
                finish(attributes, values, chosen_language.get("title", ""))
            elif depth:
                if depth == 2 and name == "rating":
                    in_rating = False
                depth -= 1

        parser.StartElementHandler = start
        parser.CharacterDataHandler = data
        parser.EndElementHandler = end

    def _add_channel(self, channel_id: str, names: list, icon: str) -> None:
        """Keep a ``<channel>`` element (the first of an id), within ``max_channels`` and MAX_CHANNEL_TEXT."""
        if not channel_id or len(channel_id) > MAX_CHANNEL_ID or channel_id in self.channels \
                or len(self.channels) >= self._max_channels:
            return
        size = len(channel_id) + len(icon) + sum(len(name) for name, _ in names)
        if self._channel_text + size > MAX_CHANNEL_TEXT:
            names, icon, size = [], "", len(channel_id)
        self._channel_text += size
        self.channels[channel_id] = [names, icon]

    @staticmethod
    def _raw(attributes: dict, values: dict, language: str) -> tuple:
        """The raw programme (:data:`RAW_FIELDS`) of a ``<programme>``'s attributes and chosen values."""
        get = values.get
        return (attributes.get("channel", ""), attributes.get("start", ""), attributes.get("stop", ""),
                get("title", ""), language, get("desc", ""), get("category", ""), get("rating", ""),
                get("sub-title", ""), get("icon", ""), get("episode-num", ""))

    def _collect_raw(self, attributes: dict, values: dict, language: str) -> None:
        self.rows.append(self._raw(attributes, values, language))

    def _finish_program(self, attributes: dict, values: dict, language: str) -> None:
        self._add_program(*self._raw(attributes, values, language))

    def _add_program(self, channel: str, start_text: str, stop_text: str, title: str, language: str, desc: str,
                     genre: str, rating: str, subtitle: str, icon: str, episode: str) -> None:
        """One programme as read (the strings of :data:`RAW_FIELDS`): checked, timed, kept or skipped."""
        self.found += 1
        channel = channel.strip()
        if not channel:
            self.skipped[NO_CHANNEL] += 1
            return
        if len(channel) > MAX_CHANNEL_ID:
            self.skipped[LONG_CHANNEL] += 1
            return
        start = self._times.epoch(start_text)
        if start is None:
            self.skipped[BAD_START] += 1
            return
        state = self._channels.get(channel)
        if state is None:
            if len(self._channels) >= self._max_channels:
                self.skipped[f"{TOO_MANY_CHANNELS} ({self._max_channels:,})"] += 1
                return
            state = self._channels[channel] = [None, None]
        elif state[0] == start:
            self.skipped[DUPLICATE] += 1
            return
        pending = state[1]
        if pending is not None:  # the previous programme had no stop: it ends where this one starts
            state[1] = None
            if start > pending[1]:
                self._keep(pending[:2] + (start,) + pending[2:])
            else:
                self.skipped[NO_STOP] += 1
        state[0] = start
        if not title:
            self.skipped[NO_TITLE] += 1
            return
        row_tail = (title, language, desc, genre, rating, subtitle, icon, episode)
        if not stop_text:
            state[1] = (channel, start) + row_tail
            return
        stop = self._times.epoch(stop_text)
        if stop is None:
            self.skipped[BAD_STOP] += 1
        elif stop <= start:
            self.skipped[NOT_AFTER_START] += 1
        else:
            self._keep((channel, start, stop) + row_tail)

    def _keep(self, row: tuple) -> None:
        self.rows.append(row)
        self.counts[row[0]] = self.counts.get(row[0], 0) + 1
        span = self.ranges.get(row[0])
        if span is None:
            self.ranges[row[0]] = [row[1], row[2]]
        else:
            if row[1] < span[0]:
                span[0] = row[1]
            if row[2] > span[1]:
                span[1] = row[2]


class _ChannelReader:
    """Reads one ``<channel>`` element: installed as the expat handlers when it starts, it collects the display
    names (``[text, lang]``, at most MAX_DISPLAY_NAMES of MAX_DISPLAY_NAME characters) and the first icon, and when
    the element ends gives them to the parser (:meth:`XmltvParser._add_channel`) and puts its handlers back."""

    def __init__(self, owner: XmltvParser, parser, attrs: dict):
        self.owner, self.parser = owner, parser
        self.channel_id = attrs.get("id", "").strip()
        self.names: list[list[str]] = []
        self.icon = ""
        self.depth = 1
        self.text: str | None = None  # the text of the display name being read
        self.language = ""
        self.saved = (parser.StartElementHandler, parser.CharacterDataHandler, parser.EndElementHandler)
        parser.StartElementHandler, parser.CharacterDataHandler, parser.EndElementHandler = (
            self.start, self.data, self.end)

    def start(self, name: str, attrs: dict) -> None:
        self.depth += 1
        if self.depth != 2:
            return
        if name == "display-name":
            self.text, self.language = "", attrs.get("lang", "")[:MAX_LANGUAGE]
        elif name == "icon" and not self.icon:
            src = attrs.get("src", "")
            self.icon = src if len(src) <= MAX_ICON_URL else ""

    def data(self, chunk: str) -> None:
        if self.text is not None and len(self.text) <= MAX_DISPLAY_NAME:  # beyond the limit, text is dropped
            self.text += chunk

    def end(self, name: str) -> None:
        self.depth -= 1
        if self.depth == 1 and self.text is not None:
            value = self.text[:MAX_DISPLAY_NAME].strip()
            if value and len(self.names) < MAX_DISPLAY_NAMES:
                self.names.append([value, self.language])
            self.text = None
        elif self.depth == 0:
            parser = self.parser
            parser.StartElementHandler, parser.CharacterDataHandler, parser.EndElementHandler = self.saved
            self.owner._add_channel(self.channel_id, self.names, self.icon)
