"""Monthly partitions of the history tables on PostgreSQL (operations.md §5); plain tables elsewhere.

``play_sessions`` (``monitoring_playsession``, by ``opened_at``) and ``operations`` (``monitoring_operation``, by
``created_at``) are range-partitioned by calendar month (UTC): one partition ``<table>_pYYYY_MM`` per month and
a ``<table>_default`` partition that takes any row no month partition covers, so an insert never fails for want
of a partition. Beat's daily job (:func:`maintain`) creates the months ahead (:data:`MONTHS_AHEAD`), moves any
row that fell into the default partition into its month, and applies the retention settings by dropping whole
months (``PLAY_SESSION_RETENTION_DAYS``, default 400; ``OPERATION_RETENTION_DAYS``, default none: forever).

The primary key of a partitioned table must contain the partition key: on PostgreSQL it is ``(id, opened_at)``
and ``(id, created_at)``; Django still sees ``id`` (a Snowflake, unique by construction). A unique index must
contain it too, so ``streamer_session_id`` is indexed but not unique there: writers of play sessions serialize
on the session ID instead (``monitoring.sessions.lock_session_ids``). Nothing references these tables with a
database constraint (webhook deliveries name their operation without one).

On SQLite the tables are plain and retention deletes the expired rows.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

log = logging.getLogger(__name__)

MONTHS_AHEAD = 3  # months beyond the current one that always have their partition
PARTITIONS_LOCK_CLASS = 7302  # PostgreSQL advisory locks: (this, hashtext(table))


@dataclass(frozen=True)
class History:
    """One partitioned history table: its name, its partition key and the setting that bounds its age."""

    table: str
    key: str
    retention_setting: str


PLAY_SESSIONS = History("monitoring_playsession", "opened_at", "PLAY_SESSION_RETENTION_DAYS")
OPERATIONS = History("monitoring_operation", "created_at", "OPERATION_RETENTION_DAYS")
TABLES = (PLAY_SESSIONS, OPERATIONS)

_MONTH = re.compile(r"_p(\d{4})_(\d{2})$")


def month_start(moment: dt.datetime | dt.date) -> dt.date:
    """The first day of the month of ``moment`` (UTC)."""
    if isinstance(moment, dt.datetime):
        moment = moment.astimezone(dt.UTC)
    return dt.date(moment.year, moment.month, 1)


def next_month(month: dt.date) -> dt.date:
    return dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def months(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every month start from ``first``'s month to ``last``'s, both included."""
    month, last, found = month_start(first), month_start(last), []
    while month <= last:
        found.append(month)
        month = next_month(month)
    return found


def partition_name(table: str, month: dt.date) -> str:
    return f"{table}_p{month.year:04d}_{month.month:02d}"


def default_name(table: str) -> str:
    return f"{table}_default"


def _bound(month: dt.date) -> str:
    return f"'{month.isoformat()} 00:00:00+00'"


def is_partitioned(cursor, table: str) -> bool:
    cursor.execute("SELECT c.relkind = 'p' FROM pg_class c WHERE c.oid = to_regclass(%s)", [table])
    row = cursor.fetchone()
    return bool(row and row[0])


def partitions(cursor, table: str) -> dict[str, dt.date | None]:
    """``{partition name: its month}`` of a partitioned table (``None`` for the default partition)."""
    cursor.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                   "WHERE i.inhparent = to_regclass(%s)", [table])
    found = {}
    for (name,) in cursor.fetchall():
        match = _MONTH.search(name)
        found[name] = dt.date(int(match[1]), int(match[2]), 1) if match else None
    return found


def _lock(cursor, table: str) -> None:
    """One maintainer of a table's partitions at a time (until the transaction ends): a second run waits, then
    finds the work done."""
    cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [PARTITIONS_LOCK_CLASS, table])


def create_months(cursor, history: History, first: dt.date, last: dt.date) -> list[str]:
    """Create the missing month partitions from ``first`` to ``last`` (and the default one); return the new names.

    A row already in the default partition for a new month is moved into it: the month is built as a plain
    table, filled from the default partition (locked against inserts meanwhile) and attached.
    """
    with transaction.atomic(using=cursor.db.alias):
        table, key = history.table, history.key
        _lock(cursor, table)
        existing = partitions(cursor, table)
        if default_name(table) not in existing:
            cursor.execute(f'CREATE TABLE "{default_name(table)}" PARTITION OF "{table}" DEFAULT')
        created = []
        for month in months(first, last):
            name = partition_name(table, month)
            if name in existing:
                continue
            low, high = _bound(month), _bound(next_month(month))
            cursor.execute(f'LOCK TABLE "{default_name(table)}" IN SHARE ROW EXCLUSIVE MODE')
            cursor.execute(f'SELECT 1 FROM "{default_name(table)}" WHERE "{key}" >= {low} AND "{key}" < {high} LIMIT 1')
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE TABLE "{name}" PARTITION OF "{table}" FOR VALUES FROM ({low}) TO ({high})')
            else:
                cursor.execute(f'CREATE TABLE "{name}" (LIKE "{table}" INCLUDING DEFAULTS)')
                cursor.execute(f'WITH moved AS (DELETE FROM "{default_name(table)}" WHERE "{key}" >= {low} '
                               f'AND "{key}" < {high} RETURNING *) INSERT INTO "{name}" SELECT * FROM moved')
                cursor.execute(f'ALTER TABLE "{table}" ATTACH PARTITION "{name}" FOR VALUES FROM ({low}) TO ({high})')
            created.append(name)
    return created


def drop_expired(cursor, history: History, cutoff: dt.datetime) -> list[str]:
    """Drop the month partitions that end at or before ``cutoff`` (and delete older rows of the default one);
    return the dropped names."""
    _lock(cursor, history.table)
    dropped = []
    # Deferred foreign-key checks of rows written earlier in this transaction would forbid the DROP: run them now.
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for name, month in sorted(partitions(cursor, history.table).items(), key=lambda item: item[0]):
        if month is not None and dt.datetime.combine(next_month(month), dt.time(), dt.UTC) <= cutoff:
            cursor.execute(f'DROP TABLE "{name}"')
            dropped.append(name)
    cursor.execute(f'DELETE FROM "{default_name(history.table)}" WHERE "{history.key}" < %s', [cutoff])
    return dropped


def retention_cutoff(history: History, now: dt.datetime) -> dt.datetime | None:
    """The instant before which the table's rows are dropped, or None when they are kept forever."""
    days = getattr(settings, history.retention_setting)
    return None if days is None else now - dt.timedelta(days=days)


@dataclass
class Maintenance:
    """What one :func:`maintain` run did."""

    created: list[str]
    dropped: list[str]
    deleted: int = 0  # rows deleted by retention on a database without partitions


def maintain(now: dt.datetime | None = None) -> Maintenance:
    """Beat's daily job: the month partitions up to :data:`MONTHS_AHEAD` ahead exist, and history older than its
    retention setting is gone (whole partitions on PostgreSQL; rows elsewhere). Each table in its own transaction."""
    now = now or timezone.now()
    result = Maintenance([], [])
    for history in TABLES:
        cutoff = retention_cutoff(history, now)
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql" and is_partitioned(cursor, history.table):
                last = month_start(now)
                for _ in range(MONTHS_AHEAD):
                    last = next_month(last)
                # A kept row that fell into the default partition (a clock far off, a partition missing) gets its
                # month too, and is moved there.
                cursor.execute(f'SELECT min("{history.key}") FROM "{default_name(history.table)}" '
                               f'WHERE "{history.key}" >= %s', [cutoff or dt.datetime.min.replace(tzinfo=dt.UTC)])
                oldest = cursor.fetchone()[0]
                first = min(month_start(now), month_start(oldest)) if oldest else month_start(now)
                result.created += create_months(cursor, history, first, last)
                if cutoff is not None:
                    result.dropped += drop_expired(cursor, history, cutoff)
            elif cutoff is not None:
                from django.apps import apps

                model = next(m for m in apps.get_app_config("monitoring").get_models()
                             if m._meta.db_table == history.table)
                result.deleted += model.objects.filter(**{f"{history.key}__lt": cutoff}).delete()[0]
    if result.created or result.dropped or result.deleted:
        log.info("history partitions: created %s, dropped %s, deleted %s rows", result.created, result.dropped,
                 result.deleted)
    return result
