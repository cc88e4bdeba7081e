"""The XMLTV parser on its own: times, field choice, chunk boundaries, hardening."""

from __future__ import annotations

import calendar
import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from content.epg.errors import FetchFailed
from content.epg.xmltv import XmltvParser, XmltvTimes
from tests.epg.helpers import guide, program


def parse(data: bytes, *, language: str = "", chunk: int | None = None) -> XmltvParser:
    parser = XmltvParser(language=language)
    rows = []
    step = chunk or len(data) or 1
    for index in range(0, len(data), step):
        parser.feed(data[index:index + step])
        rows += parser.rows
        parser.rows.clear()
    parser.close()
    parser.rows[:0] = rows
    return parser


def epoch(*args) -> int:
    return calendar.timegm(dt.datetime(*args).timetuple())


@pytest.mark.parametrize(("text", "expected"), [
    ("20241016120000 +0300", epoch(2024, 10, 16, 9)),
    ("20241016120000 -0500", epoch(2024, 10, 16, 17)),
    ("20241016120000 +0000", epoch(2024, 10, 16, 12)),
    ("20241016120000", epoch(2024, 10, 16, 12)),
    ("202410161200", epoch(2024, 10, 16, 12)),
    ("2024101612", epoch(2024, 10, 16, 12)),
    ("20241016", epoch(2024, 10, 16)),
    ("20241016120000+0300", epoch(2024, 10, 16, 9)),
    ("20241016120000 +03:00", epoch(2024, 10, 16, 9)),
    ("20241016120000 Z", epoch(2024, 10, 16, 12)),
    (" 20241016120000 UTC ", epoch(2024, 10, 16, 12)),
    ("20241231233000 -0100", epoch(2025, 1, 1, 0, 30)),
])
def test_xmltv_times_are_converted_to_utc(text, expected):
    assert XmltvTimes().epoch(text) == expected


@pytest.mark.parametrize("text", ["", "tomorrow", "20241316120000 +0000", "20240230120000 +0000",
                                  "20241016250000 +0000", "20241016126000 +0000", "20241016120000 +2500",
                                  "20241016120000 CEST", "17000101000000 +0000", "2024-10-16T12:00:00Z"])
def test_invalid_times_are_none(text):
    assert XmltvTimes().epoch(text) is None


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2199, 12, 30)),
       st.integers(min_value=-14 * 60, max_value=14 * 60))
def test_any_time_in_any_offset_round_trips(moment, offset_minutes):
    moment = moment.replace(microsecond=0)
    local = moment + dt.timedelta(minutes=offset_minutes)
    sign = "+" if offset_minutes >= 0 else "-"
    text = local.strftime("%Y%m%d%H%M%S") + f" {sign}{abs(offset_minutes) // 60:02d}{abs(offset_minutes) % 60:02d}"
    assert XmltvTimes().epoch(text) == calendar.timegm(moment.timetuple())


DOCUMENT = guide(
    program("a.tv", 0, 1, "Caf\u00e9 & Co", desc="Line one\nline two", category="News", sub_title="Pilot",
              episode_num="1.2.", body='<icon src="https://i.example/1.png"/><rating system="age"><value>6+</value>'
                                       '</rating><rating system="mpaa"><value>PG</value></rating>'
                                       '<credits><actor>Someone</actor></credits>'),
    program("a.tv", 1, None, "Open"),
    program("b.tv", 0, 2, "B"),
    program("a.tv", 3, 4, "After"),
)


def test_rows_carry_every_field():
    parser = parse(DOCUMENT)
    first = parser.rows[0]
    assert first[0] == "a.tv" and first[3:] == ("Caf\u00e9 & Co", "en", "Line one\nline two", "News", "6+", "Pilot",
                                                "https://i.example/1.png", "1.2.")
    assert [row[3] for row in parser.rows] == ["Caf\u00e9 & Co", "B", "Open", "After"]
    assert parser.found == 4 and parser.channel_count == 2 and not parser.skipped
    open_ended = parser.rows[2]
    assert open_ended[2] - open_ended[1] == 2 * 3600  # ends where "After" starts


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=300))
def test_any_chunking_gives_the_same_rows(chunk):
    assert parse(DOCUMENT, chunk=chunk).rows == parse(DOCUMENT).rows


def test_onscreen_episode_numbers_win():
    body = '<episode-num system="xmltv_ns">0.1.</episode-num><episode-num system="onscreen">S01E02</episode-num>'
    assert parse(guide(program("a.tv", 0, 1, "T", body=body))).rows[0][-1] == "S01E02"


def test_a_language_subtag_matches_its_primary_language():
    body = '<desc lang="fr">Bonjour</desc><desc lang="en-US">Hello</desc>'
    assert parse(guide(program("a.tv", 0, 1, "T", body=body)), language="EN").rows[0][5] == "Hello"
    assert parse(guide(program("a.tv", 0, 1, "T", body=body))).rows[0][5] == "Bonjour"


def test_other_encodings_are_read():
    data = guide(program("a.tv", 0, 1, "Ol\u00e9")).replace(b"UTF-8", b"ISO-8859-1").replace(
        "Ol\u00e9".encode(), "Ol\u00e9".encode("latin-1"))
    assert parse(data).rows[0][3] == "Ol\u00e9"


@pytest.mark.parametrize(("data", "message"), [
    (b"", "The guide is not well-formed XML: no element found at line 1, column 1."),
    (b"<tv>", "The guide is not well-formed XML: no element found at line 1, column 5."),
    (b"<tv></tv><tv/>", "The guide is not well-formed XML: junk after document element at line 1, column 10."),
    (b"<tv>&undefined;</tv>", "The guide is not well-formed XML: undefined entity at line 1, column 5."),
    (b'<!DOCTYPE tv [<!ENTITY a "b">]><tv/>', "Refused the guide: it declares the entity 'a' at line 1"),
    (b'<!DOCTYPE tv [<!ENTITY x SYSTEM "s" NDATA gif>]><tv/>', "Refused the guide: it declares the"),
])
def test_bad_documents_fail_with_a_position(data, message):
    with pytest.raises(FetchFailed) as caught:
        parse(data)
    assert str(caught.value).startswith(message), str(caught.value)


def test_an_internal_subset_without_entities_is_accepted():
    data = guide(program("a.tv", 0, 1)).replace(b'<!DOCTYPE tv SYSTEM "xmltv.dtd">',
                                                  b'<!DOCTYPE tv [<!ELEMENT tv ANY>]>')
    assert len(parse(data).rows) == 1


def test_elements_of_other_namespaces_are_ignored_and_xinclude_is_refused_in_any_chunking():
    extra = '<x:extra xmlns:x="urn:example:extra">1</x:extra>'
    assert [row[3] for row in parse(guide(program("a.tv", 0, 1, body=extra))).rows] == ["Show"]
    data = guide(program("a.tv", 0, 1, body='<include xmlns="http://www.w3.org/2001/XInclude" href="/etc/passwd"/>'))
    for chunk in (None, 7):
        with pytest.raises(FetchFailed, match="it declares the XInclude namespace at line 4, column 115 "):
            parse(data, chunk=chunk)
