"""``GET /healthz``: 200 when the database and the Celery broker answer and a worker has beaten within a minute,
503 otherwise.

The body names each check (``ok``, ``error``, or for the worker ``no heartbeat for N s``), the number of
messages waiting in the default queue, and the age of the last worker and beat heartbeats (seconds, null if
none was ever written). Beat's age is reported, not judged: web nodes should not leave the load balancer because
the one beat process is down.
"""

from __future__ import annotations

import logging

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_safe

from catena_site import heartbeat

log = logging.getLogger(__name__)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone()[0] == 1
    except Exception:
        log.exception("health check: database unreachable")
        return False


def broker_queue() -> tuple[bool, int | None]:
    """Whether the broker answers, and how many messages wait in the default queue (None if unknown)."""
    from catena_site.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            try:
                # Not passive: an empty Redis queue has no key (a passive declare would say "not found").
                # Redis sums LLEN over the priority lists; the filesystem broker counts the queue's *.msg files.
                length = conn.default_channel.queue_declare(queue=app.conf.task_default_queue).message_count
            except Exception:
                log.exception("health check: could not read the queue length")
                length = None
        return True, length
    except Exception:
        log.exception("health check: broker unreachable")
        return False, None


def _worker_check(age: int | None) -> str:
    if age is None:
        return "no heartbeat"
    if age >= heartbeat.MAX_AGE:
        return f"no heartbeat for {age} s"
    return "ok"


@require_safe  # GET and HEAD: a probe, never a change
def healthz(request):
    broker_ok, queue_length = broker_queue()
    worker_age = heartbeat.age(heartbeat.WORKER)
    checks = {
        "database": "ok" if _database_ok() else "error",
        "broker": "ok" if broker_ok else "error",
        "worker": _worker_check(worker_age),
    }
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {
            "status": "ok" if healthy else "unavailable",
            "checks": checks,
            "queue": {"length": queue_length},
            "heartbeats": {"worker": worker_age, "beat": heartbeat.age(heartbeat.BEAT)},
        },
        status=200 if healthy else 503,
    )
