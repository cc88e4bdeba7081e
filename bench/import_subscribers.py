"""Benchmark: import a CSV of 10,000 subscribers with 1–3 packages each, half of the lines with an ``expires_at``
(target ≤ 15 s on PostgreSQL).

    python bench/import_subscribers.py [--rows 10000] [--database-url postgres://…]

Creates a throw-away portal with 20 packages, builds the CSV, runs the real (all-or-nothing) import, checks
what was stored, prints the time, and deletes the portal again.
"""

from __future__ import annotations

import argparse
import random
import time

import _django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--database-url", default=None, help=f"default: {_django.DEFAULT_DATABASE_URL}")
    parser.add_argument("--target", type=float, default=15.0, help="seconds")
    args = parser.parse_args()
    _django.setup(args.database_url)

    from django.db import connection

    from content import services as content
    from monitoring.operations import Operation
    from portals import services as portals
    from portals.auth import Caller
    from subscribers.imports import import_subscribers
    from subscribers.models import Subscriber, Subscription

    name = f"bench-{int(time.time())}"
    portal = portals.create_portal(name=name, domain=f"{name}.bench", owner_email="bench@example.com",
                                   owner_password="Bench-Pass-2024!")
    caller = Caller(portal=portal)
    packages = [content.create_package(portal, caller=caller, data={"name": f"pkg{i}"}).name for i in range(20)]
    rng = random.Random(42)
    lines = ["name,country_code,phone,packages,expires_at"]
    for i in range(args.rows):
        chosen = "|".join(rng.sample(packages, rng.randint(1, 3)))
        expires_at = "" if i % 2 else (f"2030-{1 + i % 12:02d}-{1 + i % 28:02d}" if i % 4 else "2031-06-30T18:00:00Z")
        lines.append(f"Subscriber {i},1,{5550000000 + i},{chosen},{expires_at}")
    csv_text = "\n".join(lines) + "\n"
    try:
        started = time.perf_counter()
        report = import_subscribers(portal, csv_text, caller=caller, dry_run=False)
        elapsed = time.perf_counter() - started
        assert report.applied, report.errors or report.failed_rows[:3]
        stored = Subscriber.objects.filter(portal=portal).count()
        links = Subscription.objects.filter(subscriber__portal=portal).count()
        operations = Operation.objects.filter(portal=portal, type__in=["createSubscriber", "createPackageSubscriber"]).count()
        assert stored == args.rows and operations == stored + links
        ending = Subscriber.objects.filter(portal=portal, subscriptions__expires_at__isnull=False).distinct().count()
        assert ending == args.rows // 2, ending
        print(f"machine: {_django.machine()}; database: {connection.vendor} {connection.pg_version if connection.vendor == 'postgresql' else ''}")
        print(f"imported {stored} subscribers ({ending} with expires_at), {links} subscriptions, {operations} "
              f"operations in {elapsed:.2f} s "
              f"({stored / elapsed:,.0f} subscribers/s); target ≤ {args.target:.0f} s: "
              f"{'PASS' if elapsed <= args.target else 'FAIL'}")
    finally:
        portal.delete()


if __name__ == "__main__":
    main()
