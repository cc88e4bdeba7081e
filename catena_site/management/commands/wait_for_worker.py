"""``python manage.py wait_for_worker [--since EPOCH] [--timeout SECONDS]``: wait until a Celery worker is up.

Returns (exit code 0, the worker's host name printed) as soon as a worker heartbeat written at or after
``--since`` (seconds since the epoch; default: now) is in the shared cache — the worker has started its pool,
past its start-up banner — and fails (exit code 1) after ``--timeout`` seconds without one. ``dev.py run`` uses
it to print the demo login after the worker's start-up output; deployment scripts may use it the same way.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from catena_site import heartbeat

POLL_SECONDS = 0.25


class Command(BaseCommand):
    help = "Wait until a Celery worker has written its heartbeat (since --since), at most --timeout seconds."

    def add_arguments(self, parser):
        parser.add_argument("--since", type=float, default=None,
                            help="only a heartbeat written at or after this time counts (seconds since the epoch; "
                                 "default: now)")
        parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait (default 120)")

    def handle(self, *args, since: float | None, timeout: float, **options):
        since = time.time() if since is None else since
        deadline = time.monotonic() + timeout
        while True:
            beat = heartbeat.last(heartbeat.WORKER)
            if beat is not None and beat["at"] >= since:
                self.stdout.write(beat.get("hostname") or "worker")
                return
            if time.monotonic() >= deadline:
                raise CommandError(f"no worker heartbeat within {timeout:g} s")
            time.sleep(POLL_SECONDS)
