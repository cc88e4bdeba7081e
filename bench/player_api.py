"""Benchmark: the Xtream Codes API as IPTV players ask it (performance.md, ``bench/player_api.py``).

    python bench/player_api.py [--database-url postgres://…] [--redis-url redis://…/7] [--seconds 20]

Builds a portal with the Xtream API on, 300 channels (numbered, in 1–2 of 12 categories, every third with an
archive, each with a day of guide: 48 programmes) in one package, and 1,000 subscribers of it; starts gunicorn
(2 sync workers) on PostgreSQL (pooled connections) and Redis, warms the playback facts of the subscribers the
load uses, then each action for ``--warm-seconds`` (every worker keeps the logins it saw and the portal's
catalog: ``monitoring.xtream``), and drives it with ``wrk`` (Debian: ``apt-get install -y wrk``) from a separate
process, alternating rounds of:

- the *floor*: a bare Django view answering 200 (same server, same middleware);
- ``player_api.php?…&action=get_live_streams`` of random subscribers (300 streams each, ~90 KB of JSON);
- ``player_api.php?…&action=get_short_epg&stream_id=…&limit=4`` of random subscribers and channels.

Targets: ≥ 300 requests/s and p99 ≤ 50 ms for each of the two actions. Reports the floor's rate beside them
(the machine's ceiling in the same run) and the SQL statements per request. The Redis database given is flushed
at the start (use one of your own).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import _django
from auth_check import check_query_counter, queries_so_far, total, wrk

HERE = Path(__file__).resolve().parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/catena_bench_players"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"
KEY = "bench-streamer-key"
PORTAL = "bench-players"

LUA = r"""
local paths, threads = {}, {}
statuses = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  for line in io.lines("%(data)s") do table.insert(paths, line) end
  math.randomseed(tid * 7919 + 3)
end

function request()
  return wrk.format("GET", paths[math.random(#paths)])
end

"""
# ``response``/``done``: the answers counted by status, printed as the lines ``wrk()`` reads.
LUA += _django.WRK_COUNTED_DONE


def build_portal(subscribers: int, channels: int, categories: int, seed: int = 7):
    """A fresh portal with the Xtream API on and the benchmark's catalogue, guide and subscribers, written in bulk
    (no operations); returns ``(portal, subscribers, channel ids)``."""
    from django.utils import timezone

    from content.models import Category, Channel, ChannelCategory, EpgSource, Package, PackageChannel, Program
    from monitoring.models import PlaySession
    from portals import services as portals
    from portals.models import Portal
    from subscribers.models import Subscriber, Subscription

    old = Portal.objects.filter(name=PORTAL).first()
    if old is not None:
        PlaySession.objects.filter(portal=old).delete()
        Program.objects.filter(portal=old).delete()
        old.delete()
    portal = portals.create_portal(name=PORTAL, domain=f"{PORTAL}.bench", owner_email="bench@example.com",
                                   owner_password="Bench-Pass-2024!")
    portal.settings = {**portal.effective_settings, "xtreamApi": True}
    portal.save(update_fields=["settings"])
    rng = random.Random(seed)
    source = EpgSource.objects.create(portal=portal, name="bench-guide", url="https://epg.example.com/guide.xml")
    cats = Category.objects.bulk_create([Category(portal=portal, name=f"cat{i:02d}", title=f"Category {i}", position=i)
                                         for i in range(categories)])
    chans = Channel.objects.bulk_create([
        Channel(portal=portal, name=f"ch{i:03d}", title=f"Channel {i}", number=i + 1 if i % 10 else None,
                number_order=i + 1 if i % 10 else 100000, archive_days=7 if i % 3 == 0 else 0,
                epg_source=source, epg_source_name=source.name, epg_channel_name=f"ch{i:03d}.bench")
        for i in range(channels)])
    ChannelCategory.objects.bulk_create([
        ChannelCategory(channel=channel, category=category, position=n)
        for channel in chans for n, category in enumerate(rng.sample(cats, rng.randint(1, 2)))])
    package = Package.objects.create(portal=portal, name="all")
    PackageChannel.objects.bulk_create([PackageChannel(package=package, channel=channel) for channel in chans])
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    Program.objects.bulk_create([
        Program(portal=portal, epg_source=source, epg_channel_name=channel.epg_channel_name,
                start=now + dt.timedelta(minutes=30 * slot), end=now + dt.timedelta(minutes=30 * (slot + 1)),
                title=f"Programme {slot} of {channel.title}", description="A programme of the benchmark. " * 4,
                language="en", content_hash=slot)
        for channel in chans for slot in range(-24, 24)], batch_size=5000)
    subs = Subscriber.objects.bulk_create(
        [Subscriber(portal=portal, name=f"Viewer {i}", phone_country_code="1", phone=str(5550000000 + i),
                    full_phone=f"1{5550000000 + i}", login=f"1{5550000000 + i}") for i in range(subscribers)],
        batch_size=2000)
    Subscription.objects.bulk_create([Subscription(subscriber=s, package=package) for s in subs], batch_size=5000)
    return portal, subs, [channel.id for channel in chans]


def request_lists(tmp: Path, portal, subs, channel_ids, warm: int) -> dict[str, Path]:
    """A file of request paths per measured action (random subscribers among the ``warm`` first, random channels),
    and one for the floor."""
    from urllib.parse import urlencode

    rng = random.Random(11)
    users = subs[:warm]
    files = {}
    for action in ("get_live_streams", "get_short_epg"):
        lines = []
        for _ in range(2000):
            user = rng.choice(users)
            query = {"username": user.login, "password": user.player_password, "portalId": portal.public_id,
                     "action": action}
            if action == "get_short_epg":
                query.update(stream_id=rng.choice(channel_ids), limit=4)
            lines.append(f"/player_api.php?{urlencode(query)}")
        files[action] = tmp / f"{action}.txt"
        files[action].write_text("\n".join(lines) + "\n")
    files["floor"] = tmp / "floor.txt"
    files["floor"].write_text("/bench-floor\n")
    return files


def lua(tmp: Path, name: str, data: Path) -> Path:
    script = tmp / f"{name}.lua"
    script.write_text(LUA % {"data": data})
    return script


def warm_up(subs, warm: int) -> None:
    """Cache the playback facts of the subscribers the load uses (as their players' first requests would)."""
    from subscribers import playback_cache

    for subscriber in subs[:warm]:
        playback_cache.lookup(subscriber.playback_token)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="flushed at start: use a database of your own")
    parser.add_argument("--seconds", type=float, default=20, help="total seconds of each side's load")
    parser.add_argument("--rounds", type=int, default=4, help="floor/ours alternations")
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--warm", type=int, default=200, help="subscribers the load picks from")
    parser.add_argument("--warm-seconds", type=float, default=5, help="load per action before measuring")
    parser.add_argument("--channels", type=int, default=300)
    parser.add_argument("--categories", type=int, default=12)
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    return parser.parse_args()


def measure(base: str, args, scripts: dict[str, Path]) -> dict:
    import redis

    counter = redis.Redis.from_url(args.redis_url)
    # Warm the workers: imports, pools, the facts cache, and each worker's kept logins and catalog (a player logs
    # in with every request, so the steady state is warm).
    for script in scripts.values():
        wrk(base, script, args.warm_seconds, args.connections, args.threads)
    check_query_counter(base, counter)
    runs: dict[str, list[dict]] = {name: [] for name in scripts}
    queries = {name: 0 for name in scripts}
    per_round = args.seconds / args.rounds
    for _ in range(args.rounds):
        for name, script in scripts.items():
            before = queries_so_far(counter)
            runs[name].append(wrk(base, script, per_round, args.connections, args.threads))
            queries[name] += queries_so_far(counter) - before
    return {name: (total(found), queries[name] / max(1, sum(r["requests"] for r in found)))
            for name, found in runs.items()}


def main() -> None:
    args = parse_arguments()
    if not shutil.which("wrk"):
        sys.exit("wrk is required: apt-get install -y wrk")
    _django.server_environment(args.database_url, args.redis_url, KEY)
    import redis

    redis.Redis.from_url(args.redis_url).flushdb()
    _django.setup(args.database_url)

    started = time.perf_counter()
    portal, subs, channel_ids = build_portal(args.subscribers, args.channels, args.categories)
    warm_up(subs, args.warm)
    print(f"data: {args.subscribers} subscribers of one package of {args.channels} channels ({args.categories} "
          f"categories, 48 programmes each); load over {args.warm} of them; built and warmed in "
          f"{time.perf_counter() - started:.1f} s")
    tmp = Path(tempfile.mkdtemp(prefix="catena-player-bench-"))
    files = request_lists(tmp, portal, subs, channel_ids, args.warm)
    scripts = {name: lua(tmp, name, path) for name, path in files.items()}
    port = _django.free_port()
    server = _django.gunicorn(port, "auth_check:wsgi_app()", HERE)
    try:
        measured = measure(f"http://127.0.0.1:{port}", args, scripts)
    finally:
        server.terminate()
        server.wait(timeout=20)
        shutil.rmtree(tmp, ignore_errors=True)
    report(args, measured)


def report(args, measured: dict) -> None:
    from django.db import connection as conn

    print(f"machine: {_django.machine()}; database: PostgreSQL {conn.pg_version // 10000}; cache: Redis; "
          f"server: gunicorn 2 sync workers; load: wrk -t{args.threads} -c{args.connections} on the same machine; "
          f"{args.rounds} alternations of {args.seconds / args.rounds:.0f} s")
    (floor_rps, floor_codes, floor_p50, floor_p99), _ = measured["floor"]
    print(f"floor (bare Django view): {floor_rps:8,.0f} req/s  p50 {floor_p50:6.2f} ms  p99 {floor_p99:6.2f} ms  "
          f"codes {floor_codes}")
    for name in ("get_live_streams", "get_short_epg"):
        (rps, codes, p50, p99), per_request = measured[name]
        verdict = "PASS" if rps >= 300 and p99 <= 50 and set(codes) == {"200"} else "FAIL"
        print(f"{name:<17} {rps:8,.0f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  codes {codes}  "
              f"{per_request:.2f} queries/request  floor/ours {floor_rps / rps:.1f}  "
              f"(targets ≥ 300 req/s, p99 ≤ 50 ms: {verdict})")


if __name__ == "__main__":
    main()
