"""A real Celery worker process for the worker tests (tests/integration, tests/epg/test_worker.py).

``celery_worker_process`` (made visible to every test by tests/conftest.py, so one worker serves the whole
session) starts ``celery -A catena_site worker --pool=solo`` once per test session, on the
test database and on Redis, consuming a queue of its own that this process's ``.delay()`` calls are routed
to (so a developer's running worker, or a parallel test process, never takes the tests' tasks). Under
pytest-xdist each process starts its own, on its own test database (``test_<name>_gwK``) and its own Redis
database (tests/redis_per_process.py made it ``REDIS_URL`` of the process, which the worker inherits). Tests that
use it must commit their data — ``@pytest.mark.django_db(transaction=True)`` — since the worker is another
process with its own connection.

Prerequisites: ``REDIS_URL`` (the broker both processes reach) and a server database (``DATABASE_URL`` of
PostgreSQL): the SQLite test database is in memory and cannot be shared. Without them the tests are
skipped — unless ``CATENA_REQUIRE_WORKER=1`` (the PostgreSQL run of ``.ci/run``), where they fail.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKER_START_TIMEOUT = 60.0
WORKER_STOP_TIMEOUT = 15.0


def worker_required() -> bool:
    return os.environ.get("CATENA_REQUIRE_WORKER", "") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip, or fail when ``CATENA_REQUIRE_WORKER=1`` says the worker tests must run."""
    if worker_required():
        pytest.fail(f"CATENA_REQUIRE_WORKER=1, but {reason}", pytrace=False)
    pytest.skip(reason)


def missing_prerequisite() -> str | None:
    """Why a worker process cannot share this test session's database and broker; None when it can."""
    from django.conf import settings
    from django.db import connection

    if connection.vendor == "sqlite":
        return ("the SQLite test database is in memory, so a worker process cannot share it — "
                "set DATABASE_URL=postgres://… (and REDIS_URL) to run the Celery worker tests")
    if not os.environ.get("DATABASE_URL"):
        return "DATABASE_URL is not set"
    if not settings.REDIS_URL:
        return "REDIS_URL is not set; the worker tests need a Redis broker shared with the worker process"
    try:
        import redis

        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:  # any failure means "no usable Redis"
        return f"Redis at {settings.REDIS_URL} does not answer: {exc}"
    return None


def redis_available() -> bool:
    """Whether ``REDIS_URL`` is set and its Redis answers (tests that need a real Redis skip otherwise)."""
    url = os.environ.get("REDIS_URL")
    if not url:
        return False
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        return True
    except Exception:
        return False


def wait_until(condition, timeout: float = 30.0) -> bool:
    """Poll ``condition`` until it is true (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def worker_database_url() -> str:
    """``DATABASE_URL`` naming the test database (pytest-django renamed ``NAME`` to ``test_<name>``)."""
    from django.db import connection

    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + quote(connection.settings_dict["NAME"], safe="")))


class WorkerProcess:
    """A running worker: its process, the queue it consumes, and its log so far."""

    def __init__(self, proc: subprocess.Popen, queue: str):
        self.proc = proc
        self.queue = queue
        self.ready = threading.Event()
        self._lines: deque[str] = deque(maxlen=2000)
        self._reader = threading.Thread(target=self._read, name="celery-worker-log", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._lines.append(line.rstrip("\n"))
            if " ready." in line:
                self.ready.set()

    @property
    def log(self) -> str:
        return "\n".join(self._lines)

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(list(self._lines)[-lines:])

    def wait_for_log(self, text: str, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log:
                return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # warm shutdown
                self.proc.wait(WORKER_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        self._reader.join(timeout=5)


def launch_worker(argv: list[str], env: dict, queue: str, timeout: float = WORKER_START_TIMEOUT) -> WorkerProcess:
    """Start ``celery … worker`` in a session of its own and wait until it says ready; the test fails (with the
    worker's log) when it exits first or is not ready within ``timeout`` seconds."""
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    worker = WorkerProcess(proc, queue)
    deadline = time.monotonic() + timeout
    while not worker.ready.wait(0.2):
        if proc.poll() is not None or time.monotonic() > deadline:
            worker.stop()
            pytest.fail(f"the Celery worker did not become ready (exit code {proc.poll()}):\n{worker.log_tail()}",
                        pytrace=False)
    return worker


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real ``celery worker`` on the test database, ready to run tasks sent with ``.delay()``."""
    reason = missing_prerequisite()
    if reason:
        skip_or_fail(reason)

    from catena_site.celery import app as celery_app

    queue = f"catena-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "catena_site.settings",
        "DATABASE_URL": worker_database_url(),
        "CATENA_VAR_DIR": str(tmp_path_factory.mktemp("celery-worker-var")),
        "PYTHONUNBUFFERED": "1",
        "EPG_ALLOW_PRIVATE_URLS": "true",  # the tests' guide servers listen on 127.0.0.1
    }
    argv = [sys.executable, "-m", "celery", "-A", "catena_site", "worker", "--pool=solo", "-Q", queue,
            "-n", f"{queue}@%h", "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    worker = launch_worker(argv, env, queue)

    previous_queue = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue  # .delay() from this process goes to this worker only
    try:
        yield worker
    finally:
        celery_app.conf.task_default_queue = previous_queue
        worker.stop()
