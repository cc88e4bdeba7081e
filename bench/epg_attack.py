"""Benchmark: the two attack guides of issue 11 (M6), full size, each imported in a fresh worker process.

    python bench/epg_attack.py [--title-mib 900] [--channels 3000000] [--database-url postgres://…]

(1) one programme whose <title> is 900 MiB of one letter (about 0.9 MB of gzip);
(2) 3,000,000 channels of one programme each.

The guides come from tests/epg/attack_guides.py (cached under var/bench/), are served by a local HTTP server
in its own process, and each is fetched and imported by ``run_fetch`` (as the Celery task does) in a child
process. It prints the fetch's outcome, wall and CPU seconds and the child's peak RSS (ru_maxrss, which includes
setting Django up; the highest RSS during the fetch alone, from VmHWM reset before it, in brackets), with
PASS/FAIL against 256 MiB (../shared/spec/performance.md). On the code of b806312 the first used 11 min of CPU
and 1.72 GB and the second peaked at 1.13 GB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import _django

TARGET_RSS_MIB = 256


def build(kind: str, size: int, directory: Path) -> Path:
    """The guide file (cached: the generators are deterministic for a given start day)."""
    sys.path.insert(0, str(_django.ROOT))
    from tests.epg.attack_guides import huge_title_guide, many_channels_guide

    start = dt.datetime.combine(dt.date.today() + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"attack-{kind}-{size}-{start:%Y%m%d}.xml.gz"
    if not path.exists():
        print(f"generating {path.name}…", flush=True)
        partial = path.with_suffix(".partial")
        with open(partial, "wb") as out:
            if kind == "title":
                huge_title_guide(out, size * 2**20, start)
            else:
                many_channels_guide(out, size, start)
        partial.rename(path)
    return path


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) of this process, so that the fetch's own peak can be read."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        return True
    except OSError:
        return False


def vm_hwm_mib() -> float | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def child_fetch(args) -> dict:
    os.environ["EPG_ALLOW_PRIVATE_URLS"] = "true"  # the guide is served on 127.0.0.1
    _django.setup(args.database_url)
    from content.epg import services as epg_services
    from content.models import EpgFetch, EpgSource, Program

    source = EpgSource.objects.select_related("portal").get(pk=args.source_id)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Django set up, before the fetch
    reset = reset_peak_rss()
    fetch = EpgFetch.objects.create(portal_id=source.portal_id, epg_source=source, job_id=f"attack-{time.time_ns()}")
    started = time.perf_counter()
    fetch = epg_services.run_fetch(fetch.id)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    longest = max((len(title) for title in Program.objects.filter(epg_source=source).values_list("title", flat=True)
                   .order_by("id")[:1000]), default=0)
    return {"status": fetch.status, "message": fetch.message[:400], "seconds": seconds,
            "cpu": usage.ru_utime + usage.ru_stime, "rss_mib": usage.ru_maxrss / 1024, "baseline_mib": baseline,
            "fetch_peak_mib": vm_hwm_mib() if reset else None,
            "channels": fetch.channels, "imported": fetch.imported_programs, "longest_title": longest}


def during(result: dict) -> str:
    peak = result.get("fetch_peak_mib")
    return "" if peak is None else f", highest during the fetch {peak:.0f}"


def run_child(args, source_id: int) -> dict:
    argv = [sys.executable, __file__, "--child", "--database-url", args.database_url, "--source-id", str(source_id)]
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"the import process failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--title-mib", type=int, default=900, help="size of the one title, MiB")
    parser.add_argument("--channels", type=int, default=3_000_000, help="channels of one programme each")
    parser.add_argument("--database-url", default=None, help=f"default: {_django.DEFAULT_DATABASE_URL}")
    parser.add_argument("--work-dir", default=str(_django.ROOT / "var" / "bench"), help="where guides are cached")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--source-id", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.database_url = args.database_url or os.environ.get("DATABASE_URL") or _django.DEFAULT_DATABASE_URL
    if args.child:
        sys.path.insert(0, str(_django.ROOT))
        print(json.dumps(child_fetch(args)))
        return

    _django.setup(args.database_url)
    from django.conf import settings

    from content.epg import services as epg_services
    from portals import services as portals
    from portals.auth import Caller

    directory = Path(args.work_dir)
    guides = [("one huge title", build("title", args.title_mib, directory)),
              ("many channels", build("channels", args.channels, directory))]
    port = _django.free_port()
    server = _django.serve([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                            "--directory", str(directory)], port, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    name = f"bench-attack-{int(time.time())}"
    portal = portals.create_portal(name=name, domain=f"{name}.bench", owner_email="bench@example.com",
                                   owner_password="Bench-Pass-2024!")
    results = []
    try:
        for number, (label, path) in enumerate(guides, 1):
            source = epg_services.create_epg_source(portal, caller=Caller(portal=portal), data={
                "name": f"attack-{number}", "url": f"http://127.0.0.1:{port}/{path.name}"})
            result = run_child(args, source.id)
            results.append((label, path, result))
            print(f"({number}) {label}: {result['status']} in {result['seconds']:.1f} s, CPU {result['cpu']:.1f} s, "
                  f"peak RSS {result['rss_mib']:.0f} MiB (before the fetch {result['baseline_mib']:.0f} MiB{during(result)})",
                  flush=True)
    finally:
        server.terminate()
        portal.delete()

    print(f"\nmachine: {_django.machine()}; load average {os.getloadavg()[0]:.2f}; EPG_FETCH_TIMEOUT "
          f"{settings.EPG_FETCH_TIMEOUT:g} s, EPG_MAX_CHANNELS {settings.EPG_MAX_CHANNELS:,}")
    passed = True
    for label, path, result in results:
        ok = result["rss_mib"] <= TARGET_RSS_MIB and result["status"] in ("success", "error", "timeout")
        passed &= ok
        print(f"{label:15} {path.name} ({path.stat().st_size / 2**20:.1f} MiB gzip): {result['status']}, "
              f"{result['channels']:,} channels, {result['imported']:,} imported, longest title "
              f"{result['longest_title']:,} characters; {result['seconds']:.1f} s, CPU {result['cpu']:.1f} s; "
              f"peak RSS {result['rss_mib']:.0f} MiB (before the fetch {result['baseline_mib']:.0f}{during(result)}), target ≤ {TARGET_RSS_MIB} MiB: {'PASS' if ok else 'FAIL'}")
        print(f"{'':15} message: {result['message']}")
    if not passed:
        sys.exit(1)


if __name__ == "__main__":
    main()
