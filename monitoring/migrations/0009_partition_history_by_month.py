"""On PostgreSQL, play sessions and operations become tables partitioned by month (operations.md §5).

Each table is converted in place, in this migration's transaction: the old table is renamed, a partitioned one
with the same columns takes its name (with month partitions covering every stored row, the months ahead and a
default partition), the rows are copied, the old table is dropped, and its indexes and foreign keys are created
again under their own names. The primary key becomes ``(id, <partition key>)``; the unique constraint on
``streamer_session_id`` becomes a plain index of the same name (a unique index would have to contain the
partition key; ``monitoring.sessions.lock_session_ids`` keeps session IDs unique instead). No table references
these two with a database constraint. Reversible: the reverse builds plain tables the same way.

On other databases nothing changes.
"""

import datetime as dt

from django.db import migrations

# (table, partition key, unique constraints that become plain indexes: (name, column))
TABLES = [
    ("monitoring_playsession", "opened_at", [("monitoring_playsession_streamer_session_id_key", "streamer_session_id")]),
    ("monitoring_operation", "created_at", []),
]
MONTHS_AHEAD = 3


def _definitions(cursor, table):
    """The table's secondary index definitions and its foreign keys, to create again after the copy."""
    cursor.execute("""SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i
                      WHERE i.indrelid = %s::regclass AND NOT i.indisprimary
                        AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)""", [table])
    indexes = [row[0] for row in cursor.fetchall()]
    cursor.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                   "WHERE conrelid = %s::regclass AND contype = 'f'", [table])
    return indexes, cursor.fetchall()


def _rebuild(cursor, table, key, partitioned, uniques):
    from monitoring import partitions

    cursor.execute("SELECT relkind = 'p' FROM pg_class WHERE oid = %s::regclass", [table])
    if cursor.fetchone()[0] == partitioned:
        return
    indexes, foreign_keys = _definitions(cursor, table)
    old = f"{table}_unpartitioned"
    cursor.execute(f'ALTER TABLE "{table}" RENAME TO "{old}"')
    clause = f'PARTITION BY RANGE ("{key}")' if partitioned else ""
    cursor.execute(f'CREATE TABLE "{table}" (LIKE "{old}" INCLUDING DEFAULTS INCLUDING STORAGE) {clause}')
    if partitioned:
        # A partition for each month that has rows (not for the empty months between), this one and 3 ahead.
        cursor.execute(f"SELECT DISTINCT date_trunc('month', \"{key}\" AT TIME ZONE 'UTC')::date FROM \"{old}\"")
        stored = [row[0] for row in cursor.fetchall()]
        now = dt.datetime.now(dt.UTC)
        last = partitions.month_start(now)
        for _ in range(MONTHS_AHEAD):
            last = partitions.next_month(last)
        history = partitions.History(table, key, "")
        for month in stored:
            partitions.create_months(cursor, history, month, month)
        partitions.create_months(cursor, history, now, last)
    cursor.execute(f'INSERT INTO "{table}" SELECT * FROM "{old}"')
    cursor.execute(f'DROP TABLE "{old}" CASCADE')
    columns = f'"id", "{key}"' if partitioned else '"id"'
    cursor.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{table}_pkey" PRIMARY KEY ({columns})')
    for definition in indexes:
        if partitioned or not any(f"INDEX {name} " in definition for name, _ in uniques):
            cursor.execute(definition.replace(" ON ONLY ", " ON "))  # a partitioned table's own indexes
    for name, column in uniques:
        if partitioned:
            cursor.execute(f'CREATE INDEX "{name}" ON "{table}" ("{column}")')
        else:
            cursor.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" UNIQUE ("{column}")')
    for name, definition in foreign_keys:
        cursor.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
    cursor.execute(f'ANALYZE "{table}"')


def _convert(partitioned):
    def convert(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        with schema_editor.connection.cursor() as cursor:
            for table, key, uniques in TABLES:
                _rebuild(cursor, table, key, partitioned, uniques)
    return convert


class Migration(migrations.Migration):

    dependencies = [
        ("monitoring", "0008_webhooks"),
    ]

    operations = [
        migrations.RunPython(_convert(True), _convert(False), elidable=False),
    ]
