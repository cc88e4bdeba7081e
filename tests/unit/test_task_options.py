"""Every Celery task is acknowledged late, handed back when its worker dies, bounded by a time limit below the
Redis visibility timeout, and was reviewed for running twice: a new task fails here until it is listed below."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from catena_site.celery import app

ROOT = Path(__file__).resolve().parents[2]

# Why running each task twice (a redelivery after its worker died) does no harm.
SAFE_TO_RUN_TWICE = {
    "catena_site.tasks.drain_pending_invalidations": "deletes cache keys and then their pending rows; deleting a "
                                                     "key twice is harmless, a requeued re-check merges into the "
                                                     "portal's one job",
    "content.tasks.fetch_epg_source": "claims the fetch with a conditional UPDATE queued→running; a second run "
                                      "finds it taken and does nothing",
    "content.tasks.dispatch_epg_fetches": "one active fetch per source (a row lock and a unique constraint)",
    "monitoring.tasks.flush_session_heartbeats": "monotonic: GREATEST of the stored and cached values",
    "monitoring.tasks.write_opened_sessions": "one drainer (Redis lock); items leave the buffer after commit, "
                                              "an existing session is left alone",
    "monitoring.tasks.apply_buffered_events": "one drainer (Redis lock); merging an event twice changes nothing",
    "monitoring.tasks.close_stale_sessions": "closes only sessions still active and stale",
    "monitoring.tasks.recheck_sessions": "takes its portal's scope rows in one transaction; closes only active "
                                         "sessions the rule refuses; a second reauth is harmless",
    "monitoring.tasks.reauth_stream": "asking the streamer to re-authorize twice is harmless",
    "monitoring.tasks.deliver_webhook": "one sender per webhook (a lease taken with a conditional UPDATE); a second "
                                        "run finds the lease taken or nothing due. A delivery may reach its receiver "
                                        "twice (at least once, same X-Catena-Delivery ID), as documented",
    "monitoring.tasks.sweep_webhook_deliveries": "only queues deliver_webhook jobs, which are safe twice",
    "monitoring.tasks.maintain_history_partitions": "one maintainer per table (an advisory lock); a second run "
                                                    "finds the months made and the expired ones gone",
    "monitoring.tasks.reconcile_streamer_sessions": "closes only active sessions the streamer no longer lists",
    "portals.tasks.purge_expired_manager_sessions": "deletes what is expired; nothing left the second time",
    "portals.tasks.send_password_reset_links": "remembers the task id once the mail server accepted: not sent "
                                               "again (and a second email's links would work like the first's)",
    "subscribers.tasks.send_expiry_reminders": "claims each reminder with a conditional UPDATE of reminded_at "
                                               "(still empty, same end): a second run finds none to send",
    "subscribers.tasks.send_sms_http": "remembers the task id once the gateway accepted: not sent again",
    "subscribers.tasks.expire_subscriptions": "claims each expiry with a conditional UPDATE of expiry_recorded_at "
                                              "in the transaction recording it; a second run finds none left",
}


def project_tasks() -> dict:
    app.loader.import_default_modules()  # what a worker does at start: import every app's tasks module
    return {name: task for name, task in app.tasks.items() if not name.startswith(("celery.", "tests."))}


def effective_limits(task) -> tuple[float | None, float | None]:
    """(soft, hard) time limit the worker applies: the task's own, else the global setting."""
    return (task.soft_time_limit or app.conf.task_soft_time_limit,
            task.time_limit or app.conf.task_time_limit)


def test_every_task_was_reviewed_for_running_twice():
    assert set(project_tasks()) == set(SAFE_TO_RUN_TWICE), (
        "a task was added or renamed: check that running it twice is harmless and list it in SAFE_TO_RUN_TWICE")


@pytest.mark.parametrize("name", sorted(SAFE_TO_RUN_TWICE))
def test_task_is_acknowledged_late_and_handed_back_when_its_worker_dies(name):
    task = project_tasks()[name]
    assert task.acks_late is True
    assert task.reject_on_worker_lost is True


@pytest.mark.parametrize("name", sorted(SAFE_TO_RUN_TWICE))
def test_task_has_a_time_limit_below_the_visibility_timeout(name):
    soft, hard = effective_limits(project_tasks()[name])
    assert hard, f"{name} has no hard time limit"
    assert soft is None or soft < hard
    visibility_timeout = app.conf.broker_transport_options.get("visibility_timeout", 3600)
    assert hard < visibility_timeout, f"{name} may run {hard} s, but the broker redelivers after {visibility_timeout} s"


def test_redis_visibility_timeout_is_set_explicitly_above_every_time_limit(tmp_path):
    """The Redis branch of the settings names the timeout (kombu's default is not a decision)."""
    env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:6379/0", "CATENA_VAR_DIR": str(tmp_path),
           "DJANGO_SETTINGS_MODULE": "catena_site.settings"}
    env.pop("CELERY_VISIBILITY_TIMEOUT", None)
    out = subprocess.run([sys.executable, "-c", "from catena_site.celery import app; "
                          "print(app.conf.broker_transport_options['visibility_timeout'])"],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    visibility_timeout = int(out)
    assert visibility_timeout == 3600
    assert max(effective_limits(task)[1] for task in project_tasks().values()) < visibility_timeout


class Gateway:
    """A local SMS gateway that accepts everything and counts what it received."""

    def __init__(self):
        self.received: list[dict] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/send"


@pytest.fixture
def gateway(settings):
    gateway = Gateway()
    settings.SMS_HTTP_URL = gateway.url
    yield gateway
    gateway.server.shutdown()


def test_a_redelivered_sms_is_not_sent_a_second_time(gateway):
    from subscribers.tasks import send_sms_http

    send_sms_http.apply(args=("+12345678901", "Your code: 1234", "portal"), task_id="redelivered-task")
    send_sms_http.apply(args=("+12345678901", "Your code: 1234", "portal"), task_id="redelivered-task")
    send_sms_http.apply(args=("+12345678901", "Your code: 5678", "portal"), task_id="another-task")

    assert gateway.received == [{"to": "+12345678901", "text": "Your code: 1234"},
                                {"to": "+12345678901", "text": "Your code: 5678"}]


def test_a_redelivered_password_reset_email_is_not_sent_a_second_time(db, mailoutbox):
    from portals.tasks import send_password_reset_links
    from tests.factories import make_portal

    make_portal("reset-portal", owner_email="owner@reset.example.com")
    for task_id in ("redelivered-task", "redelivered-task", "another-task"):
        send_password_reset_links.apply(args=("owner@reset.example.com", "http://tv.example.com"), task_id=task_id)
    send_password_reset_links.apply(args=("nobody@reset.example.com", "http://tv.example.com"), task_id="unknown")

    assert [message.to for message in mailoutbox] == [["owner@reset.example.com"]] * 2
