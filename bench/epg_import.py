"""Benchmark: XMLTV fetch + import against its floor, in the same run, on the same file.

    python bench/epg_import.py [--scale 1] [--rounds 3] [--database-url postgres://…]

The guide comes from ../shared/tools/gen_xmltv.py (500 channels × 14 days ≈ 180k rich programmes; --scale
multiplies the channels), gzip-compressed and served by a local HTTP server in its own process. Each round
runs, each in a fresh worker process:

  (a) floor    the fastest parse available (expat with minimal handlers) of the same file, with a binary
               COPY of the same rows into an empty, unindexed table;
  (b) import   our full fetch + import of a new source: HTTP download, gzip, hardened parse (read in a
               parser process while the worker writes), staging, merge into the indexed programme table, fetch record (``run_fetch``, as the Celery task);
  (c) reimport the same file again through the same code path (``run_fetch``), which must write 0 programme rows
               (checked in pg_stat_user_tables). Twice: (c) as served, with Last-Modified, so the fetch is a
               conditional GET answered 304; (c') with the server's validators switched off, so the whole body
               is downloaded (the bytes the server sent are printed) and found unchanged by its digest.

It prints programmes/s of each (median of the rounds), the ratio (b)/(a) of their times, the peak RSS of the
worker and its parser process, and PASS/FAIL against the targets of ../shared/spec/performance.md. Shared machines are noisy: the
rounds alternate, and the ratio is the figure to trust.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import zlib
from pathlib import Path

import _django

# ../shared/tools from the main checkout; from a worktree (/work/wt/<name>) give --generator or CATENA_SHARED_TOOLS.
_TOOLS = [Path(os.environ["CATENA_SHARED_TOOLS"])] if os.environ.get("CATENA_SHARED_TOOLS") else []
GENERATOR = next((tools / "gen_xmltv.py" for tools in _TOOLS + [_django.ROOT.parent / "shared" / "tools",
                                                                 _django.ROOT.parent.parent / "shared" / "tools"]
                  if (tools / "gen_xmltv.py").exists()), _django.ROOT.parent / "shared" / "tools" / "gen_xmltv.py")
BASE_CHANNELS, DAYS = 500, 14
TARGETS = {"import": 20_000, "ratio": 1.0, "reimport": 60_000, "rss_mib": 256}  # performance.md, raised targets
CHUNK = 256 * 1024


# --- The guide and its server ---------------------------------------------------------------------------


def guide_file(scale: int, directory: Path, generator: Path = GENERATOR) -> Path:
    """The generated guide for this scale (cached: the generator is deterministic)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"guide-scale{scale}.xml.gz"
    if not path.exists():
        print(f"generating {path.name} ({BASE_CHANNELS * scale} channels × {DAYS} days)…", flush=True)
        partial = path.with_suffix(".partial.gz")
        subprocess.run([sys.executable, str(generator), "--channels", str(BASE_CHANNELS * scale), "--days", str(DAYS),
                        "--out", str(partial)], check=True)
        partial.rename(path)
    return path


NO_VALIDATORS = ".no-validators"  # while this file is in the served directory, the server sends no validators
SERVED = ".served"  # the server writes there the body bytes of its last answer


def start_server(directory: Path, port: int = 0) -> tuple[subprocess.Popen, int]:
    port = port or _django.free_port()
    server = _django.serve([sys.executable, __file__, "--child", "serve", "--port", str(port), "--file",
                            str(directory)], port, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return server, port


def served_bytes(directory: Path) -> int:
    return int((directory / SERVED).read_text())


def serve(directory: str, port: int) -> None:
    """``python -m http.server`` (Last-Modified, 304 for If-Modified-Since), but without validators while
    :data:`NO_VALIDATORS` exists: then every GET downloads the whole file."""
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    folder = Path(directory)

    class Handler(SimpleHTTPRequestHandler):
        def send_head(self):
            (folder / SERVED).write_text("0")
            if (folder / NO_VALIDATORS).exists():
                del self.headers["If-Modified-Since"]
                del self.headers["If-None-Match"]
            return super().send_head()

        def send_header(self, keyword, value):
            if keyword.lower() == "last-modified" and (folder / NO_VALIDATORS).exists():
                return
            super().send_header(keyword, value)

        def copyfile(self, source, outputfile):
            sent = 0
            while chunk := source.read(CHUNK):
                outputfile.write(chunk)
                sent += len(chunk)
            (folder / SERVED).write_text(str(sent))

        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("127.0.0.1", port), functools.partial(Handler, directory=directory)).serve_forever()


# --- Children: one measurement per fresh process, reporting JSON on stdout -----------------------------


def cpu_seconds() -> dict:
    """CPU seconds (user + system) of this process and of its reaped children (the parser process): a figure
    that load on a shared machine inflates far less than wall time."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"cpu": own.ru_utime + own.ru_stime, "parser_cpu": children.ru_utime + children.ru_stime}


def backend_cpu_seconds(pid: int) -> float | None:
    """CPU seconds of the PostgreSQL backend with this process ID, when it runs on this machine (``/proc``)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def children_peak_rss_mib() -> float:
    """The peak RSS of the largest child process reaped so far (the importer's parser process)."""
    import resource

    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def peak_rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def floor_rows(path: Path):
    """Programme rows of the file with the least work: expat, a dict per programme, fast time conversion."""
    from pyexpat import ParserCreate

    from content.epg.xmltv import XmltvTimes

    times, rows = XmltvTimes(), []
    state = {"attrs": None, "field": None, "values": None, "depth": 0}
    fields = {"title", "desc", "category", "sub-title", "episode-num", "value"}

    def start(name, attrs):
        if name == "programme":
            state.update(attrs=attrs, values={}, depth=1)
        elif state["depth"]:
            state["depth"] += 1
            if name in fields:
                state["field"] = name
            elif name == "icon":
                state["values"]["icon"] = attrs.get("src", "")

    def data(text):
        if state["field"]:
            state["values"][state["field"]] = state["values"].get(state["field"], "") + text

    def end(name):
        state["field"] = None
        if name == "programme":
            a, v = state["attrs"], state["values"]
            rows.append((a["channel"], times.epoch(a["start"]), times.epoch(a["stop"]), v.get("title", ""), "en",
                         v.get("desc", ""), v.get("category", ""), v.get("value", ""), v.get("sub-title", ""),
                         v.get("icon", ""), v.get("episode-num", "")))
            state["depth"] = 0
        elif state["depth"]:
            state["depth"] -= 1

    parser = ParserCreate()
    parser.buffer_text = True
    parser.StartElementHandler, parser.CharacterDataHandler, parser.EndElementHandler = start, data, end
    inflate = zlib.decompressobj(wbits=31)
    with open(path, "rb") as raw:
        while chunk := raw.read(CHUNK):
            parser.Parse(inflate.decompress(chunk), False)
            yield rows
            rows.clear()
    parser.Parse(b"", True)
    yield rows


def child_floor(args) -> dict:
    import datetime as dt

    import psycopg

    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    with psycopg.connect(args.database_url.replace("postgres://", "postgresql://", 1)) as conn:
        conn.execute("CREATE TEMP TABLE floor_programs (channel text, start timestamptz, stop timestamptz, "
                     "title text, language text, description text, genre text, rating text, subtitle text, "
                     "icon text, episode text)")
        conn.commit()
        backend = conn.info.backend_pid
        started, count, cpu_before, backend_before = time.perf_counter(), 0, cpu_seconds(), backend_cpu_seconds(backend)
        with conn.cursor().copy("COPY floor_programs FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["text", "timestamptz", "timestamptz"] + ["text"] * 8)
            for rows in floor_rows(Path(args.file)):
                for row in rows:
                    copy.write_row((row[0], epoch + dt.timedelta(seconds=row[1]),
                                    epoch + dt.timedelta(seconds=row[2])) + row[3:])
                count += len(rows)
        conn.commit()
        seconds = time.perf_counter() - started
        database_cpu = _since(backend_before, backend_cpu_seconds(backend))
        stored = conn.execute("SELECT count(*) FROM floor_programs").fetchone()[0]
    assert stored == count
    cpu = {key: value - cpu_before[key] for key, value in cpu_seconds().items()}
    return {"seconds": seconds, "rows": count, "rss_mib": peak_rss_mib(), "database_cpu": database_cpu, **cpu}


def _since(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


def child_fetch(args) -> dict:
    os.environ["EPG_ALLOW_PRIVATE_URLS"] = "true"  # the guide is served on 127.0.0.1
    _django.setup(args.database_url)
    from content.epg import services as epg_services
    from content.models import EpgFetch, EpgSource

    source = EpgSource.objects.select_related("portal").get(pk=args.source_id)
    # The fetch record the API or the dispatcher would create, without sending a job to a broker.
    fetch = EpgFetch.objects.create(portal_id=source.portal_id, epg_source=source, job_id=f"bench-{time.time_ns()}")
    from django.db import connection

    backend = connection.connection.info.backend_pid  # the import runs on this connection
    started, cpu_before, backend_before = time.perf_counter(), cpu_seconds(), backend_cpu_seconds(backend)
    fetch = epg_services.run_fetch(fetch.id)
    seconds = time.perf_counter() - started
    cpu = {key: value - cpu_before[key] for key, value in cpu_seconds().items()}
    cpu["database_cpu"] = _since(backend_before, backend_cpu_seconds(backend))
    assert fetch.status == "success", fetch.message
    return {"seconds": seconds, "rows": fetch.found_programs, "imported": fetch.imported_programs,
            "deleted": fetch.deleted_programs, "fetch_duration": fetch.fetch_duration,
            "import_duration": fetch.import_duration, "rss_mib": peak_rss_mib(),
            "parser_rss_mib": children_peak_rss_mib(), "message": fetch.message, **cpu}


def run_child(kind: str, args, **extra) -> dict:
    argv = [sys.executable, __file__, "--child", kind, "--database-url", args.database_url]
    for key, value in extra.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{kind} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- The run ----------------------------------------------------------------------------------------------


def table_writes(cursor) -> int:
    cursor.execute("SELECT n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables WHERE relname = 'content_program'")
    return cursor.fetchone()[0]


def quiesce(cursor) -> None:
    """Start every measurement from the same state: dead rows vacuumed, dirty pages written."""
    cursor.execute("VACUUM ANALYZE content_program")
    try:
        cursor.execute("CHECKPOINT")
    except Exception:  # not a superuser: measurements are just noisier
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=1, help="multiply the 500 channels (1 ≈ 180k programmes)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of (a), (b), (c)")
    parser.add_argument("--database-url", default=None, help=f"default: {_django.DEFAULT_DATABASE_URL}")
    parser.add_argument("--work-dir", default=str(_django.ROOT / "var" / "bench"), help="where guides are cached")
    parser.add_argument("--generator", type=Path, default=GENERATOR, help="the guide generator (gen_xmltv.py); "
                        f"default: {GENERATOR}")
    parser.add_argument("--port", type=int, default=0, help="port of the guide's HTTP server (default: any free)")
    parser.add_argument("--child", choices=["floor", "fetch", "serve"], help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--source-id", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.database_url = args.database_url or os.environ.get("DATABASE_URL") or _django.DEFAULT_DATABASE_URL
    if args.child == "serve":
        serve(args.file, args.port)
        return
    if args.child:
        sys.path.insert(0, str(_django.ROOT))
        result = child_floor(args) if args.child == "floor" else child_fetch(args)
        print(json.dumps(result))
        return

    _django.setup(args.database_url)
    from django.db import connection

    from content.epg import services as epg_services
    from content.models import EpgSource, Program
    from portals import services as portals
    from portals.auth import Caller

    if connection.vendor != "postgresql":
        raise SystemExit("this benchmark measures PostgreSQL (COPY); give --database-url postgres://…")
    path = guide_file(args.scale, Path(args.work_dir), args.generator)
    server, port = start_server(path.parent, args.port)
    name = f"bench-epg-{int(time.time())}"
    portal = portals.create_portal(name=name, domain=f"{name}.bench", owner_email="bench@example.com",
                                   owner_password="Bench-Pass-2024!")
    caller = Caller(portal=portal)
    results: dict[str, list[dict]] = {"floor": [], "import": [], "reimport": [], "digest": []}
    reimport_writes: list[int] = []
    switch = path.parent / NO_VALIDATORS
    switch.unlink(missing_ok=True)
    try:
        for round_number in range(1, args.rounds + 1):
            with connection.cursor() as cursor:
                quiesce(cursor)
                results["floor"].append(run_child("floor", args, file=path))
                source = epg_services.create_epg_source(portal, caller=caller, data={
                    "name": f"round-{round_number}", "url": f"http://127.0.0.1:{port}/{path.name}"})
                quiesce(cursor)
                results["import"].append(run_child("fetch", args, source_id=source.id))
                quiesce(cursor)
                before = table_writes(cursor)
                results["reimport"].append({**run_child("fetch", args, source_id=source.id),
                                            "bytes": served_bytes(path.parent)})
                switch.touch()
                try:
                    results["digest"].append({**run_child("fetch", args, source_id=source.id),
                                              "bytes": served_bytes(path.parent)})
                finally:
                    switch.unlink()
                time.sleep(1.0)  # the child's statistics reach pg_stat when it exits; give them a moment
                reimport_writes.append(table_writes(cursor) - before)
                stored = Program.objects.filter(epg_source=source).count()
                Program.objects.filter(epg_source=source).delete()
                EpgSource.objects.filter(pk=source.pk).delete()
            last = {kind: runs[-1] for kind, runs in results.items()}
            print(f"round {round_number}: floor {last['floor']['seconds']:.2f} s, import {last['import']['seconds']:.2f} s "
                  f"(download {last['import']['fetch_duration']:.2f} s), reimport {last['reimport']['seconds']:.2f} s (304, "
                  f"{last['reimport']['bytes']:,} bytes), {last['digest']['seconds']:.2f} s (digest, "
                  f"{last['digest']['bytes']:,} bytes); "
                  f"{stored:,} stored, reimport wrote {reimport_writes[-1]} rows", flush=True)
    finally:
        server.terminate()
        portal.delete()
    report(args, path, results, reimport_writes, connection)


def report(args, path: Path, results: dict, reimport_writes: list[int], connection) -> None:
    rows = results["import"][0]["rows"]
    median = {kind: statistics.median(r["seconds"] for r in runs) for kind, runs in results.items()}
    ratio = statistics.median(b["seconds"] / a["seconds"] for a, b in zip(results["floor"], results["import"]))
    rate = {kind: rows / seconds for kind, seconds in median.items()}
    # The worker and its parser process together (the parser's shared pages counted twice: an upper bound).
    kinds = ("import", "reimport", "digest")
    rss = max(r["rss_mib"] + r["parser_rss_mib"] for kind in kinds for r in results[kind])
    parser_rss = max(r["parser_rss_mib"] for kind in kinds for r in results[kind])
    checks = {
        "import": rate["import"] >= TARGETS["import"],
        "ratio": ratio <= TARGETS["ratio"],
        "reimport": min(rate["reimport"], rate["digest"]) >= TARGETS["reimport"] and not any(reimport_writes)
        and all(r["imported"] == 0 and r["deleted"] == 0 and "unchanged" in r["message"]
                for kind in ("reimport", "digest") for r in results[kind])
        and all(r["bytes"] == path.stat().st_size for r in results["digest"]),
        "rss": rss <= TARGETS["rss_mib"],
    }
    verdict = {True: "PASS", False: "FAIL"}
    print(f"\nmachine: {_django.machine()}; database: PostgreSQL {connection.pg_version // 10000}."
          f"{connection.pg_version % 10000}; load average {os.getloadavg()[0]:.2f}")
    print(f"guide: {path.name}, {path.stat().st_size / 2**20:.1f} MiB gzip, {rows:,} programmes, scale {args.scale}, "
          f"{args.rounds} rounds (medians)")
    print(f"(a) floor     {median['floor']:7.2f} s  {rate['floor']:>9,.0f} programmes/s   (parse + COPY into an empty table)")
    print(f"(b) import    {median['import']:7.2f} s  {rate['import']:>9,.0f} programmes/s   target ≥ {TARGETS['import']:,}: "
          f"{verdict[checks['import']]}")
    print(f"    (b)/(a)   {ratio:7.2f}                           target ≤ {TARGETS['ratio']}: {verdict[checks['ratio']]}")
    print(f"(c) reimport  {median['reimport']:7.2f} s  {rate['reimport']:>9,.0f} programmes/s   target ≥ "
          f"{TARGETS['reimport']:,} and 0 rows written (wrote {max(reimport_writes)}): {verdict[checks['reimport']]}")
    print(f"(c') digest   {median['digest']:7.2f} s  {rate['digest']:>9,.0f} programmes/s   (c): a conditional GET "
          f"answered 304; (c'): the whole body downloaded ({results['digest'][-1]['bytes']:,} bytes) and its digest "
          "compared; both count in (c)'s verdict")
    print(f"worker + parser peak RSS {rss:.0f} MiB (parser {parser_rss:.0f} MiB; floor "
          f"{max(r['rss_mib'] for r in results['floor']):.0f} MiB)"
          f"                target ≤ {TARGETS['rss_mib']} MiB: {verdict[checks['rss']]}")
    print_cpu(results, rows)
    print(f"last import message: {results['import'][-1]['message']}")
    print(f"last reimport messages: (c) {results['reimport'][-1]['message']}\n    (c') {results['digest'][-1]['message']}")
    if not all(checks.values()):
        sys.exit(1)


def print_cpu(results: dict, rows: int) -> None:
    # On a loaded machine (and with the kernel's per-session CPU share) wall times say little about overlap;
    # the busiest process's CPU time is what an idle machine's wall time would approach.
    busiest = {kind: statistics.median(max(r["cpu"], r["parser_cpu"]) for r in runs) for kind, runs in results.items()}
    print(f"CPU seconds (medians): floor {statistics.median(r['cpu'] for r in results['floor']):.2f}; import worker "
          f"{statistics.median(r['cpu'] for r in results['import']):.2f} + parser process "
          f"{statistics.median(r['parser_cpu'] for r in results['import']):.2f}; reimport worker "
          f"{statistics.median(r['cpu'] for r in results['reimport']):.2f} + parser process "
          f"{statistics.median(r['parser_cpu'] for r in results['reimport']):.2f}; digest reimport worker "
          f"{statistics.median(r['cpu'] for r in results['digest']):.2f} + parser process "
          f"{statistics.median(r['parser_cpu'] for r in results['digest']):.2f}")
    database = {kind: [r["database_cpu"] for r in runs if r.get("database_cpu") is not None]
                for kind, runs in results.items()}
    if database["floor"] and database["import"]:
        print(f"PostgreSQL backend CPU seconds (medians; local server): floor {statistics.median(database['floor']):.2f}, "
              f"import {statistics.median(database['import']):.2f}")
    print(f"busiest process (b)/(a) {busiest['import'] / busiest['floor']:.2f}, (c) "
          f"{rows / busiest['reimport']:,.0f} programmes per CPU second   (information: what an idle machine's "
          "ratio approaches)")


if __name__ == "__main__":
    main()
