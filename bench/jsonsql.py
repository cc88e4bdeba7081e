"""Benchmark: JSONSQL selects with sub-selects over 100,000 subscribers (performance.md, ``bench/jsonsql.py``).

    python bench/jsonsql.py [--database-url postgres://…] [--reload] [--repeat 50] [--explain]

Loads (once; ``--reload`` to redo) one portal with 100,000 subscribers (5% disabled), 20 packages, ~150,000
subscriptions (everyone holds pkg00 — a quarter of those expired — and half hold one more) and a device for two
subscribers in three, with ``INSERT … SELECT generate_series``. Then it sends, through the real endpoint
(``POST /api/jsonsql/``, Django's test client in-process, the portal's API key), each select ``--repeat``
times, alternating with its floor — the same query hand-written with the ORM and run directly in the same
process — and reports p50/p95 of both and their ratio:

1. *no terminal, page 1*: subscribers not disabled, with pkg00 in force (a sub-select) and no terminal (a
   ``not_in`` sub-select), ordered by ID, ``limit`` 100;
2. *no terminal, page 200*: the same at ``offset`` 20,000;
3. *reconciliation*: subscriptions in force of subscribers not disabled (a sub-select), counted per package
   (``group_by``).

Each answer is checked against its floor's rows. Target: every select's p95 ≤ 200 ms on PostgreSQL.
``--explain`` prints PostgreSQL's plan of each select as JSONSQL compiles it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import _django

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/catena_bench_jsonsql"
PORTAL = "bench-jsonsql"
SUBSCRIBERS, PACKAGES = 100_000, 20
WORKER = 1022  # Snowflake worker id reserved for the generated rows (lists.py uses 1023)
TARGET_MS = 200


def snowflake(ms_expr: str) -> str:
    """SQL for a Snowflake ID from an expression of milliseconds since the Snowflake epoch."""
    return f"((({ms_expr})::bigint << 22) | ({WORKER} << 12))"


def load(portal, package_ids: list[int]) -> None:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF")
        # Subscribers: 100k, 5% disabled; IDs one per millisecond from 2024-02-01.
        cursor.execute(f"""
            INSERT INTO subscribers_subscriber (id, portal_id, name, phone_country_code, phone, full_phone,
                                                login, player_password, playback_token, disabled, created_at,
                                                updated_at)
            SELECT {snowflake("2678400000 + g")}, %s, 'Viewer ' || g, '1', (5000000000 + g)::text,
                   '1' || (5000000000 + g)::text, '1' || (5000000000 + g)::text, left(md5('pw' || g), 10),
                   md5('token' || g) || md5('more' || g), g %% 20 = 0, now(), now()
            FROM generate_series(1, {SUBSCRIBERS}) g""", [portal.id])
        cursor.execute("CREATE TEMP TABLE bench_subscribers AS SELECT row_number() OVER (ORDER BY id) AS n, id "
                       "FROM subscribers_subscriber WHERE portal_id = %s", [portal.id])
        # Everyone holds pkg00 (a quarter of those expired yesterday); every other subscriber one more package.
        cursor.execute("""
            INSERT INTO subscribers_subscription (subscriber_id, package_id, created_at, expires_at)
            SELECT id, %s, now(), CASE WHEN n %% 4 = 0 THEN now() - interval '1 day' END FROM bench_subscribers""",
                       [package_ids[0]])
        cursor.execute(f"""
            INSERT INTO subscribers_subscription (subscriber_id, package_id, created_at, starts_at)
            SELECT id, (ARRAY{package_ids[1:]}::bigint[])[1 + n % {len(package_ids) - 1}], now(),
                   now() - interval '30 days'
            FROM bench_subscribers WHERE n % 2 = 0""")
        # A set-top box for two subscribers in three.
        cursor.execute(f"""
            INSERT INTO subscribers_device (id, portal_id, subscriber_id, kind, uid, mac, name, first_seen_at,
                                            user_agent)
            SELECT {snowflake("5184000000 + n")}, %s, id, 'stb', m, m, 'Box ' || n, now(), ''
            FROM (SELECT n, id, 'aa:bb:' || substr(md5(n::text), 1, 2) || ':' || substr(md5(n::text), 3, 2) || ':'
                         || substr(md5(n::text), 5, 2) || ':' || substr(md5(n::text), 7, 2) AS m
                  FROM bench_subscribers WHERE n %% 3 <> 0) boxes""", [portal.id])
        cursor.execute("DROP TABLE bench_subscribers")
        for table in ("subscribers_subscriber", "subscribers_subscription", "subscribers_device"):
            cursor.execute(f"ANALYZE {table}")
    print(f"loaded {SUBSCRIBERS:,} subscribers with subscriptions and devices in {time.perf_counter() - started:.0f} s")


def prepare(reload: bool):
    """The benchmark portal with its data (loaded once)."""
    from content.models import Package
    from portals import services as portals
    from portals.models import Portal
    from subscribers.device_model import Device
    from subscribers.models import Subscriber

    portal = Portal.objects.filter(name=PORTAL).first()
    if (portal is not None and not reload and Subscriber.objects.filter(portal=portal).count() == SUBSCRIBERS
            and Device.objects.filter(portal=portal).exists()):  # the last step of the load
        return portal
    if portal is not None:
        from django.db import connection

        with connection.cursor() as cursor:  # faster than the ORM's cascade over 100k subscribers
            cursor.execute("DELETE FROM subscribers_device WHERE portal_id = %s", [portal.id])
            cursor.execute("DELETE FROM subscribers_subscription WHERE subscriber_id IN "
                           "(SELECT id FROM subscribers_subscriber WHERE portal_id = %s)", [portal.id])
            cursor.execute("DELETE FROM subscribers_subscriber WHERE portal_id = %s", [portal.id])
        portal.delete()
    portal = portals.create_portal(name=PORTAL, domain=f"{PORTAL}.bench", owner_email="bench-jsonsql@example.com",
                                   owner_password="Bench-Pass-2024!")
    packages = Package.objects.bulk_create([Package(portal=portal, name=f"pkg{i:02d}") for i in range(PACKAGES)])
    load(portal, [p.id for p in packages])
    return portal


def cases(portal) -> list[tuple[str, dict, object]]:
    """``(name, JSONSQL params, floor)``: the floor runs the same select hand-written with the ORM."""
    from django.db.models import Count, Q
    from django.utils import timezone

    from content.models import Package
    from subscribers.device_model import Device
    from subscribers.models import Subscriber, Subscription

    package = Package.objects.get(portal=portal, name="pkg00")

    def in_force() -> Q:
        now = timezone.now()
        return (Q(starts_at__isnull=True) | Q(starts_at__lte=now)) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))

    def no_terminal(offset: int):
        def floor() -> list:
            holders = Subscription.objects.filter(in_force(), package=package).values("subscriber_id")
            rows = (Subscriber.objects.filter(portal=portal, disabled=False, id__in=holders)
                    .exclude(id__in=Device.objects.filter(portal=portal).values("subscriber_id"))
                    .order_by("id").values_list("id", "login", "name")[offset:offset + 100])
            return [list(row) for row in rows]
        return floor

    def reconciliation() -> list:
        rows = (Subscription.objects.filter(in_force(), subscriber__portal=portal, subscriber__disabled=False)
                .values("package_id").annotate(n=Count("id")).order_by("package_id").values_list("package_id", "n"))
        return [list(row) for row in rows]

    no_terminal_where = {"and": [
        {"is": ["disabled", False]},
        {"in": ["id", {"select": {"data": "subscriber_id", "from": "subscriber_package",
                                  "where": {"and": [{"eq": ["package_id", package.id]}, {"is": ["enabled", True]}]}}}]},
        {"not_in": ["id", {"select": {"data": "subscriber_id", "from": "terminal"}}]}]}
    return [
        ("no terminal, page 1", {"data": ["id", "username", "name"], "from": "subscriber", "where": no_terminal_where,
                                 "order_by": "id", "limit": 100}, no_terminal(0)),
        ("no terminal, page 200", {"data": ["id", "username", "name"], "from": "subscriber",
                                   "where": no_terminal_where, "order_by": "id", "limit": 100, "offset": 20_000},
         no_terminal(20_000)),
        ("reconciliation", {"data": ["package_id", {"count": "*"}], "from": "subscriber_package", "where": {"and": [
            {"is": ["enabled", True]},
            {"in": ["subscriber_id", {"select": {"data": "id", "from": "subscriber",
                                                 "where": {"is": ["disabled", False]}}}]}]},
                            "group_by": "package_id", "order_by": "package_id"}, reconciliation),
    ]


def explain(portal, params: dict) -> str:
    from django.utils import timezone

    from subscribers.jsonsql.compiler import compile_select
    from subscribers.jsonsql.tables import Context

    select = compile_select(params, Context.of(portal, timezone.now()))
    queryset = select.queryset[select.offset:select.offset + (select.limit or 10_001)]
    return queryset.explain(analyze=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--reload", action="store_true")
    parser.add_argument("--repeat", type=int, default=50, help="calls per select (p95 of 50: the 48th slowest)")
    parser.add_argument("--explain", action="store_true", help="print the plan of each select")
    args = parser.parse_args()
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    _django.setup(args.database_url)
    from django.db import connection
    from django.test import Client

    portal = prepare(args.reload)
    import catena_site.wsgi  # noqa: F401  (start up as a server process does: URLconf loaded, gc.freeze())

    client = Client(headers={"X-Auth-Token": portal.api_key})
    print(f"machine: {_django.machine()}; database: PostgreSQL {connection.pg_version // 10000}; "
          f"{SUBSCRIBERS:,} subscribers; {args.repeat} calls per select through POST /api/jsonsql/ "
          f"(Django test client, in-process), alternating with the floor (the same select hand-written with the "
          f"ORM, run directly)")
    print(f"{'select':24} {'rows':>5} {'p50 ms':>7} {'p95 ms':>7} {'floor p50':>10} {'floor p95':>10} {'ratio p50':>10}")
    failures = []
    for name, params, floor in cases(portal):
        if args.explain:
            print(explain(portal, params))
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "select", "params": params})
        ours, theirs = [], []
        for attempt in range(args.repeat + 1):  # the first round warms up and checks the answer
            started = time.perf_counter()
            response = client.post("/api/jsonsql/", body, content_type="application/json")
            elapsed = (time.perf_counter() - started) * 1000
            started = time.perf_counter()
            expected = floor()
            floor_elapsed = (time.perf_counter() - started) * 1000
            if attempt == 0:
                answer = response.json()
                assert answer.get("result") == expected, (name, str(answer)[:300], str(expected)[:300])
                rows = len(expected)
                continue
            ours.append(elapsed)
            theirs.append(floor_elapsed)
        if _django.p95(ours) > TARGET_MS:
            failures.append(name)
        print(f"{name:24} {rows:>5} {statistics.median(ours):7.1f} {_django.p95(ours):7.1f} {statistics.median(theirs):10.1f} "
              f"{_django.p95(theirs):10.1f} {statistics.median(ours) / statistics.median(theirs):10.2f}")
    print(f"target p95 ≤ {TARGET_MS} ms for every select: {'PASS' if not failures else 'FAIL ' + '; '.join(failures)}")


if __name__ == "__main__":
    main()
