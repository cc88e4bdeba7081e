"""Benchmark: background work during a burst of access changes, on the embedded default (issue 11, item 5).

    python bench/background_burst.py [--clients 4] [--rounds 60] [--concurrency 2] [--limit 60]

Everything runs as ``dev.py run`` runs it, but on a fresh temporary ``CATENA_VAR_DIR``: SQLite, the embedded
Celery broker (whatever ``CELERY_BROKER_URL`` the settings choose without ``REDIS_URL``), the file-based cache,
a real ``celery -A catena_site worker -B`` (``--concurrency`` processes) and a real ``manage.py runserver``.

1. Setup (in this process, through the services): a portal with four subscribers, each subscribed to a ``base``
   package (channel ``news``) and playing it (a ``new_session`` through the streaming auth endpoint), and an
   ``extra`` package (channel ``sport``); an EPG source whose guide a local HTTP server serves.
2. The burst: ``--clients`` threads, each owning one subscriber, each doing ``--rounds`` times ``POST`` then
   ``DELETE /packages-subscribers`` of ``extra`` through the Management API, paced over ``--seconds`` (every
   ``DELETE`` is an access change that asks for a session re-check; with the defaults 4 × 60 = 240 of them,
   480 requests in about a minute).
3. Right after the burst: "Update now" (``POST /epg-sources/{id}/update``) and the time until its fetch has
   finished (``success``/``error``/``timeout``). PASS if it took at most ``--limit`` seconds.

Printed: changes/s of the burst; re-check jobs queued (received by the worker, plus those still in the queue)
and applied (finished), each per second; the broker queue's length at the end of the burst and its maximum;
the worker's fate (an exit during the run is reported with its log's last lines); the "Update now" time.

Queue length is read from the broker's queue folder (one file per message on the filesystem transport);
jobs received/finished from the worker's log (``--loglevel=info``). Reads only ``127.0.0.1``.
"""

from __future__ import annotations

import argparse
import gzip
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
API = "/tv-management/api/v1"
STREAMER_KEY = "burst-streamer-key"
RECHECK = "monitoring.tasks.recheck_sessions"
FINISHED = ("success", "error", "timeout")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(var_dir: Path) -> dict[str, str]:
    """The embedded default (no DATABASE_URL, no REDIS_URL) on a var directory of its own."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update({"CATENA_VAR_DIR": str(var_dir), "DEBUG": "false", "SECRET_KEY": "benchmark-" + "x" * 50,
                "ALLOWED_HOSTS": "127.0.0.1,localhost", "EPG_ALLOW_PRIVATE_URLS": "true", "LOG_LEVEL": "INFO",
                "STREAMER_KEY": STREAMER_KEY, "PYTHONUNBUFFERED": "1", "DJANGO_SETTINGS_MODULE": "catena_site.settings"})
    return env


# --- The guide server ------------------------------------------------------------------------------------------


def guide(channels: int = 20, hours: int = 48) -> bytes:
    """A small gzipped XMLTV guide (the fetch is the probe, not the load)."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<tv>"]
    lines += [f'<channel id="ch{c}"><display-name>Channel {c}</display-name></channel>' for c in range(channels)]
    for c in range(channels):
        for h in range(hours):
            day, hour = divmod(h, 24)
            start = f"202601{1 + day:02d}{hour:02d}0000 +0000"
            stop = f"202601{1 + (h + 1) // 24:02d}{(h + 1) % 24:02d}0000 +0000"
            lines.append(f'<programme start="{start}" stop="{stop}" channel="ch{c}"><title>Show {c}/{h}</title>'
                         "</programme>")
    lines.append("</tv>")
    return gzip.compress("\n".join(lines).encode())


def serve_guide(body: bytes) -> tuple[http.server.ThreadingHTTPServer, int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's naming)
            self.send_response(200)
            self.send_header("Content-Type", "application/gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


# --- Setup through the services ---------------------------------------------------------------------------------


def setup_data(env: dict[str, str], guide_url: str, clients: int) -> dict:
    """Migrate the fresh database and build the portal (in a child process, so this one stays Django-free)."""
    script = f"""
import json, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from portals import services as portals
from portals.auth import Caller
from content import services as content
from content.epg import services as epg_services
from subscribers import services as subscribers
portal = portals.create_portal(name="burst", domain="burst.example.com", owner_email="owner@example.com",
                               owner_password="Burst-Bench-Password-9", title="Burst")
caller = Caller(portal=portal)
news = content.create_channel(portal, caller=caller, data={{"name": "news", "title": "News"}})
sport = content.create_channel(portal, caller=caller, data={{"name": "sport", "title": "Sport"}})
base = content.create_package(portal, caller=caller, data={{"name": "base"}})
extra = content.create_package(portal, caller=caller, data={{"name": "extra"}})
content.add_channel_to_package(base, news, caller=caller)
content.add_channel_to_package(extra, sport, caller=caller)
people = []
for i in range({clients}):
    s = subscribers.create_subscriber(portal, caller=caller, data={{"name": f"Viewer {{i}}", "phoneCountryCode": "1",
                                                                   "phone": str(2025550100 + i)}})
    subscribers.subscribe(s, base, caller=caller)
    people.append({{"id": s.public_id, "token": s.playback_token}})
source = epg_services.create_epg_source(portal, caller=caller, data={{"name": "burst-guide", "url": {guide_url!r}}})
print("SETUP " + json.dumps({{"key": portal.api_key, "extra": extra.public_id, "source": source.public_id,
                             "subscribers": people}}))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"setup failed:\n{out.stderr[-3000:]}")
    line = next(line for line in out.stdout.splitlines() if line.startswith("SETUP "))
    return json.loads(line[6:])


# --- The processes -------------------------------------------------------------------------------------------


class Worker:
    """``celery worker -B`` with its log collected (received / finished jobs by task name)."""

    def __init__(self, env: dict[str, str], concurrency: int):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "catena_site", "worker", "-B", "--loglevel=info",
             f"--concurrency={concurrency}"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.ready = threading.Event()
        self.lines: deque[str] = deque(maxlen=400)
        self.received: dict[str, list[float]] = {}
        self.finished: dict[str, list[float]] = {}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    _EVENT = re.compile(r"Task ([\w.]+)\[[^\]]+\] (received|succeeded|failed|raised|retry)")

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())
            if " ready." in line:
                self.ready.set()
            match = self._EVENT.search(line)
            if match:
                book = self.received if match.group(2) == "received" else self.finished
                book.setdefault(match.group(1), []).append(time.monotonic())

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def start_web(env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    port = free_port()
    log = open(Path(env["CATENA_VAR_DIR"]) / "web.log", "w")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen([sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.2)
    raise SystemExit("runserver did not start")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def request(port: int, method: str, path: str, *, key: str | None = None, body: dict | None = None,
            query: str = "") -> tuple[int, dict | None]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}{query}", data=data, method=method)
    if key:
        req.add_header("X-Auth-Token", key)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw) if raw else None
        except ValueError:
            return exc.code, {"raw": raw[:200].decode(errors="replace")}


# --- Measuring the queue ------------------------------------------------------------------------------------------


def queue_length(var_dir: Path) -> int:
    """Messages waiting in the embedded broker's queue folder (the filesystem transport: one file each)."""
    folder = var_dir / "broker" / "queue"
    try:
        return sum(1 for entry in os.scandir(folder) if entry.name.endswith(".msg"))
    except FileNotFoundError:
        return 0


class Sampler(threading.Thread):
    """Reads the queue length every 0.25 s."""

    def __init__(self, var_dir: Path):
        super().__init__(daemon=True)
        self.var_dir, self.samples, self.stopping = var_dir, [], threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            self.samples.append((time.monotonic(), queue_length(self.var_dir)))
            time.sleep(0.25)


def fetch_status(env: dict[str, str], job_id: str) -> str | None:
    """The fetch's status, read from the SQLite file directly (no Django in this process)."""
    import sqlite3

    path = Path(env["CATENA_VAR_DIR"]) / "catena.sqlite3"
    with sqlite3.connect(path, timeout=30) as db:
        row = db.execute("SELECT status FROM content_epgfetch WHERE job_id = ?", (job_id,)).fetchone()
    return row[0] if row else None


# --- The run -------------------------------------------------------------------------------------------------------


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=60, help="subscribe + unsubscribe pairs per client")
    parser.add_argument("--seconds", type=float, default=60.0, help="spread each client's changes over this")
    parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes (dev.py's default)")
    parser.add_argument("--limit", type=float, default=60.0, help="PASS if 'Update now' finished within this")
    parser.add_argument("--wait", type=float, default=180.0, help="give up waiting for the fetch after this")
    parser.add_argument("--keep", action="store_true", help="keep the temporary var directory")
    return parser.parse_args()


def start_playing(port: int, data: dict) -> None:
    """Each viewer plays "news" (kept by "base"): a ``new_session`` through the streaming auth endpoint."""
    for n, person in enumerate(data["subscribers"]):
        status, _ = request(port, "GET", "/streaming/flussonic/auth", query=(
            f"?key={STREAMER_KEY}&name=news&token={person['token']}&ip=192.0.2.{n + 1}&proto=hls"
            f"&session_id=burst-{n}&request_type=new_session&request_number=0&stream_clients=1&total_clients=1"))
        assert status == 200, status


@dataclass
class Burst:
    """What the burst did: when it started (``time.monotonic()``), how long it took, the broker queue's length
    at its end, and the answers that were not the expected ones."""

    started: float
    seconds: float
    queued_at_end: int
    errors: list[str]


def burst(port: int, data: dict, args: argparse.Namespace, var_dir: Path) -> Burst:
    """``--clients`` threads, each subscribing and unsubscribing its viewer to "extra" ``--rounds`` times, paced."""
    errors: list[str] = []

    def client(person: dict) -> None:
        link = {"subscriberId": person["id"], "packageId": data["extra"]}
        step = args.seconds / (2 * args.rounds)  # paced: the changes spread over --seconds, as people make them
        for n in range(args.rounds):
            for k, (method, expected) in enumerate((("POST", 200), ("DELETE", 201))):
                pause = started + (2 * n + k) * step - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                status, body = request(port, method, f"{API}/packages-subscribers", key=data["key"], body=link)
                if status != expected:
                    errors.append(f"{method} {status} {body}")

    threads = [threading.Thread(target=client, args=(p,)) for p in data["subscribers"][:args.clients]]
    started = time.monotonic() + 0.1
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Burst(started, time.monotonic() - started, queue_length(var_dir), errors)


def update_now(port: int, data: dict, env: dict[str, str], worker: Worker, wait: float) -> tuple[str | None, float]:
    """Press "Update now" and wait for its fetch: its final status (None if not found) and the seconds it took."""
    status, body = request(port, "POST", f"{API}/epg-sources/{data['source']}/update", key=data["key"])
    asked = time.monotonic()
    if status != 202:
        raise SystemExit(f"'Update now' answered {status} {body}")
    job_id, state = body["jobId"], None
    while time.monotonic() - asked < wait:
        state = fetch_status(env, job_id)
        if state in FINISHED or worker.proc.poll() is not None:
            break
        time.sleep(0.25)
    return state, time.monotonic() - asked


def jobs_since(started: float, worker: Worker, var_dir: Path) -> tuple[list[float], list[float], list[float], int]:
    """Since ``started``: when the worker received and finished re-check jobs, when it finished any job, and how
    many re-check jobs still wait in the queue."""
    received = [t for t in worker.received.get(RECHECK, []) if t >= started]
    applied = [t for t in worker.finished.get(RECHECK, []) if t >= started]
    all_done = [t for times in worker.finished.values() for t in times if t >= started]
    waiting = sum(1 for path in (var_dir / "broker" / "queue").glob("*.msg") if RECHECK in path.read_text("utf-8", "replace"))
    return received, applied, all_done, waiting


def report_jobs(args: argparse.Namespace, done: Burst, worker: Worker, var_dir: Path, sampler: Sampler) -> None:
    """Print the burst's rate and the re-check jobs queued and applied, per second, and the queue's length."""
    started, changes = done.started, args.clients * args.rounds
    received, applied, all_done, waiting = jobs_since(started, worker, var_dir)
    span = (max(applied) - started) if applied else 0.0
    print(f"burst: {2 * changes} requests ({changes} subscribe + {changes} unsubscribe) by {args.clients} clients "
          f"in {done.seconds:.1f} s = {2 * changes / done.seconds:.1f} changes/s; {len(done.errors)} unexpected answers"
          + (f" (first: {done.errors[0]})" if done.errors else ""))
    print(f"re-check jobs queued: {len(received) + waiting} ({(len(received) + waiting) / done.seconds:.2f} jobs/s over the burst; "
          f"{changes} access-removing changes)")
    print(f"re-check jobs applied: {len(applied)} in {span:.1f} s after the burst started "
          f"({(len(applied) / span) if span else 0:.2f} jobs/s); all jobs applied: {len(all_done)} "
          f"({len(all_done) / (time.monotonic() - started):.2f} jobs/s over the whole run)")
    print(f"queue length: {done.queued_at_end} at the end of the burst, max {max((n for _, n in sampler.samples), default=0)}, "
          f"{queue_length(var_dir)} now ({waiting} re-check jobs still waiting)")


def verdict(args: argparse.Namespace, worker: Worker, state: str | None, took: float) -> int:
    """Print the worker's fate and the "Update now" time; 0 if it passed."""
    if worker.proc.poll() is not None:
        print(f"WORKER EXITED with code {worker.proc.returncode}; its last lines:")
        print("\n".join(list(worker.lines)[-15:]))
    passed = state in FINISHED and took <= args.limit
    print(f"'Update now': fetch {state or 'not found'} after {took:.1f} s (limit {args.limit:.0f} s) -> "
          f"{'PASS' if passed else 'FAIL'}")
    return 0 if passed else 1


def main() -> int:
    args = parse_arguments()
    var_dir = Path(tempfile.mkdtemp(prefix="catena-burst-"))
    env = environment(var_dir)
    guide_server, guide_port = serve_guide(guide())
    print(f"var dir {var_dir}; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}", flush=True)
    data = setup_data(env, f"http://127.0.0.1:{guide_port}/guide.xml.gz", args.clients)
    worker = Worker(env, args.concurrency)
    web, port = start_web(env)
    sampler = Sampler(var_dir)
    try:
        if not worker.ready.wait(60):
            raise SystemExit("the worker did not become ready:\n" + "\n".join(list(worker.lines)[-30:]))
        start_playing(port, data)
        time.sleep(3)  # beat's first round of periodic jobs goes by
        sampler.start()
        done = burst(port, data, args, var_dir)
        state, took = update_now(port, data, env, worker, args.wait)
        sampler.stopping.set()
        sampler.join()
        report_jobs(args, done, worker, var_dir, sampler)
        return verdict(args, worker, state, took)
    finally:
        sampler.stopping.set()
        stop(web)
        worker.stop()
        guide_server.shutdown()
        if not args.keep:
            shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
