"""PostgreSQL stores: binary COPY while the guide streams in, set-based statements for the merge.

Two strategies, chosen by :func:`open_postgres_store` from what the source already holds:

* :class:`BulkLoad` — the source has no programmes (its first import): rows are copied straight into the
  programme table inside one transaction, so the server builds table and indexes while we parse.
* :class:`StagedMerge` — every later import: rows are copied into a temporary table outside any transaction
  (a long download holds no locks), then merged in a few statements. The keys of the stored programmes are
  loaded first (one int per programme), so a programme stored unchanged is staged as its key alone and an
  unchanged guide sends a few bytes per programme instead of the programme. Those keys are spooled to a
  temporary file (:class:`StoredKeys`), not held in memory.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from array import array
from bisect import bisect_left

from django.db import transaction

from catena_site.ids import new_ids

from .store import (
    PROGRAM_COLUMNS,
    PROGRAM_TABLE,
    RETENTION_DELETE,
    STAGE_COLUMNS,
    MergeResult,
    Store,
    content_hash,
)
from .xmltv import DEFAULT_MAX_CHANNELS

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MAX_BLOCK = 262_144  # programmes of one channel read into memory at once (4 MiB); more are searched on disk
CACHED_KEYS = 2_000_000  # programmes' keys held in memory at most (32 MiB)
_UNCHANGED = (None,) * 9  # staged columns "stop" … "episode" of a programme that is stored as it is
STAGE_TYPES = ["int8", "text", "timestamptz", "timestamptz"] + ["text"] * 8 + ["int8"]
PROGRAM_TYPES = ["int8", "int8", "int8", "text", "timestamptz", "timestamptz"] + ["text"] * 8 + ["int8"]


class Datetimes(dict):
    """UTC Unix seconds → aware datetimes, each built once (guides repeat the same times across channels)."""

    def __missing__(self, seconds: int) -> dt.datetime:
        if len(self) >= 50_000:
            self.clear()
        value = self[seconds] = _EPOCH + dt.timedelta(seconds=seconds)
        return value


class StoredKeys:
    """The source's stored programmes as (start, content hash) per channel, kept off the heap.

    They stream in from a server-side cursor, ordered by channel and start, and are spooled to an unnamed
    temporary file as 16-byte records; memory holds only ``channel -> (first record, count)`` (at most
    ``max_channels`` channels: a source holding more is loaded that far, and the rest is merely "not known",
    staged in full — slower, just as correct) and the keys of the channels looked up lately, at most
    :data:`CACHED_KEYS` of them (32 MiB; beyond, the cache starts afresh), so each channel's block is usually
    read once whatever the order of the guide. A channel of more than :data:`MAX_BLOCK` programmes is searched
    on disk instead. Lookups bisect.
    """

    RECORD = 16  # start, content hash: two int64

    def __init__(self):
        self._file = tempfile.TemporaryFile(prefix="catena-epg-keys-")
        self._index: dict[str, tuple[int, int]] = {}
        self._blocks: dict[str, tuple[array, array]] = {}  # channel -> its starts and digests, read from the file
        self._cached = 0
        self.complete = True  # False when max_channels stopped the loading early
        self.size = 0  # programmes spooled

    @classmethod
    def load(cls, connection, source_id: int, *, max_channels: int = DEFAULT_MAX_CHANNELS) -> StoredKeys:
        keys = cls()
        index, pending = keys._index, array("q")
        channel, first, position = None, 0, 0
        with connection.chunked_cursor() as cursor:
            # The unique index's order: grouped by channel, by start within a channel.
            cursor.execute(f"SELECT epg_channel_name, extract(epoch FROM start)::int8, content_hash "
                           f"FROM {PROGRAM_TABLE} WHERE epg_source_id = %s ORDER BY epg_channel_name, start",
                           [source_id])
            while batch := cursor.fetchmany(10_000):
                for name, start, digest in batch:
                    if name != channel:
                        if channel is not None:
                            index[channel] = (first, position - first)
                        if len(index) >= max_channels:
                            keys.complete, channel = False, None
                            break
                        channel, first = name, position
                    pending.append(start)
                    pending.append(digest)
                    position += 1
                pending.tofile(keys._file)
                del pending[:]
                if not keys.complete:
                    break
        if channel is not None:
            index[channel] = (first, position - first)
        keys._file.flush()
        keys.size = position
        return keys

    def close(self) -> None:
        self._file.close()

    def __bool__(self) -> bool:
        return bool(self._index)

    def _read(self, first: int, count: int) -> array:
        records = array("q")
        records.frombytes(os.pread(self._file.fileno(), count * self.RECORD, first * self.RECORD))
        return records

    def __contains__(self, key: tuple[str, int, int]) -> bool:
        """Whether ``(channel, start, content hash)`` is stored exactly so."""
        channel, start, digest = key
        block = self._blocks.get(channel)
        if block is None:
            entry = self._index.get(channel)
            if entry is None:
                return False
            first, count = entry
            if count > MAX_BLOCK:
                return self._search_on_disk(first, count, start, digest)
            if self._cached + count > CACHED_KEYS:
                self._blocks.clear()
                self._cached = 0
            records = self._read(first, count)
            block = self._blocks[channel] = (records[0::2], records[1::2])
            self._cached += count
        starts, digests = block
        index = bisect_left(starts, start)
        return index < len(starts) and starts[index] == start and digests[index] == digest

    def _search_on_disk(self, first: int, count: int, start: int, digest: int) -> bool:
        low, high = 0, count
        while low < high:
            middle = (low + high) // 2
            if self._read(first + middle, 1)[0] < start:
                low = middle + 1
            else:
                high = middle
        if low == count:
            return False
        found_start, found_digest = self._read(first + low, 1)
        return found_start == start and found_digest == digest


class _Copy:
    """One binary ``COPY … FROM STDIN`` on the Django connection, opened and closed explicitly."""

    def __init__(self, connection, table: str, columns: tuple[str, ...], types: list[str]):
        cursor = connection.cursor().cursor  # the driver's cursor
        self._context = cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)")
        copy = self._context.__enter__()
        copy.set_types(types)
        self.write_row = copy.write_row

    def close(self, exc: BaseException | None = None) -> None:
        """End the COPY: keep the rows, or with ``exc`` make the server discard them."""
        context, self._context = self._context, None
        if context is None:
            return
        if exc is None:
            context.__exit__(None, None, None)
            return
        try:
            context.__exit__(type(exc), exc, None)
        except Exception:  # the server's answer to the abandoned COPY; ``exc`` is what matters
            pass


class StagedMerge(Store):
    """Stage into a temporary table, then merge: delete what changed or vanished, insert what is new."""

    def __init__(self, connection, source_id: int, portal_id: int, known: StoredKeys):
        super().__init__(connection, source_id, portal_id)
        self._known = known
        self._datetimes = Datetimes()
        self._copy: _Copy | None = None
        self._savepoint = None

    def begin(self) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS epg_stage; DROP TABLE IF EXISTS epg_ranges")
            cursor.execute(
                "CREATE TEMP TABLE epg_stage (id int8, channel text, start timestamptz, stop timestamptz, "
                "title text, language text, description text, genre text, rating text, subtitle text, "
                "icon text, episode text, hash int8)")
            cursor.execute("CREATE TEMP TABLE epg_ranges (channel text, lo timestamptz, hi timestamptz)")
        # Inside a caller's transaction a failed COPY must not abort it: give the COPY a savepoint.
        self._savepoint = self.connection.savepoint() if self.connection.in_atomic_block else None
        self._copy = _Copy(self.connection, "epg_stage", STAGE_COLUMNS, STAGE_TYPES)

    def write(self, rows: list[tuple]) -> None:
        write_row, datetimes, known, unchanged = self._copy.write_row, self._datetimes, self._known, _UNCHANGED
        next_id = new_ids(len(rows)).__next__  # some go unused (a programme stored unchanged): IDs are plenty
        for row in rows:
            digest = content_hash(row)
            if (row[0], row[1], digest) in known:
                write_row((None, row[0], datetimes[row[1]]) + unchanged + (digest,))
            else:
                write_row((next_id(), row[0], datetimes[row[1]], datetimes[row[2]]) + row[3:] + (digest,))

    def abort(self, exc: BaseException) -> None:
        if self._copy is not None:
            self._copy.close(exc)
            self._copy = None
        if self._savepoint is not None:
            self.connection.savepoint_rollback(self._savepoint)
            self._savepoint = None

    def finish(self, ranges: dict[str, list[int]]) -> None:
        self._copy.close()
        self._copy = None
        if self._savepoint is not None:
            self.connection.savepoint_commit(self._savepoint)
            self._savepoint = None
        ranges_copy = _Copy(self.connection, "epg_ranges", ("channel", "lo", "hi"), ["text", "timestamptz", "timestamptz"])
        for channel, (lo, hi) in ranges.items():
            ranges_copy.write_row((channel, self._datetimes[lo], self._datetimes[hi]))
        ranges_copy.close()
        with self.connection.cursor() as cursor:
            cursor.execute("ANALYZE epg_stage (channel, start, hash); ANALYZE epg_ranges")

    def merge(self, retain_after: dt.datetime) -> MergeResult:
        params = {"source": self.source_id, "portal": self.portal_id}
        with self.connection.cursor() as cursor:
            # Hash joins whatever the statistics say: a nested loop planned from stale statistics turns a
            # one-second merge into a quadratic one.
            cursor.execute("SET LOCAL enable_nestloop = off; SET LOCAL work_mem = '64MB'")
            cursor.execute(
                f"""
                WITH gone AS (
                    DELETE FROM {PROGRAM_TABLE} p USING epg_ranges r
                    WHERE p.epg_source_id = %(source)s AND p.epg_channel_name = r.channel
                      AND p.start < r.hi AND p."end" > r.lo
                      AND NOT EXISTS (SELECT 1 FROM epg_stage s WHERE s.channel = p.epg_channel_name
                                      AND s.start = p.start AND s.hash = p.content_hash)
                    RETURNING p.epg_channel_name, p.start)
                SELECT count(*) FROM gone
                WHERE NOT EXISTS (SELECT 1 FROM epg_stage s WHERE s.channel = gone.epg_channel_name
                                  AND s.start = gone.start)
                """, params)
            deleted = cursor.fetchone()[0]  # changed programmes are re-inserted: they count as imported
            # Rows staged as a key alone (id NULL) are stored already. Every stored programme left in the
            # file's ranges equals the file's: the unique index skips it without writing, and keeps the first
            # of duplicate programmes in the file.
            cursor.execute(
                f"""
                INSERT INTO {PROGRAM_TABLE} ({', '.join(PROGRAM_COLUMNS)})
                SELECT s.id, %(portal)s, %(source)s, s.channel, s.start, s.stop, s.title, s.language,
                       s.description, s.genre, s.rating, s.subtitle, s.icon, s.episode, s.hash
                FROM epg_stage s WHERE s.id IS NOT NULL
                ON CONFLICT (epg_source_id, epg_channel_name, start) DO NOTHING
                """, params)
            imported = cursor.rowcount
            cursor.execute(RETENTION_DELETE, [self.source_id, retain_after, retain_after])
            deleted += cursor.rowcount
        return MergeResult(imported=imported, deleted=deleted)

    def end(self, exc_type, exc, traceback) -> None:
        self._known.close()
        if self._copy is not None:
            self.abort(exc or RuntimeError("import abandoned"))
        with self.connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS epg_stage; DROP TABLE IF EXISTS epg_ranges")


class BulkLoad(Store):
    """The source holds nothing yet: COPY straight into the programme table, in one transaction.

    A row can only collide with an earlier one of its channel if its start is not above every start seen on
    that channel; such (rare) rows wait in a small buffer and are inserted with ``ON CONFLICT DO NOTHING``,
    so the COPY never meets a duplicate key.
    """

    LATE_BUFFER = 10_000

    def __init__(self, connection, source_id: int, portal_id: int):
        super().__init__(connection, source_id, portal_id)
        self._datetimes = Datetimes()
        self._latest: dict[str, int] = {}  # channel -> highest start copied
        self._late: list[tuple] = []
        self._copy: _Copy | None = None
        self._transaction = transaction.atomic(using=connection.alias)
        self.imported = 0

    def begin(self) -> None:
        self._transaction.__enter__()
        self._copy = self._open_copy()

    def _open_copy(self) -> _Copy:
        return _Copy(self.connection, PROGRAM_TABLE, PROGRAM_COLUMNS, PROGRAM_TYPES)

    def write(self, rows: list[tuple]) -> None:
        write_row, datetimes, latest, late = self._copy.write_row, self._datetimes, self._latest, self._late
        portal, source = self.portal_id, self.source_id
        next_id = new_ids(len(rows)).__next__
        copied = 0
        for row in rows:
            channel, start = row[0], row[1]
            highest = latest.get(channel)
            if highest is None or start > highest:
                latest[channel] = start
                write_row((next_id(), portal, source, channel, datetimes[start], datetimes[row[2]]) + row[3:]
                          + (content_hash(row),))
                copied += 1
            else:
                late.append(row)
        self.imported += copied
        if len(late) >= self.LATE_BUFFER:
            self._copy.close()
            self._insert_late()
            self._copy = self._open_copy()

    def _insert_late(self) -> None:
        datetimes = self._datetimes
        values = [(program_id, self.portal_id, self.source_id, row[0], datetimes[row[1]], datetimes[row[2]])
                  + row[3:] + (content_hash(row),) for program_id, row in zip(new_ids(len(self._late)), self._late)]
        self._late.clear()
        with self.connection.cursor() as cursor:
            cursor.executemany(f"INSERT INTO {PROGRAM_TABLE} ({', '.join(PROGRAM_COLUMNS)}) VALUES "
                               f"({', '.join(['%s'] * len(PROGRAM_COLUMNS))}) "
                               "ON CONFLICT (epg_source_id, epg_channel_name, start) DO NOTHING", values)
            self.imported += max(cursor.rowcount, 0)

    def abort(self, exc: BaseException) -> None:
        if self._copy is not None:
            self._copy.close(exc)
            self._copy = None

    def finish(self, ranges: dict[str, list[int]]) -> None:
        self._copy.close()
        self._copy = None
        if self._late:
            self._insert_late()

    def merge(self, retain_after: dt.datetime) -> MergeResult:
        with self.connection.cursor() as cursor:
            cursor.execute(RETENTION_DELETE, [self.source_id, retain_after, retain_after])
            return MergeResult(imported=self.imported, deleted=cursor.rowcount)

    def end(self, exc_type, exc, traceback) -> None:
        if self._copy is not None:
            self.abort(exc or RuntimeError("import abandoned"))
        self._transaction.__exit__(exc_type, exc, traceback)  # commit, or roll everything back


def open_postgres_store(connection, source_id: int, portal_id: int, *,
                        max_channels: int = DEFAULT_MAX_CHANNELS) -> Store:
    """:class:`BulkLoad` for a source without programmes, else :class:`StagedMerge` with its stored keys."""
    known = StoredKeys.load(connection, source_id, max_channels=max_channels)
    if known:
        return StagedMerge(connection, source_id, portal_id, known)
    known.close()
    return BulkLoad(connection, source_id, portal_id)
