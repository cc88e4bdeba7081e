"""One fetch end to end: download → decompress → parse → store, then merge in one transaction.

Download and parsing run in a child process while this one writes (:mod:`.pipeline`), so parsing and COPY
overlap. Nothing is held in memory beyond one chunk of the body and the rows parsed from it. The figures and the
message of the fetch record come from :class:`ImportReport`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import hashlib
import itertools
import queue
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from content.models import EpgFetch, EpgSource, FetchStatus, Program
from content.models.epg import UNCHANGED_MESSAGE

from . import pipeline
from .channels import replace_source_channels
from .decode import too_large, xml_bytes
from .errors import Deadline, FetchFailed, FetchTimedOut
from .http import CHUNK_SIZE, Download
from .store import Store, open_store
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
    body: GuideBody | None = None  # what identifies the downloaded body (None when the fetch failed)
    settings_key: str = ""
    key_settings: dict = field(default_factory=dict)  # what settings_key was made of besides the source's fields
    unchanged_since: dt.datetime | None = None  # the body is the one imported then: nothing was parsed

    def message(self) -> str:
        if self.unchanged_since is not None:
            return self._unchanged_message()
        text = (f"EPG source fetched successfully: {self.found:,} programmes found for {self.channels:,} "
                f"channels, {self.imported:,} imported, {self.deleted:,} deleted.")
        return text + (" " + skipped_text(self.skipped) if self.skipped else "")

    def _unchanged_message(self) -> str:
        since = self.unchanged_since.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        how = ("the server answered 304 Not Modified" if self.body and self.body.not_modified
               else "the downloaded guide is identical")
        kept = f"{self.found:,} programmes for {self.channels:,} channels kept"
        if self.deleted:
            return (f"{UNCHANGED_MESSAGE} {since} UTC ({how}): nothing imported, {kept}; {self.deleted:,} "
                    "deleted (ended before the retention period).")
        return f"{UNCHANGED_MESSAGE} {since} UTC ({how}): nothing written, {kept}."

    def source_fields(self) -> dict:
        """The source's kept-guide fields after this successful fetch (see :class:`KeptGuide`)."""
        if self.body is None:
            return {}
        fields = {"guide_etag": self.body.etag, "guide_last_modified": self.body.last_modified}
        if self.unchanged_since is None:  # imported: this body is the one kept from now on
            fields["guide_digest"] = f"{self.settings_key}:{self.body.digest}" if self.body.digest else ""
            fields["guide_imported_at"] = timezone.now()
        return fields


# Part of every kept digest: raise it when a change of the code changes the programmes a guide maps to (the
# parser, the time conversion, the checks), so the next fetch of every source imports again.
IMPORT_VERSION = 1


@dataclass(frozen=True)
class GuideBody:
    """What the download brought: its size, time, digest (BLAKE2b of its first bytes and of the whole body as
    downloaded, compressed or not, ``"<first>:<whole>"``; empty when not all was read) and HTTP validators; ``unchanged``: it is the body imported last (same
    digest, or a 304 answer to the kept validators), so it was not parsed."""

    received: int
    network_seconds: float
    digest: str
    etag: str
    last_modified: str
    unchanged: bool
    not_modified: bool = False


@dataclass(frozen=True)
class KeptGuide:
    """The source's last imported body, as kept on the source: valid only for the same import settings.

    A fetch sends its validators (If-None-Match / If-Modified-Since); a 304 answer, or a downloaded body with
    the same digest, means the guide is the one imported last, so the programmes it maps to are stored already
    and nothing is parsed or written (only the retention clean-up runs, as in any import). The settings key
    covers everything else the rows depend on — :data:`IMPORT_VERSION`, the URL, ``offsetMinutes``,
    ``forceOffset``, the portal's guide language, ``EPG_MAX_CHANNELS``, ``EPG_RETENTION_DAYS`` (a longer one
    keeps past programmes a full import of the same guide would bring back) — and the source's fields are cleared
    when its URL or offset changes (the offset change also deletes the programmes that have not ended).
    """

    digest: str
    etag: str
    last_modified: str

    @staticmethod
    def settings_key(source, *, language: str, max_channels: int, retention_days: int) -> str:
        text = "\x1f".join(str(value) for value in (IMPORT_VERSION, source.url, source.offset_minutes,
                                                     source.force_offset, language, max_channels, retention_days))
        return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()

    @classmethod
    def of(cls, source, settings_key: str) -> KeptGuide | None:
        """The kept body of ``source`` if it was imported with these settings and its programmes are still
        there (a source emptied by other means — none in this code — imports in full again)."""
        key, _, digest = source.guide_digest.partition(":")
        if key != settings_key or not digest or source.guide_imported_at is None:
            return None
        if not Program.objects.filter(epg_source_id=source.id).exists():
            return None
        return cls(digest=digest, etag=source.guide_etag, last_modified=source.guide_last_modified)


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


PREFIX_BYTES = 64 * 1024  # the first bytes of a body, digested apart: whether it is likely the one kept


class _Hashed:
    """The downloaded chunks, digested as they pass: :meth:`digest` is ``"<first bytes>:<whole body>"``
    (BLAKE2b), the whole body's part empty unless the download was read to its end."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = iter(chunks)
        self._prefix = hashlib.blake2b(digest_size=16)
        self._whole = hashlib.blake2b(digest_size=32)
        self._seen = 0
        self.complete = False

    def __iter__(self) -> Iterator[bytes]:
        whole = self._whole.update
        for chunk in self._chunks:
            if self._seen < PREFIX_BYTES:
                self._prefix.update(chunk[:PREFIX_BYTES - self._seen])
            self._seen += len(chunk)
            whole(chunk)
            yield chunk
        self.complete = True

    def head(self) -> tuple[list[bytes], Iterator[bytes]]:
        """Read the first :data:`PREFIX_BYTES` (or the whole body if shorter): those chunks, and the rest."""
        chunks, rest = [], iter(self)
        for chunk in rest:
            chunks.append(chunk)
            if self._seen >= PREFIX_BYTES:
                break
        return chunks, rest

    def prefix(self) -> str:
        return self._prefix.hexdigest()

    def digest(self) -> str:
        return f"{self.prefix()}:{self._whole.hexdigest() if self.complete else ''}"


def _spooled(head: list[bytes], rest: Iterator[bytes], spool, max_bytes: int,
             deadline: Deadline) -> Callable[[], Iterator[bytes]]:
    """Download the whole body into ``spool`` (a temporary file), then replay it: the digest is known before a
    byte is parsed. The body as downloaded may not exceed ``max_bytes`` either."""
    received = 0
    for chunk in itertools.chain(head, rest):
        deadline.remaining("downloading the guide")
        received += len(chunk)
        if received > max_bytes:
            raise too_large(max_bytes)
        spool.write(chunk)

    def replay() -> Iterator[bytes]:
        spool.seek(0)
        while chunk := spool.read(CHUNK_SIZE):
            yield chunk

    return replay


_DONE = object()
PREFETCH = 4  # downloaded chunks read ahead of the parser (at most 1 MiB of the body as sent)


def _prefetched(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """``pieces``, read (downloaded, digested) by a thread ahead of the consumer: the socket and hashlib release the
    GIL, so a slow network overlaps the parse. The thread's exception is raised here, in order; when the consumer
    stops early, the thread stops at its next piece.

    Decompression stays in the consumer's thread: a second thread that needs the GIL after every piece of
    decompressed output interrupts the parser more than it relieves it (the import of the benchmark's guide was
    about 5% slower with it there)."""
    handoff: queue.Queue = queue.Queue(PREFETCH)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for piece in pieces:
                if not put(piece):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            put((exc,))
            return
        put(_DONE)

    reader = threading.Thread(target=read, name="epg-guide-reader", daemon=True)
    reader.start()
    try:
        while (item := handoff.get()) is not _DONE:
            if isinstance(item, tuple):
                raise item[0]
            yield item
    finally:  # not joined: it may be waiting on the network; it ends at its next piece (or with the socket)
        stop.set()


def _read_guide(download: Download, parser: XmltvParser, write: Callable[[list], None], max_bytes: int,
                deadline: Deadline, known_digest: str = "") -> tuple:
    """Stream the body through decompression and the parser to ``write``, chunk by chunk; the deadline is
    checked for every chunk (a small download can decompress into a long parse).

    With ``known_digest`` (the body imported last) and a body that starts as that one did, the body is
    downloaded in full first and not parsed at all when it is that one; a body that starts otherwise is parsed
    as it streams in. Returns the fields of :class:`GuideBody` (a tuple: it crosses the pipe from the parser
    process)."""
    with download, tempfile.TemporaryFile(prefix="catena-epg-guide-") as spool:
        if download.not_modified:
            return (0, download.network_seconds, known_digest, download.etag, download.last_modified, True, True)
        body = _Hashed(download.chunks())
        chunks: Iterator[bytes] = iter(body)
        if known_digest:
            head, rest = body.head()
            if body.prefix() == known_digest.partition(":")[0]:
                replay = _spooled(head, rest, spool, max_bytes, deadline)
                if body.digest() == known_digest:
                    return (download.received, download.network_seconds, known_digest, download.etag,
                            download.last_modified, True, False)
                chunks = replay()
            else:
                chunks = itertools.chain(head, rest)
        for chunk in xml_bytes(_prefetched(chunks), max_bytes=max_bytes):
            deadline.remaining("parsing the guide")
            parser.feed(chunk)
            if parser.rows:
                write(parser.rows)
                parser.rows.clear()
        parser.close()
        if parser.rows:
            write(parser.rows)
            parser.rows.clear()
        return (download.received, download.network_seconds, body.digest() if body.complete else "", download.etag,
                download.last_modified, False, False)


def _parse_into(store, download: Download, parser: XmltvParser, max_bytes: int, deadline: Deadline,
                language: str, known_digest: str) -> GuideBody:
    """Read the guide into ``store``. Where the platform can fork, a child process downloads and reads the
    XML (a ``raw`` parser, :mod:`.pipeline`) while this one turns its raw programmes into rows with
    ``parser`` (times, checks, figures) and writes them: the work is shared by two cores."""
    if not pipeline.available():
        return GuideBody(*_read_guide(download, parser, store.write, max_bytes, deadline, known_digest))
    reader = XmltvParser(language=language, raw=True, max_channels=parser.max_channels)

    def work(send: Callable[[list], None]) -> tuple[tuple, dict]:
        # The guide's <channel> elements (few, bounded) come back with the figures, once the guide is read.
        return _read_guide(download, reader, send, max_bytes, deadline, known_digest), reader.channels

    with pipeline.ParserProcess(work) as child, _without_cyclic_gc():
        for programs in child.batches():
            parser.take_raw(programs)
            if parser.rows:
                store.write(parser.rows)
                parser.rows.clear()
        parser.end_raw()
        fields, parser.channels = child.result
        return GuideBody(*fields)


@contextlib.contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """No cyclic garbage collection while rows stream through (they form no cycles; its passes over them cost
    about a tenth of the time); what it would have found is collected afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _LazyStore:
    """The store, opened at its first use: a guide found unchanged never opens one (no stored keys loaded, no
    staging table made)."""

    def __init__(self, stack: contextlib.ExitStack, open_: Callable[[], Store]):
        self._stack, self._open, self._store = stack, open_, None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = self._stack.enter_context(self._open())
        return self._store

    def open(self) -> None:
        self.store  # noqa: B018 - the property opens it

    def write(self, rows: list) -> None:
        self.store.write(rows)

    def abort(self, exc: BaseException) -> None:
        if self._store is not None:
            self._store.abort(exc)


def guide_parser(source, *, language: str, max_channels: int) -> XmltvParser:
    """The parser of ``source``'s guide: its times read with the source's ``offsetMinutes``/``forceOffset``."""
    return XmltvParser(language=language, max_channels=max_channels,
                       offset_minutes=source.offset_minutes, force_offset=source.force_offset)


def import_guide(source, *, timeout: float, max_bytes: int, allow_private: bool, retention_days: int,
                 language: str = "", max_channels: int = DEFAULT_MAX_CHANNELS,
                 on_success: Callable[[ImportReport], None] | None = None, clock=None) -> ImportReport:
    """Fetch ``source.url`` and replace the source's programmes with the guide's.

    When the guide is the one imported last (:class:`KeptGuide`), nothing is parsed or written but the
    retention clean-up, and the report says since when it is unchanged.

    ``on_success(report)`` runs inside the merge transaction, so the fetch record and the programmes commit
    together. Raises FetchFailed (or FetchTimedOut) with the operator's message; programmes are then unchanged.
    """
    started = time.perf_counter()
    deadline = Deadline(timeout, clock)
    report = ImportReport(url=source.url)
    report.key_settings = {"language": language, "max_channels": max_channels, "retention_days": retention_days}
    report.settings_key = KeptGuide.settings_key(source, **report.key_settings)
    kept = KeptGuide.of(source, report.settings_key)
    parser = guide_parser(source, language=language, max_channels=max_channels)
    with import_lock(source.id), contextlib.ExitStack() as stack:
        store = _LazyStore(stack, lambda: open_store(connection, source.id, source.portal_id,
                                                     max_channels=max_channels))
        if kept is None:  # a new body is likely: the store gets ready while the guide downloads
            store.open()
        download = Download(source.url, deadline=deadline, allow_private=allow_private,
                            etag=kept.etag if kept else "", last_modified=kept.last_modified if kept else "")
        try:
            report.body = _parse_into(store, download, parser, max_bytes, deadline, language,
                                      kept.digest if kept else "")
        except BaseException as exc:
            store.abort(exc)
            raise
        finally:
            report.fetched_at = timezone.now()
        report.bytes_received, report.fetch_seconds = report.body.received, report.body.network_seconds
        if report.body.unchanged:
            _keep_unchanged(source, report, retention_days, deadline, started, on_success)
            return report
        deadline.remaining("storing the programmes")
        store.store.finish(parser.ranges)
        report.found, report.channels, report.skipped = parser.found, parser.channel_count, parser.skipped
        with _merge_transaction(source.id, deadline, timeout, report):
            result = store.store.merge(timezone.now() - dt.timedelta(days=retention_days))
            report.imported, report.deleted = result.imported, result.deleted
            replace_source_channels(source.id, parser.channel_listing())
            report.import_seconds = max(0.0, time.perf_counter() - started - report.fetch_seconds)
            if on_success is not None:
                on_success(report)
    return report


@contextlib.contextmanager
def _merge_transaction(source_id: int, deadline: Deadline, timeout: float, report: ImportReport) -> Iterator[None]:
    """The transaction of the merge (see :func:`_begin_merge`); a statement stopped by the deadline is a timeout.

    The source's row is locked: if its URL or offset changed while the guide was read (the change deleted the
    programmes not ended yet and made the source due), what was read is stale — the fetch ends, writes nothing,
    and the source is fetched again soon with its new settings."""
    try:
        with transaction.atomic():
            _begin_merge(source_id, deadline)
            current = EpgSource.objects.get(pk=source_id)
            if KeptGuide.settings_key(current, **report.key_settings) != report.settings_key:
                raise FetchFailed("The source's URL or offset changed while its guide was read; nothing was "
                                  "written. It is fetched again with the new settings.")
            yield
    except DatabaseError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == QUERY_CANCELED:
            raise FetchTimedOut(f"Timed out after {timeout:g} s (EPG_FETCH_TIMEOUT) while writing the "
                                "programmes; nothing was changed.") from None
        raise


def _keep_unchanged(source, report: ImportReport, retention_days: int, deadline: Deadline, started: float,
                    on_success: Callable[[ImportReport], None] | None) -> None:
    """The guide is the one imported last: its programmes are stored already. Only what any import does
    whatever the guide runs: programmes that ended before the retention period are deleted."""
    report.unchanged_since = source.guide_imported_at
    figures = (EpgFetch.objects.filter(epg_source_id=source.id, status=FetchStatus.SUCCESS).order_by("-id")
               .values_list("channels", "found_programs").first())
    report.channels, report.found = figures or (0, 0)
    retain_after = timezone.now() - dt.timedelta(days=retention_days)
    with _merge_transaction(source.id, deadline, deadline.seconds, report):
        report.deleted = Program.objects.filter(epg_source_id=source.id, start__lt=retain_after,
                                                end__lt=retain_after).delete()[0]
        report.import_seconds = max(0.0, time.perf_counter() - started - report.fetch_seconds)
        if on_success is not None:
            on_success(report)
