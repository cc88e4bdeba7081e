"""Benchmark: ingestion of the streaming server's session events (performance.md, ``bench/events_ingest.py``).

    python bench/events_ingest.py [--database-url postgres://…] [--redis-url redis://…/6] [--seconds 30]

gunicorn (2 sync workers) on PostgreSQL and Redis, with one Celery worker applying the buffered batches
(``--pool=solo``), receives Flussonic-style ``event_sink`` batches from ``wrk``
(Debian: ``apt-get install -y wrk``): 50–100 events per POST, sessions opened, updated and closed, 5% of the
events sent again later (duplicates and late, out-of-order arrivals), timestamps in milliseconds. Reports
events/s and the acknowledgement latency; then how long a new session takes to show in ``GET /play-sessions``;
then the floor: the same rows written with one ``COPY`` into an empty table of the same shape.

Targets: ≥ 2,000 events/s, p99 acknowledgement ≤ 20 ms (measured at saturation and, paced, at 2,000 events/s),
sessions visible through the API ≤ 5 s later.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import _django
from auth_check import DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, HERE, KEY, build_portal, wrk

PORTAL = "bench-events"

LUA = r"""
local data_path, key, run = "%(data)s", "%(key)s", "%(run)s"
local pool_size = %(pool)d
local viewers, live, recent, counter, sent = {}, {}, {}, 0, 0
statuses, events_sent, repeats = {}, 0, 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

local function new_session()
  counter = counter + 1
  local n = math.random(#viewers)
  local v = viewers[n]
  -- each viewer plays from its own address (so the token-sharing watch sees ordinary viewers)
  return {id = run .. "-" .. tid .. "-" .. counter, token = v[1], media = v[2], opened = nil, bytes = 0,
          ip = "10." .. math.floor(n / 62500) .. "." .. (math.floor(n / 250) %% 250) .. "." .. (n %% 250 + 1)}
end

function init(args)
  for line in io.lines(data_path) do
    local token, ok = line:match("^(%%S+) (%%S+) ")
    table.insert(viewers, {token, ok})
  end
  math.randomseed(tid * 104729 + %(seed)d)
  for i = 1, pool_size do live[i] = new_session() end
end

local function event(kind, s, now)
  local closed = ""
  if kind == "play_closed" then closed = ',"closed_at":' .. now end
  return '{"event":"' .. kind .. '","event_id":"' .. run .. "-" .. sent .. '","id":"' .. s.id .. '","media":"' ..
    s.media .. '","token":"' .. s.token .. '","ip":"' .. s.ip ..
    '","user_agent":"BenchPlayer/1.0","proto":"hls","dvr":false,"bytes":' .. s.bytes .. ',"opened_at":' ..
    s.opened .. ',"updated_at":' .. now .. closed .. ',"query_string":"device_id=bench"}'
end

function request()
  local n = math.random(50, 100)
  local parts = {}
  local now = os.time() * 1000 + (sent %% 1000)
  for j = 1, n do
    if #recent > 0 and math.random() < 0.05 then
      parts[j] = recent[math.random(#recent)]  -- sent again: a duplicate, and late (older than its successors)
      repeats = repeats + 1
    else
      local i = math.random(pool_size)
      local s = live[i]
      local e
      if s.opened == nil then
        s.opened = now
        e = event("play_opened", s, now)
      elseif math.random() < 0.08 then
        e = event("play_closed", s, now)
        live[i] = new_session()
      else
        s.bytes = s.bytes + math.random(100000, 2000000)
        e = event("play_updated", s, now)
      end
      parts[j] = e
      recent[(sent %% 2000) + 1] = e  -- fills 1, 2, … then wraps: no holes
      sent = sent + 1
    end
  end
  events_sent = events_sent + n
  return wrk.format("POST", "/streaming/flussonic/events?key=" .. key, {["Content-Type"] = "application/json"},
                    "[" .. table.concat(parts, ",") .. "]")
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local codes, events, again = {}, 0, 0
  for _, t in ipairs(threads) do
    for k, n in pairs(t:get("statuses")) do codes[k] = (codes[k] or 0) + n end
    events = events + t:get("events_sent")
    again = again + t:get("repeats")
  end
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%d %%d %%d %%d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), latency.mean, e.connect + e.read + e.write + e.timeout))
  io.write(string.format("EVENTS %%d %%d\n", events, again))
  for k, n in pairs(codes) do io.write(string.format("CODE %%d %%d\n", k, n)) end
end
"""

COLUMNS = ["id", "portal_id", "subscriber_id", "channel_id", "channel_name", "program_id", "streamer_session_id",
           "token", "opened_at", "updated_at", "closed_at", "active", "close_reason", "bytes", "duration", "ip",
           "user_agent", "device_id", "proto", "dvr", "country"]


def copy_floor(portal) -> tuple[int, float]:
    """Write the benchmark's session rows again with one COPY into an empty table of the same shape."""
    from django.db import connection

    columns = ", ".join(COLUMNS)
    connection.ensure_connection()
    raw = connection.connection  # the psycopg connection, for COPY
    buffer = io.BytesIO()
    with raw.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_copy_floor")
        cursor.execute("CREATE TABLE bench_copy_floor (LIKE monitoring_playsession INCLUDING ALL)")
        with cursor.copy(f"COPY (SELECT {columns} FROM monitoring_playsession WHERE portal_id = {int(portal.id)}) "
                         "TO STDOUT") as copy:
            for chunk in copy:
                buffer.write(chunk)
        raw.commit()
        rows = buffer.getvalue().count(b"\n")
        started = time.perf_counter()
        with cursor.copy(f"COPY bench_copy_floor ({columns}) FROM STDIN") as copy:
            copy.write(buffer.getvalue())
        raw.commit()
        elapsed = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_copy_floor")
        raw.commit()
    return rows, elapsed


def visible_after(base: str, portal, subscriber, channel: str) -> float:
    """Seconds from posting a new session's ``play_opened`` until ``GET /play-sessions`` lists it."""
    session_id = f"probe-{uuid.uuid4()}"
    body = json.dumps([{"event": "play_opened", "id": session_id, "media": channel, "token": subscriber.playback_token,
                        "opened_at": int(time.time() * 1000), "ip": "192.0.2.1"}]).encode()
    started = time.perf_counter()
    request = urllib.request.Request(f"{base}/streaming/flussonic/events?key={KEY}", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).read()
    while time.perf_counter() - started < 30:
        listing = urllib.request.Request(f"{base}/tv-management/api/v1/play-sessions?active=true&limit=1000"
                                         f"&subscriberId={subscriber.public_id}",
                                         headers={"X-Auth-Token": portal.api_key})
        sessions = json.loads(urllib.request.urlopen(listing, timeout=10).read())["sessions"]
        if any(s["streamerSessionId"] == session_id for s in sessions):
            return time.perf_counter() - started
        time.sleep(0.05)
    return float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="flushed at start: use a database of your own")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--sessions", type=int, default=3_000, help="sessions playing at once, per wrk thread")
    parser.add_argument("--rate", type=float, default=2000, help="events/s of the paced run (latency at target)")
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is required: apt-get install -y wrk")
    _django.server_environment(args.database_url, args.redis_url, KEY)
    import redis

    redis.Redis.from_url(args.redis_url).flushdb()
    _django.setup(args.database_url)
    from django.db import connection

    from monitoring.models import PlaySession

    portal, rows = build_portal(args.subscribers, 300, 20, name=PORTAL)
    tmp = Path(tempfile.mkdtemp(prefix="catena-events-bench-"))
    data = tmp / "viewers.txt"
    data.write_text("".join(f"{s.playback_token} {ok} {no}\n" for s, ok, no in rows))
    run = uuid.uuid4().hex[:8]
    script = tmp / "events.lua"
    script.write_text(LUA % {"data": data, "key": KEY, "run": run, "pool": args.sessions, "seed": 5})
    port = _django.free_port()
    server = _django.gunicorn(port, "auth_check:wsgi_app()", HERE)
    base = f"http://127.0.0.1:{port}"
    # The Celery worker that applies buffered batches (as in production; on Redis the endpoint only buffers).
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "catena_site", "--quiet", "worker", "--pool=solo", "--concurrency=1",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=WARNING"],
        env={**os.environ, "PYTHONPATH": str(_django.ROOT)}, cwd=str(_django.ROOT))
    try:
        wrk(base, script, 2, args.connections, args.threads)  # warm the workers
        from catena_site.shared_store import store
        from monitoring.streaming.events import EVENTS_BUFFER

        def drain(limit: float = 600) -> float:
            """Seconds until the worker has applied everything buffered."""
            started = time.perf_counter()
            while store().list_length(EVENTS_BUFFER) and time.perf_counter() - started < limit:
                time.sleep(0.05)
            return time.perf_counter() - started

        # 1. Saturation: as fast as two connections can send; then until the worker has applied it all.
        result = wrk(base, script, args.seconds, args.connections, args.threads)
        backlog = store().list_length(EVENTS_BUFFER)
        drained = drain()
        # 2. The target rate (2,000 events/s): each connection waits between batches (calibrated with short
        # runs); the visibility probe runs in the middle of it.
        target = args.rate / 75  # batches/s (75 events on average)
        delay = max(0.1, 1000 * args.connections / target - result["mean_ms"])
        for _ in range(6):
            paced = tmp / "paced.lua"
            paced.write_text(LUA % {"data": data, "key": KEY, "run": run + "p", "pool": args.sessions, "seed": 9}
                             + f"\nfunction delay() return {delay:.3f} end\n")
            probe = wrk(base, paced, 3, args.connections, args.threads)
            if abs(probe["rps"] - target) <= target * 0.05:
                break
            delay = max(0.1, delay + 1000 * args.connections / probe["rps"] * (probe["rps"] / target - 1))
        drain()
        with ThreadPoolExecutor(1) as pool:
            running = pool.submit(wrk, base, paced, 20, args.connections, args.threads)
            time.sleep(8)
            visible = visible_after(base, portal, rows[0][0], rows[0][1])
            at_rate = running.result()
        drained_paced = drain()
    finally:
        server.terminate()
        worker.terminate()
        server.wait(timeout=20)
        worker.wait(timeout=20)
        shutil.rmtree(tmp, ignore_errors=True)

    stored = PlaySession.objects.filter(portal=portal).count()
    closed = PlaySession.objects.filter(portal=portal, active=False).count()
    copied, copy_seconds = copy_floor(portal)
    events, repeats = result["events"]
    events_per_second = events / result["seconds"]
    applied_per_second = events / (result["seconds"] + drained)
    print(f"machine: {_django.machine()}; database: PostgreSQL {connection.pg_version // 10000}; cache: Redis; "
          f"server: gunicorn 2 sync workers; load: wrk -t{args.threads} -c{args.connections} on the same machine")
    print(f"saturation: {result['requests']:,} batches, {events:,} events ({repeats:,} sent again: duplicates/late) "
          f"acknowledged in {result['seconds']:.1f} s = {events_per_second:,.0f} events/s (p50 {result['p50_ms']:.2f} "
          f"ms, p99 {result['p99_ms']:.2f} ms; answers {result['codes']}); the worker had {backlog} batches left "
          f"and applied them {drained:.1f} s later: end to end {applied_per_second:,.0f} events/s applied")
    paced_events = at_rate["events"][0] / at_rate["seconds"]
    print(f"paced at {paced_events:,.0f} events/s ({at_rate['rps']:.1f} batches/s): acknowledgement p50 "
          f"{at_rate['p50_ms']:.2f} ms, p99 {at_rate['p99_ms']:.2f} ms; answers {at_rate['codes']}; buffer empty "
          f"{drained_paced:.1f} s after the load")
    print(f"stored: {stored:,} play sessions ({closed:,} closed)")
    print(f"floor: COPY of the same {copied:,} rows into an empty table: {copy_seconds:.2f} s = "
          f"{copied / copy_seconds:,.0f} rows/s (ours merges every event into them: {events:,} in the saturated "
          f"run alone)")
    print(f"visible in GET /play-sessions {visible * 1000:.0f} ms after the POST, during the paced load "
          "(acknowledged once buffered in Redis; the Celery worker applies the buffer)")
    print(f"targets: ≥ 2,000 events/s (applied, end to end) {'PASS' if applied_per_second >= 2000 else 'FAIL'}; "
          f"p99 ≤ 20 ms at {paced_events:,.0f} events/s {'PASS' if at_rate['p99_ms'] <= 20 else 'FAIL'} "
          f"(at saturation: {result['p99_ms']:.1f} ms); visible ≤ 5 s {'PASS' if visible <= 5 else 'FAIL'}")
    PlaySession.objects.filter(portal=portal).delete()


if __name__ == "__main__":
    main()
