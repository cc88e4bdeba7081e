"""A Celery worker SIGKILLed in the middle of an EPG import (issue 11, item 6): the programmes stay exactly
as they were, the fetch does not stay ``running`` — the dispatcher gives it up once the worker's lease has
expired — and the source is retried by its backoff rule, which a new worker then imports completely.

Real parts only: a worker process of our own (we kill it), PostgreSQL, Redis, a guide served over HTTP on
127.0.0.1 that stops sending in the middle so that the kill lands mid-import. Runs where tests/worker.py's
prerequisites hold (the PostgreSQL + Redis run).
"""

from __future__ import annotations

import os
import signal
import sys
import time
import uuid

import pytest

from catena_site.celery import app as celery_app
from content import tasks
from content.epg import services as epg_services
from content.models import EpgFetch, EpgSource
from tests.epg.helpers import fetch_now, guide, make_source, program, stored
from tests.worker import (
    WorkerProcess,
    launch_worker,
    missing_prerequisite,
    skip_or_fail,
    wait_until,
    worker_database_url,
)

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

LEASE_SECONDS = 2  # the killed worker's lease: renewed every 2/3 s while it imports
CHANNELS, HOURS = 200, 48


def start_worker(queue: str, var_dir) -> WorkerProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "catena_site.settings", "DATABASE_URL": worker_database_url(),
           "CATENA_VAR_DIR": str(var_dir), "PYTHONUNBUFFERED": "1", "EPG_ALLOW_PRIVATE_URLS": "true",
           "EPG_FETCH_LEASE": str(LEASE_SECONDS)}
    argv = [sys.executable, "-m", "celery", "-A", "catena_site", "worker", "--pool=solo", "-Q", queue,
            "-n", f"{queue}-{uuid.uuid4().hex[:4]}@%h", "--loglevel=INFO", "--without-gossip", "--without-mingle",
            "--without-heartbeat"]
    return launch_worker(argv, env, queue)


@pytest.fixture
def own_queue():
    queue = f"catena-kill-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue  # this process's jobs go to our workers only
    yield queue
    celery_app.conf.task_default_queue = previous


def big_guide() -> bytes:
    """A new guide: ``HOURS`` programs on each of ``CHANNELS`` channels (not on kept.tv)."""
    return guide(*(program(f"ch{c:03d}.tv", hour, hour + 1, f"New {c}/{hour}")
                   for c in range(CHANNELS) for hour in range(HOURS)))


def kill_the_worker_mid_import(source: EpgSource, server, queue: str, var_dir) -> EpgFetch:
    """Start a worker, let it import 60 % of the guide (and renew its lease), SIGKILL it; return its fetch."""
    worker = start_worker(queue, var_dir)
    try:
        fetch, created = epg_services.request_fetch(source)
        assert created
        assert server.paused.wait(60), worker.log_tail()  # the worker is importing: 60 % parsed and staged
        running = EpgFetch.objects.get(pk=fetch.pk)
        assert running.status == "running" and running.lease_until is not None
        assert wait_until(lambda: EpgFetch.objects.get(pk=fetch.pk).lease_until > running.lease_until, 30), \
            "the importing worker does not renew its lease"

        os.kill(worker.proc.pid, signal.SIGKILL)
        assert worker.proc.wait(10) == -signal.SIGKILL
    finally:
        worker.stop()
    return fetch


def assert_given_up_by_the_dispatcher(fetch: EpgFetch) -> None:
    """Beat's dispatcher gives the killed worker's fetch up within 30 s, as an error naming the stopped worker."""

    def dispatched_until_given_up() -> bool:
        tasks.dispatch_epg_fetches()  # beat's job (every minute in production)
        return EpgFetch.objects.get(pk=fetch.pk).status != "running"

    killed = time.monotonic()
    assert wait_until(dispatched_until_given_up, timeout=30), "the killed worker's fetch is still running"
    assert time.monotonic() - killed < 30
    fetch.refresh_from_db()
    assert fetch.status == "error" and fetch.message.startswith("The worker stopped during the import ("), fetch.message


def retry_with_a_new_worker(source: EpgSource, queue: str, var_dir) -> EpgFetch:
    """Queue the source's retry (due after the backoff) with the dispatcher; a new worker runs it to the end."""
    assert epg_services.dispatch_due_fetches(source.next_fetch_at) == 1
    retry = EpgFetch.objects.get(epg_source=source, status__in=["queued", "running"])
    worker = start_worker(queue, var_dir)
    try:
        assert wait_until(lambda: not EpgFetch.objects.filter(pk=retry.pk, status__in=["queued", "running"]).exists(),
                          timeout=120), worker.log_tail()
    finally:
        worker.stop()
    retry.refresh_from_db()
    return retry


def test_a_worker_killed_mid_import_leaves_the_old_programs_and_the_fetch_is_given_up(server, own_queue,
                                                                                        tmp_path):
    reason = missing_prerequisite()
    if reason:
        skip_or_fail(reason)
    from tests.factories import make_portal

    source = make_source(make_portal("epg-kill-portal"), url=server.serve("/guide.xml", guide(
        program("ch000.tv", 0, 1, "Old 0"), program("ch001.tv", 0, 1, "Old 1"), program("kept.tv", 0, 1, "Kept"))))
    assert fetch_now(source).status == "success"
    old = stored(source)
    big = big_guide()
    server.serve("/guide.xml", big, pause_at=len(big) * 6 // 10)  # 60 % sent, then the server waits

    fetch = kill_the_worker_mid_import(source, server, own_queue, tmp_path / "var-1")
    assert_given_up_by_the_dispatcher(fetch)
    assert stored(source) == old  # exactly the old programmes: nothing of the staged 60 %
    source = EpgSource.objects.get(pk=source.pk)
    assert (source.failures, source.last_fetch_id) == (1, fetch.id)

    # The retry: due after the backoff, queued by the dispatcher, imported whole by a new worker.
    server.serve("/guide.xml", big)
    server.resume.set()
    retry = retry_with_a_new_worker(source, own_queue, tmp_path / "var-2")
    assert (retry.status, retry.imported_programs) == ("success", CHANNELS * HOURS), retry.message
    programs = stored(source)
    assert len(programs) == CHANNELS * HOURS + 1
    assert [row[3] for row in programs if row[0] == "kept.tv"] == ["Kept"]  # not in the new guide: kept
    assert EpgSource.objects.get(pk=source.pk).failures == 0
