"""Catena as it runs in production, on one host (operations.md §5, issue 18 item 6): gunicorn with 2 worker
processes, 2 Celery workers (2 pool processes each), 1 beat, PostgreSQL and Redis. For 60 s the Flussonic simulator
plays 50 viewers against gunicorn while an EPG guide (gen_xmltv.py, served by a real HTTP server) is imported,
the Management API keeps changing the portal and a real webhook receiver takes every operation. Then:

- no lost event: every session the simulator opened is one play session with the bytes it last reported, closed
  by the streamer when it said so;
- no duplicate operation delivery: every operation recorded after the webhook's creation reached the receiver,
  under one ``X-Catena-Delivery`` ID, once, signed — although several senders were started for it at once;
- the sessions the streamer dropped silently are closed by the stale cleanup exactly once, at their last sign of
  life — although four cleanups ran at the same time (the workers' logs add up to the sessions closed);
- the web's ``/metrics`` adds up every process: the auth checks both gunicorn workers counted, the deliveries the
  Celery pool processes counted.

A stage of its own in ``.ci/run`` (on a Redis database nothing else uses): ``CATENA_MULTIPROCESS=1`` with
``DATABASE_URL`` (PostgreSQL) and ``REDIS_URL``. Without ``CATENA_MULTIPROCESS=1`` it is skipped.
``CATENA_TEST_PORT_BASE`` chooses gunicorn's port (default: a free one).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from catena_site.celery import app as celery_app
from catena_site.ids import decode_id, encode_id
from content.models import EpgFetch, Program
from monitoring.models import PlaySession
from monitoring.operations import DELIVER_TASK, Delivery, Operation
from monitoring.streaming.simulator import HttpTransport, StreamerSimulator
from tests.epg.helpers import guide as epg_guide
from tests.epg.helpers import gzipped, program
from tests.metrics import total
from tests.multiprocess.stack import (
    FileServer,
    beat_ready,
    http,
    process_env,
    python_module,
    server_port,
    start,
    stop_all,
    web_ready,
    worker_ready,
)
from tests.webhooks.receiver import Receiver
from tests.worker import ROOT, missing_prerequisite, skip_or_fail, wait_until, worker_database_url

pytestmark = [
    pytest.mark.skipif(os.environ.get("CATENA_MULTIPROCESS") != "1",
                       reason="the multi-process check runs in its own stage of .ci/run (CATENA_MULTIPROCESS=1)"),
    pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

API = "/tv-management/api/v1"
VIEWERS, SECONDS, TICK = 50, 60.0, 4.0
DROPPED = 10  # viewers the streamer loses without a play_closed: the stale cleanup's work
STALE_SECONDS = 20  # 5 rounds: only a machine under heavy load leaves a playing session unheard of that long
GUIDE_CHANNELS, GUIDE_DAYS = 20, 2
STREAMER_KEY = "multiprocess-streamer-key"
METRICS_TOKEN = "multiprocess-metrics-token"
STALE_LINE = re.compile(r"closed (\d+) stale play sessions")
GENERATOR = next((tools / "gen_xmltv.py" for tools in [Path(os.environ.get("CATENA_SHARED_TOOLS", "/nonexistent")),
                                                       ROOT.parent / "shared" / "tools",
                                                       ROOT.parent.parent / "shared" / "tools"]
                  if (tools / "gen_xmltv.py").exists()), None)


class RecordingTransport(HttpTransport):
    """The simulator's HTTP transport, keeping what was asked and sent, and what Catena answered."""

    def __init__(self, base_url: str):
        super().__init__(base_url, timeout=20.0)
        self.auth: list[tuple[dict, int]] = []
        self.batches: list[tuple[list[dict], int]] = []

    def get(self, path, params):
        status, body = super().get(path, params)
        self.auth.append((dict(params), status))
        return status, body

    def post_json(self, path, params, body):
        status = super().post_json(path, params, body)
        self.batches.append(([dict(event) for event in body], status))
        return status


class Api:
    """The Management API of the portal over HTTP, with its API key."""

    def __init__(self, base_url: str, key: str):
        self.base, self.key = base_url + API, key

    def call(self, method: str, path: str, body: dict | None = None, expect: int = 200) -> dict:
        status, raw = http(method, self.base + path, json.dumps(body).encode() if body is not None else None,
                           {"X-Auth-Token": self.key, "Content-Type": "application/json"})
        assert status == expect, f"{method} {path} answered {status}: {raw[:500]!r}"
        return json.loads(raw or b"{}")


def guide(directory: Path) -> tuple[Path, int]:
    """The XMLTV guide of gen_xmltv.py (starting today) and how many programmes it holds; without the generator (a
    clone outside the project's folders, no ``CATENA_SHARED_TOOLS``), hourly programmes of the same channels."""
    path = directory / "guide.xml.gz"
    if GENERATOR is None:
        print("gen_xmltv.py not found (CATENA_SHARED_TOOLS): the guide is built by tests/epg/helpers.py")
        ids = [f"ch{i:05d}.example.tv" for i in range(GUIDE_CHANNELS)]
        hours = range(GUIDE_DAYS * 24)
        path.write_bytes(gzipped(epg_guide(*(program(cid, h, h + 1, f"Show {h}") for cid in ids for h in hours),
                                           channels=tuple(ids))))
        return path, len(ids) * len(hours)
    done = subprocess.run([sys.executable, str(GENERATOR), "--channels", str(GUIDE_CHANNELS), "--days",
                           str(GUIDE_DAYS), "--start", time.strftime("%Y-%m-%d", time.gmtime()), "--out", str(path)],
                          capture_output=True, text=True, check=True, timeout=60)
    return path, int(done.stderr.split()[0])


@pytest.fixture
def host(tmp_path):
    """gunicorn (2 workers), 2 Celery workers, beat: started, then stopped whatever the test did."""
    reason = missing_prerequisite()
    if reason:
        skip_or_fail(reason)
    var = tmp_path / "var"
    var.mkdir()
    env = process_env(worker_database_url(), var, STREAMER_KEY=STREAMER_KEY, SESSION_STALE_SECONDS=str(STALE_SECONDS),
                      EPG_ALLOW_PRIVATE_URLS="true", DEBUG="false", SECRET_KEY=uuid.uuid4().hex * 2,
                      ALLOWED_HOSTS="127.0.0.1,localhost", LOG_LEVEL="INFO", LOG_FORMAT="text",
                      METRICS_TOKEN=METRICS_TOKEN, METRICS_DATABASE_CACHE="0")
    port = server_port()
    base_url = f"http://127.0.0.1:{port}"
    processes = {}
    try:
        for name in ("worker1", "worker2"):  # all four start side by side
            processes[name] = start(python_module("celery", "-A", "catena_site", "worker", "--concurrency=2",
                                                  "--loglevel=INFO", "-n", f"{name}-{uuid.uuid4().hex[:6]}@%h"), env)
        processes["beat"] = start(python_module("celery", "-A", "catena_site", "beat", "--loglevel=INFO"), env)
        processes["web"] = start(python_module("gunicorn", "-c", "python:catena_site.gunicorn_conf", "--workers", "2",
                                               "--bind", f"127.0.0.1:{port}", "catena_site.wsgi"), env)
        worker_ready(processes["worker1"])
        worker_ready(processes["worker2"])
        beat_ready(processes["beat"])
        web_ready(processes["web"], base_url)
        yield {"url": base_url, "env": env, "processes": processes}
    finally:
        stop_all(processes.values())


def create_portal(env: dict) -> dict:
    """A new portal, as an operator creates one (``manage.py create_portal --json``)."""
    done = subprocess.run(python_module("django", "create_portal", "--name", "multi", "--domain", "multi.example.com",
                                        "--owner-email", "owner@multi.example.com", "--owner-password",
                                        "Quiet-Harbor-2041", "--json"),
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def churn(api: Api, subscribers: list[dict], channels: list[dict], stop: threading.Event, webhook_id: int) -> list:
    """Operations while the viewers play (renames), and extra senders started at once for the webhook."""
    errors = []
    n = 0
    while not stop.wait(0.5):
        n += 1
        try:
            subscriber = subscribers[n % len(subscribers)]
            api.call("PUT", f"/subscribers/{subscriber['subscriberId']}", {"name": f"Viewer {n}"})
            channel = channels[n % len(channels)]
            api.call("PUT", f"/channels/{channel['channelId']}", {"title": f"Channel {n}"})
            for _ in range(3):  # senders racing each other for the webhook's queue
                celery_app.send_task(DELIVER_TASK, kwargs={"webhook_id": webhook_id})
            if n % 10 == 0:
                celery_app.send_task("monitoring.tasks.sweep_webhook_deliveries")
        except Exception as exc:  # reported by the test, which stops the simulation cleanly first
            errors.append(exc)
            return errors
    return errors


def scrape(base_url: str) -> dict[tuple[str, frozenset], float]:
    """``GET /metrics`` of the host (whichever gunicorn worker answers, it adds up every process's files)."""
    status, body = http("GET", f"{base_url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert status == 200, body[:500]
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(body.decode()) for sample in family.samples}


def stale_closures(host: dict) -> dict[str, list[int]]:
    """How many sessions each stale cleanup closed so far, by worker, in the order it logged them."""
    return {name: [int(n) for line in list(host["processes"][name].lines) for n in STALE_LINE.findall(line)]
            for name in ("worker1", "worker2")}


def expected_sessions(transport: RecordingTransport) -> tuple[set[str], dict[str, int], set[str]]:
    """From what the simulator sent: the sessions opened, the highest bytes each reported, those it closed."""
    opened, closed, most = set(), set(), defaultdict(int)
    for params, status in transport.auth:
        if params["request_type"] == "new_session" and status == 200:
            opened.add(params["session_id"])
        most[params["session_id"]] = max(most[params["session_id"]], int(params.get("bytes") or 0))
    for events, status in transport.batches:
        assert status == 204, f"an events batch answered {status}"
        for event in events:
            most[event["id"]] = max(most[event["id"]], int(event["bytes"]))
            if event["event"] == "play_closed":
                closed.add(event["id"])
    return opened, {sid: most[sid] for sid in opened}, closed


def test_two_web_processes_two_workers_and_beat_lose_nothing_and_do_nothing_twice(host, tmp_path):
    began = time.monotonic()
    base_url, env = host["url"], host["env"]
    portal = create_portal(env)
    api = Api(base_url, portal["apiKey"])
    receiver = Receiver()
    guide_server = None
    try:
        webhook = api.call("POST", "/webhooks", {"url": receiver.url}, expect=201)
        webhook_id = decode_id(webhook["webhookId"])
        before_webhook = set(Operation.objects.values_list("id", flat=True))

        # The catalogue and the viewers, through the API.
        channels = [api.call("POST", "/channels", {"name": f"mp{i}", "title": f"Channel {i}", "epgSourceName": "guide",
                                                   "epgChannelName": f"ch{i:05d}.example.tv"}, expect=201)
                    for i in range(5)]
        package = api.call("POST", "/packages", {"name": "everything"}, expect=201)
        for channel in channels:
            api.call("POST", "/channels-packages", {"channelId": channel["channelId"],
                                                    "packageId": package["packageId"]}, expect=201)
        subscribers = []
        for i in range(VIEWERS):
            subscriber = api.call("POST", "/subscribers", {"name": f"Viewer {i}", "phoneCountryCode": "1",
                                                           "phone": f"555{i:04d}"}, expect=201)
            api.call("POST", "/packages-subscribers", {"subscriberId": subscriber["subscriberId"],
                                                       "packageId": package["packageId"]})
            subscribers.append(subscriber)

        # The EPG import, from a real HTTP server, runs while the viewers play.
        guide_path, programmes = guide(tmp_path)
        guide_server = FileServer(guide_path.parent)
        source = api.call("POST", "/epg-sources", {"name": "guide", "url": guide_server.url(guide_path.name)},
                          expect=201)
        job = api.call("POST", f"/epg-sources/{source['epgSourceId']}/update", expect=202)

        transport = RecordingTransport(base_url)
        names = [channel["name"] for channel in channels]
        simulator = StreamerSimulator(transport, STREAMER_KEY, [(s["playback_token"], names) for s in subscribers],
                                      seed=18)
        stop = threading.Event()
        churned: list = []
        changer = threading.Thread(target=lambda: churned.extend(churn(api, subscribers, channels, stop, webhook_id)),
                                   name="churn", daemon=True)
        changer.start()
        played_from = time.monotonic()
        try:
            simulator.start()
            rounds = []
            while time.monotonic() - played_from < SECONDS:
                time.sleep(TICK)
                began_round = time.monotonic()
                simulator.tick()
                rounds.append(time.monotonic() - began_round)
            # Stale closures so far: sessions a slow round left unheard of for STALE_SECONDS (a loaded machine),
            # revived by their next heartbeat. Those from here on are the dropped sessions'.
            closed_while_playing = stale_closures(host)
            dropped = [viewer.session_id for viewer in simulator.viewers[:DROPPED] if viewer.playing]
            for viewer in simulator.viewers[:DROPPED]:
                viewer.playing = False  # lost by the streamer: no play_closed, no more heartbeats
            last_heard = time.monotonic()
            simulator.stop()
        finally:
            stop.set()
            changer.join(30)
        assert not churned, churned
        assert set(simulator.stats.auth) == {"200"}, simulator.stats.auth
        assert simulator.stats.duplicates and simulator.stats.late  # the simulator did send both
        opened, most_bytes, closed_by_streamer = expected_sessions(transport)
        assert len(opened) > VIEWERS and len(dropped) == DROPPED
        assert closed_by_streamer == opened - set(dropped)

        # The EPG import finished, whole.
        def imported() -> bool:
            return EpgFetch.objects.filter(job_id=job["jobId"], status__in=("success", "error", "timeout")).exists()

        assert wait_until(imported, 60), "the EPG fetch did not finish"
        fetch = EpgFetch.objects.get(job_id=job["jobId"])
        assert (fetch.status, fetch.imported_programs) == ("success", programmes), fetch.message
        assert Program.objects.filter(epg_source_id=fetch.epg_source_id).count() == programmes

        # No lost event: every session opened is there once, with its last bytes, closed when the streamer said.
        def applied() -> bool:
            rows = {row.streamer_session_id: row for row in PlaySession.objects.filter(portal_id__isnull=False)}
            return set(rows) == opened and all(
                rows[sid].bytes == most_bytes[sid] and not rows[sid].active and rows[sid].close_reason == "streamer"
                for sid in closed_by_streamer)

        assert wait_until(applied, 60), "events were lost or not applied"
        assert PlaySession.objects.count() == len(opened)

        # The stale cleanup: four at once (two workers × two pool processes), beat's own too when it falls due.
        time.sleep(max(0.0, STALE_SECONDS + 2 - (time.monotonic() - last_heard)))
        for _ in range(4):
            celery_app.send_task("monitoring.tasks.close_stale_sessions")

        def stale_closed() -> bool:
            return PlaySession.objects.filter(close_reason="stale").count() == DROPPED

        assert wait_until(stale_closed, 45), "the stale sessions were not closed"
        stale = PlaySession.objects.filter(close_reason="stale")
        assert set(stale.values_list("streamer_session_id", flat=True)) == set(dropped)
        assert all(not s.active and s.closed_at == s.updated_at and s.bytes == most_bytes[s.streamer_session_id]
                   for s in stale)
        assert not PlaySession.objects.filter(active=True).exists()
        time.sleep(1)  # the log line follows the commit
        logged = [n for name, counts in stale_closures(host).items() for n in counts[len(closed_while_playing[name]):]]
        assert sum(logged) == DROPPED, f"the stale cleanups logged {logged}: a session was closed twice"
        print(f"stale closures while playing (revived): {sum(map(sum, closed_while_playing.values()))}; rounds took "
              f"{max(rounds):.1f} s at most")

        # No duplicate operation delivery: each operation since the webhook once, under one delivery ID.
        expected_ops = set(Operation.objects.exclude(id__in=before_webhook).exclude(type="createWebhook")
                           .values_list("id", flat=True))
        celery_app.send_task("monitoring.tasks.sweep_webhook_deliveries")

        def delivered() -> bool:
            return not Delivery.objects.filter(webhook_id=webhook_id).exclude(status="delivered").exists() and \
                len(receiver.received) >= len(expected_ops)

        assert wait_until(delivered, 60), Counter(Delivery.objects.filter(webhook_id=webhook_id)
                                                  .values_list("status", flat=True))
        time.sleep(2)  # a duplicate POST, if any sender made one, would arrive now
        received = list(receiver.received)
        by_operation = defaultdict(set)
        for request in received:
            by_operation[json.loads(request.body)["operationId"]].add(request.delivery_id)
        public = {op.public_id: op.id for op in Operation.objects.filter(id__in=expected_ops)}
        assert set(public) <= set(by_operation), "operations were not delivered"
        assert all(len(ids) == 1 for ids in by_operation.values()), "an operation went out under two delivery IDs"
        repeated = {i: n for i, n in Counter(r.delivery_id for r in received).items() if n > 1}
        assert not repeated, f"deliveries posted more than once: {repeated}"
        assert all(r.signature_is_valid(webhook["secret"]) for r in received)
        assert Delivery.objects.filter(webhook_id=webhook_id).count() == len(by_operation)
        ids = {encode_id(pk): pk for pk in Delivery.objects.filter(webhook_id=webhook_id).values_list("id", flat=True)}
        got = [ids[r.delivery_id] for r in received]
        assert got == sorted(got), "deliveries of one webhook went out of order"

        # The counts of every process add up on the web's /metrics: gunicorn's two workers counted the auth checks,
        # the Celery workers' pool processes the deliveries.
        for _ in range(3):
            samples = scrape(base_url)
            assert total(samples, "catena_auth_checks_total", portal_id=portal["portalId"], result="allowed") == \
                len(transport.auth)
            assert total(samples, "catena_webhook_deliveries_total", portal_id=portal["portalId"],
                         result="delivered") == len(by_operation)
    finally:
        receiver.close()
        if guide_server:
            guide_server.close()
        print(f"multi-process check: {time.monotonic() - began:.0f} s")
    assert all(process.proc.poll() is None for process in host["processes"].values()), \
        {name: process.log_tail(30) for name, process in host["processes"].items() if process.proc.poll() is not None}
    assert time.monotonic() - began < 170
