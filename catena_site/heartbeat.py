"""Heartbeats of the Celery worker and beat, in the cache every process shares (Redis, or the file cache).

The worker writes ``worker`` every ``INTERVAL`` seconds from a thread of its main process (a bootstep registered
in ``catena_site.celery``), so a long task on the ``solo`` pool does not make it look dead; beat writes ``beat``
from its scheduler's tick. ``/healthz`` and the dashboard read their age: a worker that has not beaten for
``MAX_AGE`` seconds is reported dead. One key per role, whichever worker wrote last: with several workers the
age is that of the freshest one, so "no heartbeat for 60 s" means that no worker at all is alive.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from celery import bootsteps
from celery.beat import PersistentScheduler
from django.core.cache import cache

log = logging.getLogger(__name__)

INTERVAL = 5.0  # seconds between two heartbeats
MAX_AGE = 60  # seconds without a worker heartbeat after which background jobs are reported stopped
KEY = "catena:heartbeat:{role}"
WORKER, BEAT = "worker", "beat"
KEEP = 7 * 24 * 3600  # seconds the last heartbeat stays readable, so that a dead worker shows its age


def record(role: str, hostname: str = "") -> None:
    """Store "``role`` is alive now"; a cache outage is logged, never raised (the worker must not die of it)."""
    try:
        cache.set(KEY.format(role=role), {"at": time.time(), "hostname": hostname, "pid": os.getpid()}, KEEP)
    except Exception:
        log.exception("could not write the %s heartbeat", role)


def last(role: str) -> dict | None:
    """The last heartbeat of ``role`` (``at`` in seconds since the epoch, ``hostname``, ``pid``), or None."""
    try:
        value = cache.get(KEY.format(role=role))
    except Exception:
        log.exception("could not read the %s heartbeat", role)
        return None
    return value if isinstance(value, dict) and isinstance(value.get("at"), int | float) else None


def age(role: str) -> int | None:
    """Whole seconds since the last heartbeat of ``role``; None if there is none."""
    value = last(role)
    return None if value is None else max(0, int(time.time() - value["at"]))


def worker_alive() -> bool:
    """Whether a worker has beaten within ``MAX_AGE`` seconds."""
    seconds = age(WORKER)
    return seconds is not None and seconds < MAX_AGE


class WorkerHeartbeat(bootsteps.StartStopStep):
    """A worker bootstep: a daemon thread of the main process records the ``worker`` heartbeat every
    ``INTERVAL`` seconds from start until the worker stops."""

    label = "Catena heartbeat"
    requires = {"celery.worker.components:Pool"}  # the thread starts after the pool forked its processes

    def __init__(self, parent, **kwargs):
        super().__init__(parent, **kwargs)
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, parent):
        self._stopped.clear()
        self._thread = threading.Thread(target=self._run, args=(parent.hostname,), name="catena-heartbeat",
                                         daemon=True)
        self._thread.start()

    def _run(self, hostname: str) -> None:
        while True:
            record(WORKER, hostname)
            if self._stopped.wait(INTERVAL):
                return

    def stop(self, parent):
        self._stopped.set()

    shutdown = stop


class HeartbeatScheduler(PersistentScheduler):
    """Celery's default scheduler (schedule kept in ``CELERY_BEAT_SCHEDULE_FILENAME``) that also records the
    ``beat`` heartbeat on every tick and ticks at least every ``INTERVAL`` seconds."""

    def tick(self, *args, **kwargs):
        record(BEAT)
        return min(super().tick(*args, **kwargs), INTERVAL)
