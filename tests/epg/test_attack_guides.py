"""Hostile guides (issue 11, M6) and unreadable encodings: every text field is cut to its limit, channels
beyond EPG_MAX_CHANNELS are skipped, a giant tag is refused, the time limit holds while parsing, and an
encoding the parser cannot read is named on the fetch instead of "Internal error"."""

from __future__ import annotations

import io
import itertools

import pytest
from django.db import connection

from content.epg.errors import FetchTimedOut
from content.epg.importer import import_guide
from content.epg.xmltv import FIELD_LIMITS, MAX_TOKEN_BYTES
from content.models import Program
from tests.epg.attack_guides import huge_title_guide, many_channels_guide
from tests.epg.helpers import BASE, at, fetch_now, guide, gzipped, make_source, program, stored

pytestmark = pytest.mark.django_db


def attack(build, *args) -> bytes:
    out = io.BytesIO()
    build(out, *args)
    return out.getvalue()


def test_a_huge_title_is_cut_to_its_limit(portal, server):
    body = attack(huge_title_guide, 8 * 2**20, BASE)  # 8 MiB of "A" in a few KB of gzip
    assert len(body) < 64 * 1024
    source = make_source(portal, url=server.serve("/huge.xml.gz", body))
    fetch = fetch_now(source)
    assert (fetch.status, fetch.imported_programs) == ("success", 1), fetch.message
    title = Program.objects.get(epg_source=source).title
    assert title == "A" * FIELD_LIMITS["title"]


def test_every_text_field_keeps_its_first_characters(portal, server):
    long = "0123456789" * 3000  # 30,000 characters
    source = make_source(portal, url=server.serve("/g.xml", guide(
        program("a.tv", 0, 1, long, desc=long, category=long, sub_title=long, episode_num=long,
                  body=f"<rating><value>{long}</value></rating>"))))
    assert fetch_now(source).status == "success"
    row = Program.objects.get(epg_source=source)
    assert (row.title, row.description, row.genre, row.subtitle, row.episode, row.rating) == (
        long[:FIELD_LIMITS["title"]], long[:FIELD_LIMITS["desc"]], long[:FIELD_LIMITS["category"]],
        long[:FIELD_LIMITS["sub-title"]], long[:FIELD_LIMITS["episode-num"]], long[:FIELD_LIMITS["rating"]])


def test_channels_beyond_the_limit_are_skipped_and_counted(portal, server, settings):
    settings.EPG_MAX_CHANNELS = 40
    source = make_source(portal, url=server.serve("/many.xml.gz", attack(many_channels_guide, 100, BASE)))
    fetch = fetch_now(source)
    assert (fetch.status, fetch.channels, fetch.found_programs, fetch.imported_programs) == ("success", 40, 100, 40)
    assert "60 on a channel beyond EPG_MAX_CHANNELS (40)" in fetch.message
    assert sorted({row[0] for row in stored(source)}) == [f"c{n:07d}.tv" for n in range(40)]


def test_a_giant_tag_refuses_the_guide_and_changes_nothing(portal, server):
    source = make_source(portal, url=server.serve("/g.xml", guide(program("a.tv", 0, 1, "Kept"))))
    fetch_now(source)
    giant = guide(program("x" * (MAX_TOKEN_BYTES + 2**20), 0, 1, "Giant"))
    server.serve("/g.xml", gzipped(giant))
    fetch = fetch_now(source)
    assert fetch.status == "error"
    assert fetch.message.startswith("Refused the guide: a single tag, attribute, comment or processing instruction "
                                    "is longer than 4 MiB at line ")
    assert stored(source) == [("a.tv", at(0), at(1), "Kept")]


def test_the_time_limit_holds_while_parsing_a_small_download(portal, server):
    """917 KB can decompress to 900 MiB: the deadline is checked for every parsed chunk, not only on reads.
    The clock is a counter (one tick per look), so the test does not depend on the machine's speed."""
    body = attack(huge_title_guide, 64 * 2**20, BASE)
    source = make_source(portal, url=server.serve("/huge.xml.gz", body))
    ticks = itertools.count()
    with pytest.raises(FetchTimedOut, match=r"Timed out after 40 s \(EPG_FETCH_TIMEOUT\) while parsing the guide"):
        import_guide(source, timeout=40, max_bytes=2**30, allow_private=True, retention_days=14,
                     clock=lambda: float(next(ticks)))
    assert not Program.objects.filter(epg_source=source).exists()


@pytest.mark.parametrize(("declared", "named"), [("UTF-7", "utf-7"), ("x-klingon", "x-klingon"),
                                                  ("Shift_JIS", "shift_jis")])
def test_an_unsupported_encoding_is_named_on_the_fetch(portal, server, declared, named):
    source = make_source(portal, url=server.serve("/g.xml", guide(program("a.tv", 0, 1, "Kept"))))
    fetch_now(source)
    document = guide(program("a.tv", 0, 1, "New")).replace(b'encoding="UTF-8"', f'encoding="{declared}"'.encode())
    server.serve("/g.xml", document)
    fetch = fetch_now(source)
    assert (fetch.status, fetch.message) == ("error", f"Unsupported encoding {named} declared by the guide; use UTF-8 "
                                                      "(or UTF-16, ISO-8859-1, US-ASCII or another single-byte encoding).")
    assert stored(source) == [("a.tv", at(0), at(1), "Kept")]


def test_a_single_byte_encoding_is_still_read(portal, server):
    document = guide(program("a.tv", 0, 1, "Caf\u00e9")).replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"')
    source = make_source(portal, url=server.serve("/g.xml", document.decode().encode("latin-1")))
    assert fetch_now(source).status == "success"
    assert stored(source)[0][3] == "Caf\u00e9"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the stored keys are PostgreSQL's (pgstore)")
@pytest.mark.parametrize(("max_block", "cached"), [(262_144, 2_000_000), (262_144, 4), (2, 2_000_000)])
def test_stored_keys_are_spooled_off_the_heap_and_answer_exactly(portal, server, monkeypatch, max_block, cached):
    """Blocks read and cached, blocks read with a cache smaller than the guide, or searched on disk."""
    from content.epg import pgstore

    monkeypatch.setattr(pgstore, "MAX_BLOCK", max_block)
    monkeypatch.setattr(pgstore, "CACHED_KEYS", cached)
    rows = [(f"{name}.tv", hour, hour + 1, f"{name}{hour}") for name in "abc" for hour in range(3)]
    source = make_source(portal, url=server.serve("/g.xml", guide(*(program(*row) for row in rows))))
    fetch_now(source)
    keys = pgstore.StoredKeys.load(connection, source.id)
    try:
        assert (keys.complete, keys.size, keys._file.seek(0, io.SEEK_END)) == (True, 9, 9 * 16)  # on disk
        stored_keys = {(r.epg_channel_name, int(r.start.timestamp()), r.content_hash)
                       for r in Program.objects.filter(epg_source=source)}
        # Interleaved lookups (channel after channel and back), absent channels, starts and changed hashes.
        for channel, start, digest in sorted(stored_keys, key=lambda key: (key[1], key[0])):
            assert (channel, start, digest) in keys
            assert (channel, start, digest + 1) not in keys
            assert (channel, start + 1, digest) not in keys
            assert ("z.tv", start, digest) not in keys
        assert ("a.tv", int(at(-5).timestamp()), 0) not in keys and ("c.tv", int(at(50).timestamp()), 0) not in keys
    finally:
        keys.close()
    bounded = pgstore.StoredKeys.load(connection, source.id, max_channels=2)
    assert (bounded.complete, bounded.size, "c.tv" in bounded._index) == (False, 6, False)
    bounded.close()

    changed = [row[:3] + (row[3] + "!",) if row[0] != "a.tv" else row for row in rows]
    server.serve("/g.xml", guide(*(program(*row) for row in changed)))
    fetch = fetch_now(source)
    assert (fetch.status, fetch.imported_programs, fetch.deleted_programs) == ("success", 6, 0), fetch.message
    assert [row[3] for row in stored(source)] == [row[3] for row in changed]
