"""One fetch end to end: download → decompress → parse → store, then merge in one transaction.

Download and parsing run in a child process while this one writes (:mod:`.pipeline`), so parsing and COPY
overlap. Nothing is held in memory beyond one chunk of the body and the rows parsed from it. The figures and the
message of the fetch record come from :class:`ImportReport`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from content.models import EpgSource

from . import pipeline
from .channels import replace_source_channels
from .decode import xml_bytes
from .errors import Deadline, FetchFailed, FetchTimedOut
from .http import Download
from .store import open_store
from .xmltv import DEFAULT_MAX_CHANNELS, XmltvParser


@dataclass
class ImportReport:
    """The figures of a fetch (spec §8) and what an operator should know about it."""

    url: str = ""
    channels: int = 0
    found: int = 0
    imported: int = 0
    deleted: int = 0
    skipped: Counter = field(default_factory=Counter)
    bytes_received: int = 0
    fetch_seconds: float = 0.0
    import_seconds: float = 0.0
    fetched_at: dt.datetime | None = None

    def message(self) -> str:
        text = (f"EPG source fetched successfully: {self.found:,} programmes found for {self.channels:,} "
                f"channels, {self.imported:,} imported, {self.deleted:,} deleted.")
        return text + (" " + skipped_text(self.skipped) if self.skipped else "")


def skipped_text(skipped: Counter) -> str:
    """``Skipped 5 programmes: 3 no title, 2 stop not after start.``"""
    total = sum(skipped.values())
    reasons = ", ".join(f"{count:,} {reason}" for reason, count in skipped.most_common())
    return f"Skipped {total:,} programme{'s' if total != 1 else ''}: {reasons}."


@contextlib.contextmanager
def import_lock(source_id: int) -> Iterator[None]:
    """Hold the source's import lock (a PostgreSQL session advisory lock) or fail at once.

    The fetch record's partial unique index already allows one active fetch per source; this lock also
    covers a worker that is still importing after its fetch was given up as abandoned. Elsewhere (SQLite:
    one host, serialized writers) the record's index is the guarantee.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [source_id])
        if not cursor.fetchone()[0]:
            raise FetchFailed("Another import of this source is still running; this fetch was not started.")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [source_id])


def _begin_merge(source_id: int, deadline: Deadline) -> None:
    """Inside the merge transaction: lock the source row (a concurrent delete or rename waits for the merge;
    a source deleted meanwhile ends the fetch) and bound every statement by the fetch's deadline."""
    if not EpgSource.objects.select_for_update().filter(pk=source_id).exists():
        raise FetchFailed("The EPG source was deleted during the fetch; nothing was imported.")
    if connection.vendor == "postgresql":
        milliseconds = max(1, int(deadline.remaining("writing the programmes") * 1000))
        with connection.cursor() as cursor:
            # JIT compilation costs more than it saves on these one-off bulk statements.
            cursor.execute(f"SET LOCAL statement_timeout = {milliseconds}; SET LOCAL jit = off")


QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement stopped by statement_timeout


def _read_guide(download: Download, parser: XmltvParser, write: Callable[[list], None], max_bytes: int,
                deadline: Deadline) -> tuple[int, float]:
    """Stream the body through decompression and the parser to ``write``, chunk by chunk; the deadline is
    checked for every chunk (a small download can decompress into a long parse). Returns the bytes received
    and the seconds spent on the network."""
    with download:
        for chunk in xml_bytes(download.chunks(), max_bytes=max_bytes):
            deadline.remaining("parsing the guide")
            parser.feed(chunk)
            if parser.rows:
                write(parser.rows)
                parser.rows.clear()
        parser.close()
        if parser.rows:
            write(parser.rows)
            parser.rows.clear()
    return download.received, download.network_seconds


def _parse_into(store, download: Download, parser: XmltvParser, max_bytes: int, deadline: Deadline,
                language: str) -> tuple[int, float]:
    """Read the guide into ``store``. Where the platform can fork, a child process downloads and reads the
    XML (a ``raw`` parser, :mod:`.pipeline`) while this one turns its raw programmes into rows with
    ``parser`` (times, checks, figures) and writes them: the work is shared by two cores."""
    if not pipeline.available():
        return _read_guide(download, parser, store.write, max_bytes, deadline)
    reader = XmltvParser(language=language, raw=True)

    def work(send: Callable[[list], None]) -> tuple[int, float, dict]:
        # The guide's <channel> elements (few, bounded) come back with the figures, once the guide is read.
        return (*_read_guide(download, reader, send, max_bytes, deadline), reader.channels)

    with pipeline.ParserProcess(work) as child:
        for programs in child.batches():
            parser.take_raw(programs)
            if parser.rows:
                store.write(parser.rows)
                parser.rows.clear()
        parser.end_raw()
        received, network_seconds, parser.channels = child.result
        return received, network_seconds


def guide_parser(source, *, language: str, max_channels: int) -> XmltvParser:
    """The parser of ``source``'s guide: its times read with the source's ``offsetMinutes``/``forceOffset``."""
    return XmltvParser(language=language, max_channels=max_channels,
                       offset_minutes=source.offset_minutes, force_offset=source.force_offset)


def import_guide(source, *, timeout: float, max_bytes: int, allow_private: bool, retention_days: int,
                 language: str = "", max_channels: int = DEFAULT_MAX_CHANNELS,
                 on_success: Callable[[ImportReport], None] | None = None, clock=None) -> ImportReport:
    """Fetch ``source.url`` and replace the source's programmes with the guide's.

    ``on_success(report)`` runs inside the merge transaction, so the fetch record and the programmes commit
    together. Raises FetchFailed (or FetchTimedOut) with the operator's message; programmes are then unchanged.
    """
    started = time.perf_counter()
    deadline = Deadline(timeout, clock)
    report = ImportReport(url=source.url)
    parser = guide_parser(source, language=language, max_channels=max_channels)
    with import_lock(source.id), open_store(connection, source.id, source.portal_id,
                                                        max_channels=max_channels) as store:
        download = Download(source.url, deadline=deadline, allow_private=allow_private)
        try:
            report.bytes_received, report.fetch_seconds = _parse_into(store, download, parser, max_bytes, deadline,
                                                                      language)
        except BaseException as exc:
            store.abort(exc)
            raise
        finally:
            report.fetched_at = timezone.now()
        deadline.remaining("storing the programmes")
        store.finish(parser.ranges)
        report.found, report.channels, report.skipped = parser.found, parser.channel_count, parser.skipped
        retain_after = timezone.now() - dt.timedelta(days=retention_days)
        try:
            with transaction.atomic():
                _begin_merge(source.id, deadline)
                result = store.merge(retain_after)
                report.imported, report.deleted = result.imported, result.deleted
                replace_source_channels(source.id, parser.channel_listing())
                report.import_seconds = max(0.0, time.perf_counter() - started - report.fetch_seconds)
                if on_success is not None:
                    on_success(report)
        except DatabaseError as exc:
            if getattr(exc.__cause__, "sqlstate", None) == QUERY_CANCELED:
                raise FetchTimedOut(f"Timed out after {timeout:g} s (EPG_FETCH_TIMEOUT) while writing the "
                                    "programmes; nothing was changed.") from None
            raise
    return report
