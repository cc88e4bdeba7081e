"""Write a parsed guide: stage every programme, then replace the source's programmes in one transaction.

Staging happens while the guide streams in (PostgreSQL: one binary ``COPY`` into a temporary table;
elsewhere: batched inserts), outside the transaction, so a long download never holds locks. The merge
then applies the replacement rule of the spec in a few set-based statements:

1. for every channel in the file, stored programmes overlapping the file's time range for that channel
   are deleted unless the file holds the same programme (same channel, start and ``content_hash``);
2. staged programmes not stored yet are inserted (the first of duplicates wins);
3. programmes that ended before the retention cut-off are deleted.

So an unchanged guide writes nothing, and a failed fetch never reaches step 1.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from dataclasses import dataclass

from catena_site.ids import new_id

STAGE_COLUMNS = ("id", "channel", "start", "stop", "title", "language", "description", "genre", "rating",
                 "subtitle", "icon", "episode", "hash")
PROGRAM_COLUMNS = ("id", "portal_id", "epg_source_id", "epg_channel_name", "start", '"end"', "title", "language",
                   "description", "genre", "rating", "subtitle", "icon", "episode", "content_hash")
BATCH_SIZE = 2000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def content_hash(row: tuple) -> int:
    """A stable 64-bit digest of everything but the (channel, start) key of a parsed programme row."""
    text = "\x1f".join((str(row[2]),) + row[3:])
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True)


@dataclass
class MergeResult:
    """What the merge changed: rows inserted (new or changed) and rows deleted (gone or too old)."""

    imported: int = 0
    deleted: int = 0


class Store:
    """Staging table and merge statements for one source; use as a context manager."""

    def __init__(self, connection, source_id: int, portal_id: int):
        self.connection = connection
        self.source_id = source_id
        self.portal_id = portal_id
        self.staged = 0

    def __enter__(self) -> Store:
        self.create_stage()
        return self

    def __exit__(self, *exc_info) -> None:
        self.drop_stage()

    # Subclasses implement: create_stage, write (a list of parsed rows), finish_stage, merge, drop_stage.


class PostgresStore(Store):
    """Binary COPY into a temporary table while parsing; set-based merge with counts in one statement."""

    def create_stage(self) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS epg_stage; DROP TABLE IF EXISTS epg_ranges")
            cursor.execute(
                "CREATE TEMP TABLE epg_stage (id int8, channel text, start timestamptz, stop timestamptz, "
                "title text, language text, description text, genre text, rating text, subtitle text, "
                "icon text, episode text, hash int8)")
            cursor.execute("CREATE TEMP TABLE epg_ranges (channel text, lo timestamptz, hi timestamptz)")
        # Inside a caller's transaction a failed COPY must not abort it: give the COPY a savepoint.
        self._savepoint = self.connection.savepoint() if self.connection.in_atomic_block else None
        self._cursor = self.connection.cursor().cursor  # the driver's cursor, for COPY
        self._copy_context = self._cursor.copy(
            f"COPY epg_stage ({', '.join(STAGE_COLUMNS)}) FROM STDIN (FORMAT BINARY)")
        self._copy = self._copy_context.__enter__()
        self._copy.set_types(["int8", "text", "timestamptz", "timestamptz", "text", "text", "text", "text",
                              "text", "text", "text", "text", "int8"])

    def write(self, rows: list[tuple]) -> None:
        write_row, epoch, delta = self._copy.write_row, _EPOCH, dt.timedelta
        for row in rows:
            write_row((new_id(), row[0], epoch + delta(seconds=row[1]), epoch + delta(seconds=row[2]))
                      + row[3:] + (content_hash(row),))
        self.staged += len(rows)

    def abort_stage(self, exc: BaseException) -> None:
        """End the COPY without keeping its rows (the fetch failed)."""
        if self._copy_context is not None:
            context, self._copy_context = self._copy_context, None
            try:
                context.__exit__(type(exc), exc, None)
            except Exception:  # the server's answer to the aborted COPY; the original error is what matters
                pass
            if self._savepoint is not None:
                self.connection.savepoint_rollback(self._savepoint)
                self._savepoint = None

    def finish_stage(self, ranges: dict[str, list[int]]) -> None:
        context, self._copy_context = self._copy_context, None
        context.__exit__(None, None, None)
        if self._savepoint is not None:
            self.connection.savepoint_commit(self._savepoint)
            self._savepoint = None
        with self._cursor.copy("COPY epg_ranges (channel, lo, hi) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["text", "timestamptz", "timestamptz"])
            for channel, (lo, hi) in ranges.items():
                copy.write_row((channel, _EPOCH + dt.timedelta(seconds=lo), _EPOCH + dt.timedelta(seconds=hi)))
        with self.connection.cursor() as cursor:
            cursor.execute("ANALYZE epg_stage (channel, start, hash); ANALYZE epg_ranges")

    def merge(self, retain_after: dt.datetime) -> MergeResult:
        params = {"source": self.source_id, "portal": self.portal_id, "cutoff": retain_after}
        with self.connection.cursor() as cursor:
            # Hash joins whatever the statistics say: a nested loop over a table that is being written, or
            # planned from stale statistics, turns a one-second merge into a quadratic one.
            cursor.execute("SET LOCAL enable_nestloop = off; SET LOCAL work_mem = '64MB'")
            cursor.execute(
                """
                WITH gone AS (
                    DELETE FROM content_program p USING epg_ranges r
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
            # Every stored programme left in the file's ranges equals the file's: the unique index skips it
            # without writing (and keeps the first of duplicate programmes in the file).
            cursor.execute(
                f"""
                INSERT INTO content_program ({', '.join(PROGRAM_COLUMNS)})
                SELECT s.id, %(portal)s, %(source)s, s.channel, s.start, s.stop, s.title, s.language,
                       s.description, s.genre, s.rating, s.subtitle, s.icon, s.episode, s.hash
                FROM epg_stage s
                ON CONFLICT (epg_source_id, epg_channel_name, start) DO NOTHING
                """, params)
            imported = cursor.rowcount
            cursor.execute("DELETE FROM content_program WHERE epg_source_id = %(source)s AND start < %(cutoff)s "
                           "AND \"end\" < %(cutoff)s", params)
            deleted += cursor.rowcount
        return MergeResult(imported=imported, deleted=deleted)

    def drop_stage(self) -> None:
        if getattr(self, "_copy_context", None) is not None:
            self.abort_stage(RuntimeError("staging abandoned"))
        with self.connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS epg_stage; DROP TABLE IF EXISTS epg_ranges")


def _sqlite_time(epoch_seconds: int) -> str:
    """Django's SQLite storage of an aware datetime: naive UTC text."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch_seconds))


class BatchStore(Store):
    """Any other database (SQLite): batched inserts into a temporary table, portable merge statements."""

    def create_stage(self) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS epg_stage")
            cursor.execute("DROP TABLE IF EXISTS epg_ranges")
            cursor.execute("CREATE TEMP TABLE epg_stage (id bigint, channel text, start text, stop text, "
                           "title text, language text, description text, genre text, rating text, "
                           "subtitle text, icon text, episode text, hash bigint)")
            cursor.execute("CREATE TEMP TABLE epg_ranges (channel text, lo text, hi text)")

    def write(self, rows: list[tuple]) -> None:
        values = [(new_id(), row[0], _sqlite_time(row[1]), _sqlite_time(row[2])) + row[3:] + (content_hash(row),)
                  for row in rows]
        with self.connection.cursor() as cursor:
            for start in range(0, len(values), BATCH_SIZE):
                cursor.executemany(f"INSERT INTO epg_stage ({', '.join(STAGE_COLUMNS)}) VALUES "
                                   f"({', '.join(['%s'] * len(STAGE_COLUMNS))})", values[start:start + BATCH_SIZE])
        self.staged += len(rows)

    def abort_stage(self, exc: BaseException) -> None:
        pass

    def finish_stage(self, ranges: dict[str, list[int]]) -> None:
        with self.connection.cursor() as cursor:
            cursor.executemany("INSERT INTO epg_ranges (channel, lo, hi) VALUES (%s, %s, %s)",
                               [(channel, _sqlite_time(lo), _sqlite_time(hi)) for channel, (lo, hi) in ranges.items()])
            cursor.execute("CREATE INDEX epg_stage_key ON epg_stage (channel, start)")
            cursor.execute("CREATE INDEX epg_ranges_channel ON epg_ranges (channel)")

    def merge(self, retain_after: dt.datetime) -> MergeResult:
        source, cutoff = self.source_id, _sqlite_time(int(retain_after.timestamp()))
        in_ranges = """p.epg_source_id = %s AND EXISTS (SELECT 1 FROM epg_ranges r WHERE r.channel = p.epg_channel_name
                       AND p.start < r.hi AND p."end" > r.lo)
                   AND NOT EXISTS (SELECT 1 FROM epg_stage s WHERE s.channel = p.epg_channel_name
                       AND s.start = p.start AND s.hash = p.content_hash)"""
        with self.connection.cursor() as cursor:
            cursor.execute(f"""SELECT count(*) FROM content_program p WHERE {in_ranges} AND NOT EXISTS (
                               SELECT 1 FROM epg_stage s WHERE s.channel = p.epg_channel_name AND s.start = p.start)""",
                           [source])
            deleted = cursor.fetchone()[0]
            cursor.execute(f"DELETE FROM content_program AS p WHERE {in_ranges}", [source])
            cursor.execute(
                f"""INSERT OR IGNORE INTO content_program ({', '.join(PROGRAM_COLUMNS)})
                    SELECT s.id, %s, %s, s.channel, s.start, s.stop, s.title, s.language, s.description, s.genre,
                           s.rating, s.subtitle, s.icon, s.episode, s.hash
                    FROM epg_stage s ORDER BY s.rowid""", [self.portal_id, source])
            imported = cursor.rowcount
            cursor.execute("DELETE FROM content_program WHERE epg_source_id = %s AND start < %s AND \"end\" < %s",
                           [source, cutoff, cutoff])
            deleted += cursor.rowcount
        return MergeResult(imported=imported, deleted=deleted)

    def drop_stage(self) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS epg_stage")
            cursor.execute("DROP TABLE IF EXISTS epg_ranges")


def open_store(connection, source_id: int, portal_id: int) -> Store:
    """The store for this database: COPY on PostgreSQL, batched inserts elsewhere."""
    cls = PostgresStore if connection.vendor == "postgresql" else BatchStore
    return cls(connection, source_id, portal_id)
