"""Partitioned history (operations.md §5): month partitions on PostgreSQL, lists and filters across them,
partitions created ahead, retention by dropping whole months, and the conversion of an existing database."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

import pytest
from django.db import connection

from catena_site.ids import EPOCH_MS, encode_id
from monitoring import partitions
from monitoring.models import PlaySession
from monitoring.operations import Actor, Operation, build, record_many
from monitoring.tasks import maintain_history_partitions
from tests.conftest import API

postgresql_only = pytest.mark.skipif("connection.vendor != 'postgresql'")
_sequence = itertools.count(1)
NOW = dt.datetime.now(dt.UTC)


def id_at(moment: dt.datetime) -> int:
    """A Snowflake ID of that instant (as the row would have got when it was written then)."""
    ms = int(moment.timestamp() * 1000) - EPOCH_MS
    return (ms << 22) | (7 << 12) | (next(_sequence) % 4096)


def months_ago(count: int, day: int = 10) -> dt.datetime:
    month = partitions.month_start(NOW)
    for _ in range(count):
        month = (month - dt.timedelta(days=1)).replace(day=1)
    return dt.datetime(month.year, month.month, day, 12, tzinfo=dt.UTC)


def make_session(portal, opened_at: dt.datetime, *, subscriber_id: int, channel_id: int, active: bool = False):
    return PlaySession.objects.create(
        id=id_at(opened_at), portal=portal, subscriber_id=subscriber_id, channel_id=channel_id, channel_name="news",
        streamer_session_id=str(uuid.uuid4()), token="t", opened_at=opened_at, updated_at=opened_at, active=active,
        closed_at=None if active else opened_at + dt.timedelta(minutes=5), close_reason="" if active else "streamer")


def make_operations(portal, moments_and_fields) -> list[Operation]:
    operations = []
    for moment, fields in moments_and_fields:
        operation = build(portal, fields.pop("type", "updateSubscriber"), actor=Actor.system(), **fields)
        operation.id, operation.created_at = id_at(moment), moment
        operations.append(operation)
    from django.db import transaction

    with transaction.atomic():
        record_many(operations)
    for operation, (moment, _) in zip(operations, moments_and_fields, strict=True):
        # auto_now_add stamped them now; they were written back then
        Operation.objects.filter(id=operation.id).update(created_at=moment, updated_at=moment)
        operation.created_at = moment
    return operations


def walk(api, path: str, key: str, id_key: str, query: str = "", limit: int = 4) -> list[str]:
    """Every ID of a list, page by page through its ``next`` cursors."""
    seen, cursor = [], None
    while True:
        params = "&".join(p for p in (query, f"limit={limit}", f"cursor={cursor}" if cursor else "") if p)
        response = api.get(f"{API}/{path}?{params}")
        assert response.status_code == 200, response.content
        body = response.json()
        seen += [row[id_key] for row in body[key]]
        cursor = body["next"]
        if not cursor:
            return seen


def partitions_holding(table: str, ids: list[int]) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT DISTINCT tableoid::regclass::text FROM "{table}" WHERE id = ANY(%s)', [ids])
        return {row[0] for row in cursor.fetchall()}


@pytest.fixture
def three_months(db):
    """Month partitions for the three months before this one (a database that has been running a while)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for history in partitions.TABLES:
                partitions.create_months(cursor, history, months_ago(3), NOW)


@postgresql_only
def test_history_tables_are_partitioned_by_month_with_months_ahead_and_a_default(db):
    partitions.maintain()
    month = partitions.month_start(NOW)
    with connection.cursor() as cursor:
        for history in partitions.TABLES:
            assert partitions.is_partitioned(cursor, history.table)
            names = partitions.partitions(cursor, history.table)
            assert partitions.default_name(history.table) in names
            for _ in range(partitions.MONTHS_AHEAD + 1):
                assert partitions.partition_name(history.table, month) in names
                month = partitions.next_month(month)
            month = partitions.month_start(NOW)
            cursor.execute("SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_index i JOIN pg_attribute a "
                           "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                           "WHERE i.indrelid = %s::regclass AND i.indisprimary", [history.table])
            assert cursor.fetchone()[0] == sorted(["id", history.key])


def test_play_session_pages_and_every_filter_read_across_months(api, portal, three_months):
    alice, bob, news, sport = 101, 202, 303, 404
    rows = []
    for number in range(24):
        opened = months_ago(number % 3, day=1 + number) + dt.timedelta(minutes=number)
        rows.append(make_session(portal, opened, subscriber_id=(alice, bob)[number % 2],
                                 channel_id=(news, sport)[number % 4 // 2], active=number % 5 == 0))
    # Two rows in the same second of the same month, told apart by their ID in the keyset.
    rows.append(make_session(portal, rows[3].opened_at, subscriber_id=alice, channel_id=news))
    if connection.vendor == "postgresql":
        assert len(partitions_holding("monitoring_playsession", [r.id for r in rows])) == 3
    newest_first = sorted(rows, key=lambda r: (r.opened_at, r.id), reverse=True)
    start, end = months_ago(2, day=15), months_ago(0, day=5)
    cases = {
        "": lambda r: True,
        f"subscriberId={encode_id(alice)}": lambda r: r.subscriber_id == alice,
        f"channelId={encode_id(sport)}": lambda r: r.channel_id == sport,
        f"channelId={encode_id(sport)}&channelId={encode_id(news)}": lambda r: True,
        "active=true": lambda r: r.active,
        "active=false": lambda r: not r.active,
        f"opened_at_gte={int(start.timestamp())}&opened_at_lt={int(end.timestamp())}":
            lambda r: start <= r.opened_at < end,
        f"subscriberId={encode_id(bob)}&active=false&opened_at_gte={int(start.timestamp())}":
            lambda r: r.subscriber_id == bob and not r.active and r.opened_at >= start,
    }
    for query, keep in cases.items():
        expected = [r.public_id for r in newest_first if keep(r)]
        assert walk(api, "play-sessions", "sessions", "sessionId", query) == expected, query
        assert expected, query


def test_operation_pages_and_every_filter_read_across_months(api, portal, three_months):
    alice, bob, basic = 101, 202, 505
    moments = [(months_ago(number % 3, day=1 + number), {
        "type": ("createSubscriber", "updateSubscriber", "createPackageSubscriber")[number % 3 if number % 4 else 2],
        "subscriber_id": (alice, bob)[number % 2], "package_id": basic if number % 3 == 0 else None,
    }) for number in range(21)]
    operations = make_operations(portal, moments)
    if connection.vendor == "postgresql":
        assert len(partitions_holding("monitoring_operation", [o.id for o in operations])) == 3
    newest_first = sorted(operations, key=lambda o: o.id, reverse=True)
    start = months_ago(1, day=1)
    cases = {
        "": lambda o: True,
        "type=createPackageSubscriber": lambda o: o.type == "createPackageSubscriber",
        "type=createSubscriber&type=updateSubscriber": lambda o: o.type != "createPackageSubscriber",
        f"subscriberId={encode_id(bob)}": lambda o: o.subscriber_id == bob,
        f"packageId={encode_id(basic)}": lambda o: o.package_id == basic,
        f"created_at_gte={start.date().isoformat()}": lambda o: o.created_at >= start,
        f"created_at_lt={start.date().isoformat()}&subscriberId={encode_id(alice)}":
            lambda o: o.created_at < start and o.subscriber_id == alice,
    }
    for query, keep in cases.items():
        expected = [o.public_id for o in newest_first if keep(o)]
        assert walk(api, "operations", "operations", "operationId", query) == expected, query
        assert expected, query


@postgresql_only
def test_a_row_no_month_covers_lands_in_the_default_partition_and_maintenance_moves_it_to_its_month(portal):
    far = dt.datetime(NOW.year + 2, 6, 15, tzinfo=dt.UTC)
    session = make_session(portal, far, subscriber_id=1, channel_id=2)
    table = "monitoring_playsession"
    assert partitions_holding(table, [session.id]) == {partitions.default_name(table)}
    result = partitions.maintain(now=far)
    june = partitions.partition_name(table, partitions.month_start(far))
    assert june in result.created
    assert partitions_holding(table, [session.id]) == {june}
    assert PlaySession.objects.get(id=session.id).opened_at == far


def test_retention_drops_expired_history_and_keeps_the_rest(portal, settings, three_months):
    settings.PLAY_SESSION_RETENTION_DAYS, settings.OPERATION_RETENTION_DAYS = 400, None
    old, recent = NOW - dt.timedelta(days=500), NOW - dt.timedelta(days=10)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for history in partitions.TABLES:
                partitions.create_months(cursor, history, old, old)
    expired = make_session(portal, old, subscriber_id=1, channel_id=2)
    kept = make_session(portal, recent, subscriber_id=1, channel_id=2)
    old_operation, new_operation = make_operations(portal, [(old, {}), (recent, {})])
    assert PlaySession.objects.filter(id__in=[expired.id, kept.id]).count() == 2

    result = maintain_history_partitions()  # the beat job's task, run here in-process

    assert list(PlaySession.objects.filter(portal=portal).values_list("id", flat=True)) == [kept.id]
    assert set(Operation.objects.filter(portal=portal).values_list("id", flat=True)) == {old_operation.id,
                                                                                         new_operation.id}
    if connection.vendor == "postgresql":
        dropped = partitions.partition_name("monitoring_playsession", partitions.month_start(old))
        assert dropped in result["dropped"]
        with connection.cursor() as cursor:
            assert dropped not in partitions.partitions(cursor, "monitoring_playsession")
            # operations are kept forever by default: their old month is still there
            assert partitions.partition_name("monitoring_operation", partitions.month_start(old)) in \
                partitions.partitions(cursor, "monitoring_operation")
    else:
        assert result["deleted"] == 1

    settings.OPERATION_RETENTION_DAYS = 30
    maintain_history_partitions()
    assert list(Operation.objects.filter(portal=portal).values_list("id", flat=True)) == [new_operation.id]


def _rows(table: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT * FROM "{table}" ORDER BY id')
        return cursor.fetchall()


@postgresql_only
def test_the_migration_converts_an_existing_database_without_losing_a_row_and_back(portal, transactional_db):
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("monitoring", "0008_webhooks")], [("monitoring", "0009_partition_history_by_month")]
    MigrationExecutor(connection).migrate(before)
    tables = ("monitoring_playsession", "monitoring_operation")
    with connection.cursor() as cursor:
        assert not any(partitions.is_partitioned(cursor, table) for table in tables)
        # Two years of history, a row in the future, a row of every shape (nulls, JSON, long text).
        cursor.execute("""
            INSERT INTO monitoring_playsession (id, portal_id, subscriber_id, channel_id, channel_name, program_id,
                streamer_session_id, token, opened_at, updated_at, closed_at, active, close_reason, bytes, duration,
                ip, user_agent, device_id, proto, dvr, country)
            SELECT 1000 + g, %s, CASE WHEN g %% 7 = 0 THEN NULL ELSE g END, g %% 3, 'ch' || g %% 3,
                   CASE WHEN g %% 2 = 0 THEN g END, 'old-' || g, md5(g::text), now() - g * interval '9 days',
                   now() - g * interval '9 days' + interval '1 minute',
                   CASE WHEN g %% 5 = 0 THEN NULL ELSE now() - g * interval '9 days' + interval '1 hour' END,
                   g %% 5 = 0, CASE WHEN g %% 5 = 0 THEN '' ELSE 'stale' END, g::bigint * 1000000000, g, '192.0.2.' || g,
                   repeat('agent ', g), CASE WHEN g %% 3 = 0 THEN 'tv-' || g END, 'hls', g %% 2 = 1, 'NL'
            FROM generate_series(-10, 80) g""", [portal.id])
        cursor.execute("""
            INSERT INTO monitoring_operation (id, portal_id, type, subscriber_id, package_id, payload, actor_type,
                actor_manager_id, actor_email, created_at, updated_at)
            SELECT 5000 + g, %s, 'updateSubscriber', g, CASE WHEN g %% 2 = 0 THEN g END,
                   jsonb_build_object('n', g, 'name', 'Кино ' || g, 'nested', jsonb_build_array(g, null)), 'manager',
                   g, 'm' || g || '@example.com', now() - g * interval '11 days', now() - g * interval '11 days'
            FROM generate_series(-5, 70) g""", [portal.id])
    stored = {table: _rows(table) for table in tables}
    assert len(stored["monitoring_playsession"]) == 91 and len(stored["monitoring_operation"]) == 76

    MigrationExecutor(connection).migrate(after)  # a new graph, as a new ``migrate`` would load

    with connection.cursor() as cursor:
        for table in tables:
            assert partitions.is_partitioned(cursor, table)
            assert _rows(table) == stored[table]
            assert partitions_holding(table, [row[0] for row in stored[table]]).__len__() > 20
            # no row waits in the default partition: every month of the history got its partition
            cursor.execute(f'SELECT count(*) FROM "{partitions.default_name(table)}"')
            assert cursor.fetchone()[0] == 0
    # The ORM reads them as before, and a new row lands in this month's partition.
    assert PlaySession.objects.get(streamer_session_id="old-80").bytes == 80 * 1000000000
    assert Operation.objects.get(id=5070).payload == {"n": 70, "name": "Кино 70", "nested": [70, None]}

    MigrationExecutor(connection).migrate(before)  # and back: plain tables, the same rows
    with connection.cursor() as cursor:
        for table in tables:
            assert not partitions.is_partitioned(cursor, table)
            assert _rows(table) == stored[table]
    MigrationExecutor(connection).migrate(after)


@postgresql_only
def test_two_starts_of_one_session_id_at_once_make_one_row_without_a_unique_index(portal, transactional_db, settings):
    """The partitioned table cannot keep ``streamer_session_id`` unique: the second writer waits for the first's
    lock on the session ID, then finds its row (revives it) instead of inserting a second one."""
    import threading
    import time
    from types import SimpleNamespace

    from django.db import connections, transaction

    from monitoring import sessions

    settings.STREAMER_BUFFER_SESSIONS = False  # written at once, as with a session limit
    facts = SimpleNamespace(portal_id=portal.id, subscriber_id=None, max_sessions=0)
    request = sessions.PlayRequest(session_id="same-session", name="news", token="t")
    first_wrote, errors = threading.Event(), []

    def first():
        try:
            with transaction.atomic():
                assert sessions.open_session(facts, 303, request)
                first_wrote.set()
                deadline = time.monotonic() + 30
                while not _someone_waits_for_an_advisory_lock() and time.monotonic() < deadline:
                    time.sleep(0.02)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    def second():
        try:
            first_wrote.wait(30)
            assert sessions.open_session(facts, 303, request)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert PlaySession.objects.filter(streamer_session_id="same-session").count() == 1


def _someone_waits_for_an_advisory_lock() -> bool:
    from django.db import connections

    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        return cursor.fetchone()[0] > 0
