"""Each pytest-xdist process of a run on Redis gets a Redis database of its own (tests/redis_per_process.py): the
K-th of ``CATENA_TEST_REDIS_URLS`` becomes ``REDIS_URL`` of process ``gwK`` before the settings are read, and a
run on Redis with more processes than named databases stops before any test runs.

Runs pytest itself in a child process, on a test file that writes what its process sees (no Redis is reached)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = '''
import json, os
from pathlib import Path
from django.conf import settings


def test_sees_its_redis():
    seen = {"env": os.environ["REDIS_URL"], "settings": settings.REDIS_URL,
            "cache": settings.CACHES["default"]["LOCATION"], "broker": settings.CELERY_BROKER_URL}
    Path(os.environ["PROBE_OUT"], os.environ.get("PYTEST_XDIST_WORKER", "main")).write_text(json.dumps(seen))
'''


def run_pytest(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_probe.py").write_text(PROBE)
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    base = {key: value for key, value in os.environ.items()
            if not key.startswith("PYTEST_") and key not in ("DATABASE_URL", "REDIS_URL", "CATENA_TEST_REDIS_URLS",
                                                               "CATENA_REQUIRE_WORKER")}
    return subprocess.run([sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
                           "-p", "no:cacheprovider", "-q", *args, str(tmp_path / "test_probe.py")],
                          cwd=ROOT, env={**base, "PROBE_OUT": str(out), "CATENA_VAR_DIR": str(tmp_path / "var"), **env},
                          capture_output=True, text=True, timeout=300)


def seen(tmp_path: Path) -> dict[str, dict]:
    return {path.name: json.loads(path.read_text()) for path in (tmp_path / "out").iterdir()}


def test_each_process_uses_the_redis_database_named_for_it(tmp_path):
    first, second = "redis://127.0.0.1:6379/13", "redis://127.0.0.1:6379/14"
    done = run_pytest(tmp_path, "-n", "2", "--dist", "each", REDIS_URL=first, CATENA_TEST_REDIS_URLS=f"{first}, {second}")
    assert done.returncode == 0, done.stdout + done.stderr
    by_process = seen(tmp_path)
    assert by_process == {"gw0": dict.fromkeys(("env", "settings", "cache", "broker"), first),
                          "gw1": dict.fromkeys(("env", "settings", "cache", "broker"), second)}


def test_one_process_keeps_redis_url(tmp_path):
    url = "redis://127.0.0.1:6379/13"
    done = run_pytest(tmp_path, REDIS_URL=url, CATENA_TEST_REDIS_URLS="redis://127.0.0.1:6379/14")
    assert done.returncode == 0, done.stdout + done.stderr
    assert seen(tmp_path) == {"main": dict.fromkeys(("env", "settings", "cache", "broker"), url)}


def test_processes_that_would_share_a_redis_database_stop_the_run(tmp_path):
    url = "redis://127.0.0.1:6379/13"
    done = run_pytest(tmp_path, "-n", "2", REDIS_URL=url, CATENA_TEST_REDIS_URLS=f"{url} {url}")  # one, twice
    assert done.returncode == 4, done.stdout + done.stderr
    assert "must not share a Redis database: set CATENA_TEST_REDIS_URLS to 2 different Redis URLs" in done.stderr
    assert not list((tmp_path / "out").iterdir())  # no test ran
