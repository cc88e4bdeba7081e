"""Write a parsed guide: replace the source's programmes in one transaction, with bulk writes.

The replacement rule of the spec, applied by every store:

1. for every channel in the file, stored programmes overlapping the file's time range for that channel
   are deleted unless the file holds the same programme (same channel, start and ``content_hash``);
2. programmes of the file not stored yet are inserted (the first of duplicates wins);
3. programmes that ended before the retention cut-off are deleted.

So an unchanged guide writes nothing, and a failed fetch changes nothing. A store is used as

    with open_store(connection, source_id, portal_id) as store:
        store.write(rows) …            # while the guide streams in
        store.finish(ranges)           # or store.abort(exc) when the fetch failed
        with transaction.atomic():
            store.merge(retain_after)  # steps 1–3, with the fetch record, in one transaction

:mod:`.pgstore` has the PostgreSQL stores (COPY); :class:`BatchStore` is the portable one (SQLite).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from dataclasses import dataclass

from catena_site.ids import new_id

PROGRAM_TABLE = "content_program"
PROGRAM_COLUMNS = ("id", "portal_id", "epg_source_id", "epg_channel_name", "start", '"end"', "title", "language",
                   "description", "genre", "rating", "subtitle", "icon", "episode", "content_hash")
STAGE_COLUMNS = ("id", "channel", "start", "stop", "title", "language", "description", "genre", "rating",
                 "subtitle", "icon", "episode", "hash")
RETENTION_DELETE = f'DELETE FROM {PROGRAM_TABLE} WHERE epg_source_id = %s AND start < %s AND "end" < %s'
BATCH_SIZE = 2000


def content_hash(row: tuple, blake2b=hashlib.blake2b, from_bytes=int.from_bytes) -> int:
    """A stable 64-bit digest of everything but the (channel, start) key of a parsed programme row."""
    text = "\x1f".join((str(row[2]),) + row[3:])
    return from_bytes(blake2b(text.encode(), digest_size=8).digest(), "big", signed=True)


@dataclass
class MergeResult:
    """What the merge changed: rows inserted (new or changed) and rows deleted (gone or too old)."""

    imported: int = 0
    deleted: int = 0


class Store:
    """The writes of one import of one source. Subclasses implement the five steps below."""

    def __init__(self, connection, source_id: int, portal_id: int):
        self.connection = connection
        self.source_id = source_id
        self.portal_id = portal_id

    def __enter__(self) -> Store:
        self.begin()
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        self.end(exc_type, exc, traceback)

    def begin(self) -> None:
        """Prepare to receive rows."""

    def write(self, rows: list[tuple]) -> None:
        """Take parsed programme rows (see :mod:`.xmltv`), as the guide streams in."""
        raise NotImplementedError

    def abort(self, exc: BaseException) -> None:
        """The fetch failed: nothing written so far may survive."""

    def finish(self, ranges: dict[str, list[int]]) -> None:
        """Every row was written; ``ranges`` maps each channel of the file to [first start, last end]."""

    def merge(self, retain_after: dt.datetime) -> MergeResult:
        """Apply the replacement rule, inside the caller's transaction."""
        raise NotImplementedError

    def end(self, exc_type, exc, traceback) -> None:
        """Release what :meth:`begin` took, whatever happened."""


def _sqlite_time(epoch_seconds: int) -> str:
    """Django's SQLite storage of an aware datetime: naive UTC text."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch_seconds))


class BatchStore(Store):
    """Any other database (SQLite): batched inserts into a temporary table, portable merge statements.

    Staging runs in autocommit, so on SQLite the write lock is taken only briefly per batch and then for the
    merge, never for the whole download.
    """

    def begin(self) -> None:
        with self.connection.cursor() as cursor:
            self._drop(cursor)
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

    def finish(self, ranges: dict[str, list[int]]) -> None:
        with self.connection.cursor() as cursor:
            cursor.executemany("INSERT INTO epg_ranges (channel, lo, hi) VALUES (%s, %s, %s)",
                               [(channel, _sqlite_time(lo), _sqlite_time(hi)) for channel, (lo, hi) in ranges.items()])
            cursor.execute("CREATE INDEX epg_stage_key ON epg_stage (channel, start)")
            cursor.execute("CREATE INDEX epg_ranges_channel ON epg_ranges (channel)")

    def merge(self, retain_after: dt.datetime) -> MergeResult:
        source, cutoff = self.source_id, _sqlite_time(int(retain_after.timestamp()))
        replaced = """p.epg_source_id = %s
            AND EXISTS (SELECT 1 FROM epg_ranges r WHERE r.channel = p.epg_channel_name
                        AND p.start < r.hi AND p."end" > r.lo)
            AND NOT EXISTS (SELECT 1 FROM epg_stage s WHERE s.channel = p.epg_channel_name
                            AND s.start = p.start AND s.hash = p.content_hash)"""
        with self.connection.cursor() as cursor:
            cursor.execute(f"""SELECT count(*) FROM {PROGRAM_TABLE} p WHERE {replaced} AND NOT EXISTS (
                               SELECT 1 FROM epg_stage s WHERE s.channel = p.epg_channel_name AND s.start = p.start)""",
                           [source])
            deleted = cursor.fetchone()[0]  # changed programmes are re-inserted: they count as imported
            cursor.execute(f"DELETE FROM {PROGRAM_TABLE} AS p WHERE {replaced}", [source])
            cursor.execute(
                f"""INSERT OR IGNORE INTO {PROGRAM_TABLE} ({', '.join(PROGRAM_COLUMNS)})
                    SELECT s.id, %s, %s, s.channel, s.start, s.stop, s.title, s.language, s.description, s.genre,
                           s.rating, s.subtitle, s.icon, s.episode, s.hash
                    FROM epg_stage s ORDER BY s.rowid""", [self.portal_id, source])
            imported = cursor.rowcount
            cursor.execute(RETENTION_DELETE, [source, cutoff, cutoff])
            deleted += cursor.rowcount
        return MergeResult(imported=imported, deleted=deleted)

    def end(self, exc_type, exc, traceback) -> None:
        with self.connection.cursor() as cursor:
            self._drop(cursor)

    @staticmethod
    def _drop(cursor) -> None:
        cursor.execute("DROP TABLE IF EXISTS epg_stage")
        cursor.execute("DROP TABLE IF EXISTS epg_ranges")


def open_store(connection, source_id: int, portal_id: int, **options) -> Store:
    """The store for this database and source (see :func:`.pgstore.open_postgres_store`)."""
    if connection.vendor == "postgresql":
        from .pgstore import open_postgres_store

        return open_postgres_store(connection, source_id, portal_id, **options)
    return BatchStore(connection, source_id, portal_id)
