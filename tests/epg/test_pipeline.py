"""Parsing in a child process while the importer writes: every way for one side to fail ends both, writes
nothing and leaves no process behind."""

from __future__ import annotations

import itertools
import os
import signal
from pathlib import Path

import pytest
from django.db import DatabaseError

from content.epg import importer, pipeline
from content.epg.xmltv import XmltvParser
from content.models import Program
from tests.epg.helpers import fetch_now, guide, gzipped, make_source, program, stored

pytestmark = [pytest.mark.django_db,
              pytest.mark.skipif(not pipeline.available(), reason="the parser process needs os.fork")]

PROGRAMS = 4000  # with their descriptions about 3 MB of XML: a dozen chunks, more than the pipe holds


def big_guide(title: str = "Show", *, broken: bool = False) -> bytes:
    """PROGRAMS programmes on 20 channels; ``broken`` cuts a tag in the last programmes (bad XML far in)."""
    programs = [program(f"ch{n % 20}.tv", n // 20, n // 20 + 1, f"{title} {n}", desc="A long description. " * 30)
                for n in range(PROGRAMS)]
    if broken:
        programs[-5] = programs[-5].replace("</title>", "</titel>")
    return guide(*programs)


def child_processes() -> set[int]:
    """This process's children, running or not yet reaped (every thread's)."""
    return {int(pid) for path in Path(f"/proc/{os.getpid()}/task").glob("*/children")
            for pid in path.read_text().split()}


def after_half(failure: BaseException | signal.Signals):
    """The parser process's reading of each programme (it is forked: it inherits the patch), raising
    ``failure`` or killed by that signal half-way through the guide."""
    real, seen = XmltvParser._collect_raw, itertools.count(1)

    def collect(self, *args):
        if next(seen) == PROGRAMS // 2:
            if isinstance(failure, BaseException):
                raise failure
            os.kill(os.getpid(), failure)
        real(self, *args)

    return collect


@pytest.fixture
def batches(monkeypatch) -> list[int]:
    """The sizes of the row batches the importer received from the parser process."""
    seen: list[int] = []
    real = pipeline.ParserProcess.batches

    def counted(self):
        for rows in real(self):
            seen.append(len(rows))
            yield rows

    monkeypatch.setattr(pipeline.ParserProcess, "batches", counted)
    return seen


@pytest.fixture
def before() -> set[int]:
    return child_processes()


def test_a_guide_is_parsed_in_a_child_process_and_written_here_in_batches(portal, server, batches, before):
    source = make_source(portal, url=server.serve("/g.xml.gz", gzipped(big_guide())))
    fetch = fetch_now(source)
    assert (fetch.status, fetch.found_programs, fetch.imported_programs) == ("success", PROGRAMS, PROGRAMS)
    assert len(batches) > 5 and sum(batches) == PROGRAMS
    assert Program.objects.filter(epg_source=source).count() == PROGRAMS
    again = fetch_now(source)
    assert (again.status, again.imported_programs, again.deleted_programs) == ("success", 0, 0)
    assert child_processes() == before


@pytest.mark.parametrize("first_import", [True, False])
def test_bad_xml_far_into_the_guide_writes_nothing_and_names_the_error(portal, server, batches, before,
                                                                     first_import):
    source = make_source(portal, url=server.url("/g.xml"))
    if not first_import:
        server.serve("/g.xml", guide(program("ch1.tv", 0, 1, "Kept")))
        fetch_now(source)
        batches.clear()
    kept = stored(source)
    server.serve("/g.xml", big_guide("New", broken=True))
    fetch = fetch_now(source)
    assert fetch.status == "error"
    assert fetch.message.startswith("The guide is not well-formed XML: mismatched tag at line "), fetch.message
    assert sum(batches) > PROGRAMS // 2  # most rows had reached the database before the error
    assert stored(source) == kept
    assert child_processes() == before


def test_a_parser_that_crashes_is_an_internal_error_and_writes_nothing(portal, server, monkeypatch, before):
    source = make_source(portal, url=server.serve("/g.xml", guide(program("ch1.tv", 0, 1, "Kept"))))
    fetch_now(source)
    monkeypatch.setattr(XmltvParser, "_collect_raw", after_half(ZeroDivisionError("boom")))
    server.serve("/g.xml", big_guide("New"))
    fetch = fetch_now(source)
    assert (fetch.status, fetch.message) == (
        "error", "Internal error while importing: ParserCrashed: The guide's parser process failed: ZeroDivisionError: boom")
    assert [row[3] for row in stored(source)] == ["Kept"]
    assert child_processes() == before


def test_a_parser_killed_mid_stream_is_an_error_and_writes_nothing(portal, server, monkeypatch, before):
    source = make_source(portal, url=server.serve("/g.xml", guide(program("ch1.tv", 0, 1, "Kept"))))
    fetch_now(source)
    monkeypatch.setattr(XmltvParser, "_collect_raw", after_half(signal.SIGKILL))  # as the out-of-memory killer
    server.serve("/g.xml", big_guide("New"))
    fetch = fetch_now(source)
    assert (fetch.status, fetch.message) == (
        "error", "Internal error while importing: ParserCrashed: The guide's parser process ended unexpectedly "
                 "(killed by signal SIGKILL); nothing was imported.")
    assert [row[3] for row in stored(source)] == ["Kept"]
    assert child_processes() == before


@pytest.mark.parametrize("first_import", [True, False])
def test_a_failing_writer_stops_the_parser_even_while_it_waits_for_the_network(portal, server, monkeypatch,
                                                                               before, first_import):
    """The database fails on the second batch while the child is still downloading (the server holds the
    rest of the guide back): the child is killed and reaped at once, and nothing is written."""
    source = make_source(portal, url=server.url("/g.xml"))
    if not first_import:
        server.serve("/g.xml", guide(program("ch1.tv", 0, 1, "Kept")))
        fetch_now(source)
    kept = stored(source)
    body = big_guide("New")
    server.serve("/g.xml", body, pause_at=len(body) // 2)
    real_open = importer.open_store
    written: list[int] = []

    def failing_store(*args, **kwargs):
        store = real_open(*args, **kwargs)
        real_write = store.write

        def write(rows):
            if written:
                raise DatabaseError("could not extend file: No space left on device")
            written.append(len(rows))
            real_write(rows)

        store.write = write
        return store

    monkeypatch.setattr(importer, "open_store", failing_store)
    try:
        fetch = fetch_now(source)
        assert server.paused.is_set() and child_processes() == before  # stopped while waiting for the server
    finally:
        server.resume.set()
    assert (fetch.status, fetch.message) == (
        "error", "Internal error while importing: DatabaseError: could not extend file: No space left on device")
    assert stored(source) == kept


@pytest.mark.django_db(databases=[])
def test_a_guide_read_raw_and_taken_elsewhere_gives_the_rows_and_figures_of_one_parser():
    """The split the importer uses (read in the child, checked and timed here) changes nothing: the same
    rows, skips by reason, channel ranges and count as one parser doing both, on a guide full of quirks."""
    document = guide(
        program("one.tv", 0, None, "Open ended"), program("one.tv", 1, 2, "Closed"),
        program("one.tv", 1, 3, "Duplicate start"), program("one.tv", 2, None, "Last, no stop"),
        program("two.tv", 0, 1, None), program("two.tv", 2, 2, "Zero length"), program("two.tv", 4, 3, "Backwards"),
        program("two.tv", "tomorrow", 5, "Bad start"), program("two.tv", 6, "20301340990000 +0000", "Bad stop"),
        program("", 7, 8, "No channel"), program(" three.tv ", 1, 2, "Padded id", offset=180),
        program("four.tv", 0, 1, "Over the channel limit"),
        program("one.tv", 5, 6, "Show", body='<title lang="fr">Émission</title><desc lang="fr">Le soir.</desc>'
                                             '<desc lang="en">Evening.</desc><rating><value>12+</value></rating>'),
    )

    def parse(parser: XmltvParser, *, split: bool) -> tuple:
        reader = XmltvParser(language="fr", raw=True) if split else parser
        rows = []
        for start in range(0, len(document), 97):  # small pieces: programmes cut across feeds
            reader.feed(document[start:start + 97])
            if split:
                parser.take_raw(reader.rows)
                reader.rows.clear()
            rows += parser.rows
            parser.rows.clear()
        reader.close()
        if split:
            parser.take_raw(reader.rows)
            parser.end_raw()
            rows += parser.rows
        return rows, parser.found, dict(parser.skipped), parser.ranges

    whole = parse(XmltvParser(language="fr", max_channels=3), split=False)
    split = parse(XmltvParser(language="fr", max_channels=3), split=True)
    assert split == whole
    rows, found, skipped, ranges = whole
    assert found == 13 and len(rows) == 5 and set(ranges) == {"one.tv", "three.tv"}
    assert rows[-1][3:6] == ("Émission", "fr", "Le soir.")
    assert sum(skipped.values()) == 8


def test_the_parser_process_dies_with_its_worker():
    """A worker killed mid-import (out of memory, SIGKILL) takes its parser process with it, even one that
    is waiting for the network and would send nothing for a long time."""
    import subprocess
    import sys
    import time

    script = ("import sys, time\nsys.path.insert(0, sys.argv[1])\nfrom content.epg.pipeline import ParserProcess\n"
              "child = ParserProcess(lambda send: time.sleep(120))\nprint(child.pid, flush=True)\ntime.sleep(120)\n")
    worker = subprocess.Popen([sys.executable, "-c", script, str(Path(pipeline.__file__).parents[2])],
                              stdout=subprocess.PIPE, text=True)
    try:
        parser_pid = int(worker.stdout.readline())
        assert process_state(parser_pid) not in (None, "Z")
    finally:
        worker.kill()
        worker.wait()
    deadline = time.monotonic() + 10
    while process_state(parser_pid) not in (None, "Z") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process_state(parser_pid) in (None, "Z")  # gone (or a zombie waiting for init to reap it)


def process_state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None
