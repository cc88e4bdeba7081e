"""A Celery worker SIGKILLed in the middle of a delivery (issue 18, item 3): nothing is lost. After a new worker
starts, the receiver gets every delivery, in order, at least once — the interrupted one again, with the same
``X-Catena-Delivery`` ID.

Real parts only: worker processes of our own (one is killed by its PID), PostgreSQL, Redis, a receiver on
127.0.0.1 that hangs on the first delivery so that the kill lands mid-delivery. Runs where tests/worker.py's
prerequisites hold (the PostgreSQL + Redis run).
"""

from __future__ import annotations

import os
import signal
import sys
import uuid

import pytest
from django.db import transaction

from catena_site.celery import app as celery_app
from monitoring.operations import Actor, Delivery, record
from monitoring.webhooks import delivery as sender
from monitoring.webhooks import services
from portals.auth import Caller
from tests.factories import make_portal
from tests.webhooks.receiver import HANG
from tests.worker import (
    WorkerProcess,
    launch_worker,
    missing_prerequisite,
    skip_or_fail,
    wait_until,
    worker_database_url,
)

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

LEASE_SECONDS = 3  # how long the killed worker's hold on the webhook outlives it


def start_worker(queue: str, var_dir) -> WorkerProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "catena_site.settings", "DATABASE_URL": worker_database_url(),
           "CATENA_VAR_DIR": str(var_dir), "PYTHONUNBUFFERED": "1", "EPG_ALLOW_PRIVATE_URLS": "true",
           "WEBHOOK_LEASE": str(LEASE_SECONDS), "WEBHOOK_TIMEOUT": "60"}
    argv = [sys.executable, "-m", "celery", "-A", "catena_site", "worker", "--pool=solo", "-Q", queue,
            "-n", f"{queue}-{uuid.uuid4().hex[:4]}@%h", "--loglevel=INFO", "--without-gossip", "--without-mingle",
            "--without-heartbeat"]
    return launch_worker(argv, env, queue)


@pytest.fixture
def own_queue():
    queue = f"catena-webhook-kill-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue  # this process's jobs go to our workers only
    yield queue
    celery_app.conf.task_default_queue = previous


def test_a_worker_killed_mid_delivery_loses_nothing_and_the_repeat_has_the_same_id(receiver, own_queue, tmp_path,
                                                                                    settings):
    reason = missing_prerequisite()
    if reason:
        skip_or_fail(reason)
    settings.EPG_ALLOW_PRIVATE_URLS = True  # the receiver listens on 127.0.0.1
    portal = make_portal("webhook-kill-portal")
    webhook = services.create_webhook(portal, caller=Caller(portal=portal), data={"url": receiver.url})
    receiver.answers.append(HANG)

    worker = start_worker(own_queue, tmp_path / "first")
    try:
        with transaction.atomic():  # committed: the after-commit job goes to the worker
            for n in range(3):
                record(portal, "createSubscriber", actor=Actor.system(), payload={"n": n})
        queued = list(Delivery.objects.filter(webhook=webhook).order_by("id"))
        assert receiver.hanging.wait(60), worker.log_tail()  # the worker is in the middle of the first POST
        assert Delivery.objects.get(pk=queued[0].pk).status == "sending"

        os.kill(worker.proc.pid, signal.SIGKILL)
        assert worker.proc.wait(10) == -signal.SIGKILL
    finally:
        worker.stop()
    receiver.release.set()  # the connection is gone with the worker; let the handler thread end
    assert [d.status for d in Delivery.objects.filter(webhook=webhook).order_by("id")] == [
        "sending", "pending", "pending"]

    worker = start_worker(own_queue, tmp_path / "second")
    try:
        def swept_until_delivered() -> bool:
            sender.sweep()  # beat's job (every minute in production)
            return not Delivery.objects.filter(webhook=webhook).exclude(status="delivered").exists()

        assert wait_until(swept_until_delivered, timeout=90), worker.log_tail()
    finally:
        worker.stop()

    ids = [d.public_id for d in queued]
    got = [r.delivery_id for r in receiver.received]
    assert set(got) == set(ids)  # each at least once
    assert got.count(ids[0]) >= 2  # the interrupted one again, with the same ID
    assert [ids.index(i) for i in got] == sorted(ids.index(i) for i in got)  # never one before an earlier one
    assert [r.body for r in receiver.received if r.delivery_id == ids[0]][0] == \
        [r.body for r in receiver.received if r.delivery_id == ids[0]][-1]
    assert all(r.signature_is_valid(webhook.secret) for r in receiver.received)
