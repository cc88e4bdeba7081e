"""Parsing in a child process while the importer writes: every way for one side to fail ends both, writes
nothing and leaves no process behind."""

from __future__ import annotations

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
    real = XmltvParser._finish_program

    def failing(self, *args):
        if self.found == PROGRAMS // 2:
            raise ZeroDivisionError("boom")
        real(self, *args)

    monkeypatch.setattr(XmltvParser, "_finish_program", failing)  # the child is forked: it inherits this
    server.serve("/g.xml", big_guide("New"))
    fetch = fetch_now(source)
    assert (fetch.status, fetch.message) == (
        "error", "Internal error while importing: ParserCrashed: The guide's parser process failed: ZeroDivisionError: boom")
    assert [row[3] for row in stored(source)] == ["Kept"]
    assert child_processes() == before


def test_a_parser_killed_mid_stream_is_an_error_and_writes_nothing(portal, server, monkeypatch, before):
    source = make_source(portal, url=server.serve("/g.xml", guide(program("ch1.tv", 0, 1, "Kept"))))
    fetch_now(source)
    real = XmltvParser._finish_program

    def killed(self, *args):
        if self.found == PROGRAMS // 2:
            os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's out-of-memory killer would
        real(self, *args)

    monkeypatch.setattr(XmltvParser, "_finish_program", killed)
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
