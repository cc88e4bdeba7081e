"""Benchmark: deep list pages of the Management API on big tables (performance.md, ``bench/lists.py``).

    python bench/lists.py [--database-url postgres://…] [--reload] [--repeat 50] [--no-freeze] [--sessions N]

Loads (once; ``--reload`` to redo) 1,000,000 play sessions, 1,000,000 operations and 100,000 subscribers into
one portal of a PostgreSQL database with ``INSERT … SELECT generate_series`` (skewed on purpose so that
filtered lists are deep too: one subscriber has 150,000 sessions and operations, one channel 20% of the
sessions, one package every subscriber). Then, through the API (Django's test client, in-process, with the
portal's API key), it reads pages of 100 at page 1, 100 and 1,000 — without and with filters — and reports for
each the p95 latency, the number of SQL queries (must not depend on the depth), whether any ``COUNT(`` ran,
and the floor: the page's keyset SQL alone, run directly.

Play sessions are one per second from 2024-04-01 (1M: 11.5 days; ``--sessions 10000000``: 4 months), so on
PostgreSQL's monthly partitions (operations.md §5; their months are created before loading) the lists read
across partitions.

Target: p95 ≤ 15 ms per page at any depth (performance.md, raised from 50 ms), constant query count, no
``COUNT(*)``.
"""

from __future__ import annotations

import argparse
import calendar
import datetime as dt
import os
import statistics
import time

import _django

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/catena_bench_lists"
PORTAL = "bench-lists"
API = "/tv-management/api/v1"
SESSIONS, OPERATIONS, SUBSCRIBERS = 1_000_000, 1_000_000, 100_000
TARGET_MS = 15  # p95 of every page (performance.md, "Raised targets")
WORKER = 1023  # Snowflake worker id reserved for the generated rows


def snowflake(ms_expr: str) -> str:
    """SQL for a Snowflake ID from an expression of milliseconds since the Snowflake epoch."""
    return f"((({ms_expr})::bigint << 22) | ({WORKER} << 12))"


def load(portal, channel_ids: list[int], package_ids: list[int]) -> None:
    from django.db import connection

    from monitoring import partitions

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF")
        for history, first, seconds in ((partitions.OPERATIONS, dt.datetime(2024, 3, 1, tzinfo=dt.UTC), OPERATIONS),
                                        (partitions.PLAY_SESSIONS, dt.datetime(2024, 4, 1, tzinfo=dt.UTC), SESSIONS)):
            if partitions.is_partitioned(cursor, history.table):
                partitions.create_months(cursor, history, first, first + dt.timedelta(seconds=seconds + 1800))
        # Subscribers: 100k, 5% disabled; IDs from 2024-02-01 on, one per millisecond.
        cursor.execute(f"""
            INSERT INTO subscribers_subscriber (id, portal_id, name, phone_country_code, phone, full_phone,
                                                login, player_password, playback_token, disabled, created_at,
                                                updated_at)
            SELECT {snowflake("2678400000 + g")}, %s, 'Viewer ' || g, '1', (5000000000 + g)::text,
                   '1' || (5000000000 + g)::text, '1' || (5000000000 + g)::text, left(md5('pw' || g), 10),
                   md5('token' || g) || md5('more' || g), g %% 20 = 0, now(), now()
            FROM generate_series(1, {SUBSCRIBERS}) g""", [portal.id])
        cursor.execute("SELECT id FROM subscribers_subscriber WHERE portal_id = %s ORDER BY id", [portal.id])
        subscribers = [row[0] for row in cursor.fetchall()]
        cursor.execute("CREATE TEMP TABLE bench_subscribers AS SELECT row_number() OVER (ORDER BY id) AS n, id "
                       "FROM subscribers_subscriber WHERE portal_id = %s", [portal.id])
        cursor.execute("CREATE INDEX ON bench_subscribers (n)")
        # Every subscriber has the first package (a deep packageId filter) and one more.
        cursor.execute(f"""
            INSERT INTO subscribers_subscription (subscriber_id, package_id, created_at)
            SELECT s.id, p.package_id, now() FROM bench_subscribers s
            CROSS JOIN LATERAL (VALUES (%s::bigint), ((ARRAY{package_ids[1:]}::bigint[])[1 + s.n %% {len(package_ids) - 1}])) p(package_id)
            """, [package_ids[0]])
        heavy = subscribers[0]
        # Operations: 1M, half createPackageSubscriber; 15% by one subscriber; IDs from 2024-03-01, 1 per ms.
        cursor.execute(f"""
            INSERT INTO monitoring_operation (id, portal_id, type, subscriber_id, package_id, payload, actor_type,
                                              actor_email, created_at, updated_at)
            SELECT {snowflake("5184000000 + g")}, %s,
                   (ARRAY['createPackageSubscriber','createPackageSubscriber','deletePackageSubscriber',
                          'createSubscriber','updateSubscriber','disableSubscriber'])[1 + g %% 6],
                   CASE WHEN g %% 100 < 15 THEN %s ELSE s.id END, %s,
                   jsonb_build_object('packageName', 'pkg01', 'n', g), 'apiKey', '',
                   timestamptz '2024-03-01' + g * interval '1 second', timestamptz '2024-03-01' + g * interval '1 second'
            FROM generate_series(1, {OPERATIONS}) g JOIN bench_subscribers s ON s.n = 1 + g %% {SUBSCRIBERS}
            """, [portal.id, heavy, package_ids[0]])
        # Play sessions: 1M over ~11.5 days, 1% active; 15% by one subscriber, 20% on one channel.
        cursor.execute(f"""
            INSERT INTO monitoring_playsession (id, portal_id, subscriber_id, channel_id, channel_name,
                streamer_session_id, token, opened_at, updated_at, closed_at, active, close_reason, bytes, ip,
                user_agent, proto, dvr, country)
            SELECT {snowflake("7776000000 + g")}, %s,
                   CASE WHEN g %% 100 < 15 THEN %s ELSE s.id END,
                   (ARRAY{channel_ids}::bigint[])[CASE WHEN g %% 5 = 0 THEN 1 ELSE 1 + g %% {len(channel_ids)} END],
                   'ch' || lpad(((CASE WHEN g %% 5 = 0 THEN 0 ELSE g %% {len(channel_ids)} END))::text, 3, '0'),
                   'bench-' || g, 'token', timestamptz '2024-04-01' + g * interval '1 second',
                   timestamptz '2024-04-01' + (g + 60) * interval '1 second',
                   CASE WHEN g %% 100 = 0 THEN NULL ELSE timestamptz '2024-04-01' + (g + 1800) * interval '1 second' END,
                   g %% 100 = 0, CASE WHEN g %% 100 = 0 THEN '' ELSE 'streamer' END, g * 1000,
                   '10.0.' || (g %% 250) || '.' || (g %% 200 + 1), 'BenchPlayer/1.0', 'hls', false, 'NL'
            FROM generate_series(1, {SESSIONS}::bigint) g JOIN bench_subscribers s ON s.n = 1 + g %% {SUBSCRIBERS}
            """, [portal.id, heavy])
        for table in ("subscribers_subscriber", "subscribers_subscription", "monitoring_operation",
                      "monitoring_playsession"):
            cursor.execute(f"ANALYZE {table}")
    print(f"loaded {SUBSCRIBERS:,} subscribers, {OPERATIONS:,} operations, {SESSIONS:,} play sessions in "
          f"{time.perf_counter() - started:.0f} s")


def prepare(reload: bool):
    """The benchmark portal with its data (loaded once)."""
    from content.models import Channel, Package
    from monitoring.models import PlaySession
    from portals import services as portals
    from portals.models import Portal

    portal = Portal.objects.filter(name=PORTAL).first()
    if portal is not None and not reload and PlaySession.objects.filter(portal=portal).count() == SESSIONS:
        return portal
    if portal is not None:
        from django.db import connection

        with connection.cursor() as cursor:  # faster than the ORM's cascade over millions of rows
            for table in ("monitoring_playsession", "monitoring_operation"):
                cursor.execute(f"DELETE FROM {table} WHERE portal_id = %s", [portal.id])
            cursor.execute("DELETE FROM subscribers_subscription WHERE subscriber_id IN "
                           "(SELECT id FROM subscribers_subscriber WHERE portal_id = %s)", [portal.id])
            cursor.execute("DELETE FROM subscribers_subscriber WHERE portal_id = %s", [portal.id])
        portal.delete()
    portal = portals.create_portal(name=PORTAL, domain=f"{PORTAL}.bench", owner_email="bench@example.com",
                                   owner_password="Bench-Pass-2024!")
    channels = Channel.objects.bulk_create([Channel(portal=portal, name=f"ch{i:03d}", title=f"Channel {i}")
                                            for i in range(300)])
    packages = Package.objects.bulk_create([Package(portal=portal, name=f"pkg{i:02d}") for i in range(20)])
    load(portal, [c.id for c in channels], [p.id for p in packages])
    return portal


def cases(portal) -> list[tuple[str, str, str, object, tuple[str, ...]]]:
    """``(name, path, query, filterset + queryset maker, ordering)`` of every list read."""
    from content.models import Channel, Package
    from monitoring.filters import OperationFilter, PlaySessionFilter
    from monitoring.models import PlaySession
    from monitoring.operations import Operation
    from subscribers.filters import SubscriberFilter
    from subscribers.models import Subscriber

    heavy = Subscriber.objects.filter(portal=portal).order_by("id").first()
    hot = Channel.objects.get(portal=portal, name="ch000")
    everyone = Package.objects.get(portal=portal, name="pkg00")
    start = calendar.timegm((2024, 4, 2, 0, 0, 0))
    sessions = (PlaySession, PlaySessionFilter, ("-opened_at", "-id"))
    operations = (Operation, OperationFilter, ("-id",))
    subscribers = (Subscriber, SubscriberFilter, ("id",))
    return [
        ("sessions", "play-sessions", "", sessions),
        ("sessions active=false", "play-sessions", "active=false", sessions),
        ("sessions channelId (20%)", "play-sessions", f"channelId={hot.public_id}", sessions),
        ("sessions subscriberId (15%)", "play-sessions", f"subscriberId={heavy.public_id}", sessions),
        ("sessions opened_at range", "play-sessions", f"opened_at_gte={start}&opened_at_lt={start + 600_000}", sessions),
        ("sessions active=true", "play-sessions", "active=true", sessions),
        ("operations", "operations", "", operations),
        ("operations type", "operations", "type=createPackageSubscriber", operations),
        ("operations subscriberId (15%)", "operations", f"subscriberId={heavy.public_id}", operations),
        ("subscribers", "subscribers", "", subscribers),
        ("subscribers disabled=false", "subscribers", "disabled=false", subscribers),
        ("subscribers packageId (all)", "subscribers", f"packageId={everyone.public_id}", subscribers),
    ]


def cursor_at(portal, model, filterset_class, ordering, query: str, offset: int) -> str | None:
    """The ``next`` cursor the API would give after ``offset`` rows (computed once, with OFFSET)."""
    from django.http import QueryDict

    from catena_site.api.pagination import BoundedKeyset

    queryset = filterset_class(QueryDict(query), queryset=model.objects.filter(portal=portal)).qs.order_by(*ordering)
    row = queryset[offset - 1:offset].first()
    return BoundedKeyset(model, ordering).encode(row) if row is not None else None


def measure(client, url: str, repeat: int) -> tuple[list[float], int, bool, str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.content[:300])
    sqls = [q["sql"] for q in queries.captured_queries]
    page_sql = max(sqls, key=lambda sql: (" LIMIT " in sql, len(sql)))
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
    return times, len(sqls), any("COUNT(" in sql.upper() for sql in sqls), page_sql


def raw_times(sql: str, repeat: int) -> list[float]:
    from django.db import connection

    times = []
    with connection.cursor() as cursor:
        for _ in range(repeat):
            started = time.perf_counter()
            cursor.execute(sql)
            cursor.fetchall()
            times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    global SESSIONS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--reload", action="store_true")
    parser.add_argument("--repeat", type=int, default=50, help="reads per page (p95 of 50: the 48th slowest)")
    parser.add_argument("--no-freeze", action="store_true", help="skip the WSGI entry point's gc.freeze()")
    parser.add_argument("--sessions", type=int, default=SESSIONS, help="play sessions to load (10,000,000: 4 months)")
    args = parser.parse_args()
    SESSIONS = args.sessions
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    _django.setup(args.database_url)
    from django.db import connection
    from rest_framework.test import APIClient

    portal = prepare(args.reload)
    # Start up as a server process does: the WSGI entry point loads the URLconf and freezes the startup
    # objects out of garbage collection (catena_site/wsgi.py); --no-freeze measures without that.
    if not args.no_freeze:
        import catena_site.wsgi  # noqa: F401
    client = APIClient()
    client.credentials(HTTP_X_AUTH_TOKEN=portal.api_key)
    print(f"machine: {_django.machine()}; database: PostgreSQL {connection.pg_version // 10000}; "
          f"{args.repeat} reads per page, in-process through the full Django/DRF stack; startup objects "
          f"{'not ' if args.no_freeze else ''}frozen (gc.freeze)")
    print(f"{'list':32} {'page':>5} {'p50 ms':>7} {'p95 ms':>7} {'floor p95':>10} {'queries':>8} {'COUNT':>6}")
    worst, failures = 0.0, []
    for name, path, query, (model, filterset_class, ordering) in cases(portal):
        counts = set()
        for page in (1, 100, 1000):
            cursor = None
            if page > 1:
                cursor = cursor_at(portal, model, filterset_class, ordering, query, (page - 1) * 100)
                if cursor is None:
                    print(f"{name:32} {page:>5} {'(fewer rows)':>8}")
                    continue
            params = "&".join(p for p in (query, "limit=100", f"cursor={cursor}" if cursor else "") if p)
            times, count, counted, sql = measure(client, f"{API}/{path}?{params}", args.repeat)
            floor = raw_times(sql, args.repeat)
            counts.add(count)
            worst = max(worst, _django.p95(times))
            if _django.p95(times) > TARGET_MS or counted:
                failures.append(f"{name} page {page}")
            print(f"{name:32} {page:>5} {statistics.median(times):7.1f} {_django.p95(times):7.1f} {_django.p95(floor):10.2f} "
                  f"{count:>8} {'yes' if counted else 'no':>6}")
        if len(counts) > 1:
            failures.append(f"{name}: query count varies {sorted(counts)}")
    print(f"worst p95 {worst:.1f} ms; target p95 ≤ {TARGET_MS} ms at every depth, constant queries, no COUNT: "
          f"{'PASS' if not failures else 'FAIL ' + '; '.join(failures)}")


if __name__ == "__main__":
    main()
