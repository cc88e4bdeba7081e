"""Real processes write the heartbeats /healthz reads: the session's Celery worker, and a beat started with
``REDIS_URL`` set and no ``var/`` directory (it used to die at start: its schedule file lives there)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from catena_site import heartbeat
from tests.worker import skip_or_fail, wait_until

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def shared_cache(settings):
    """This process reads the cache the worker and beat write (Redis), not the per-test file cache."""
    if not settings.REDIS_URL:
        skip_or_fail("REDIS_URL is not set: the heartbeat of another process is read from Redis")
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": settings.REDIS_URL}}


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_running_worker_keeps_healthz_healthy(celery_worker_process, shared_cache, client):
    from django.core.cache import cache

    cache.delete(heartbeat.KEY.format(role=heartbeat.WORKER))
    assert client.get("/healthz").json()["checks"]["worker"] == "no heartbeat"

    def ours() -> bool:
        beat = heartbeat.last(heartbeat.WORKER)
        return beat is not None and beat["pid"] == celery_worker_process.proc.pid
    assert wait_until(ours, heartbeat.INTERVAL * 3), celery_worker_process.log_tail()
    assert heartbeat.last(heartbeat.WORKER)["hostname"].startswith(celery_worker_process.queue + "@")

    response = client.get("/healthz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["checks"] == {"database": "ok", "broker": "ok", "worker": "ok"}
    assert 0 <= body["heartbeats"]["worker"] <= heartbeat.INTERVAL + 1


def test_beat_starts_without_a_var_directory_when_redis_is_set(shared_cache, settings, tmp_path):
    var_dir = tmp_path / "missing" / "var"
    env = {**os.environ, "REDIS_URL": settings.REDIS_URL, "CATENA_VAR_DIR": str(var_dir),
           "DJANGO_SETTINGS_MODULE": "catena_site.settings", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "catena_site", "beat", "--loglevel=INFO"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        def beating() -> bool:
            beat = heartbeat.last(heartbeat.BEAT)
            return proc.poll() is not None or (beat is not None and beat["pid"] == proc.pid)
        wait_until(beating, 60)
        assert proc.poll() is None, f"beat exited with code {proc.returncode}:\n{proc.stdout.read()[-3000:]}"
        assert list(var_dir.glob("celerybeat-schedule*")), "beat wrote no schedule file"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        proc.stdout.close()
