"""Metrics under gunicorn (operations.md §1): two worker processes, one sum — whichever worker answers the scrape —
and a start that forgets the counts of processes that ended (catena_site/gunicorn_conf.py); ``dev.py run`` cleans
the same way.

Runs the real server on the embedded default in a temporary ``CATENA_VAR_DIR`` (no database is needed: the
requests counted are 404s, and a scrape without tables leaves the database gauges out).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.integration.test_broker_stress import embedded_env
from tests.integration.test_dev_run import free_port
from tests.metrics import TOKEN
from tests.worker import wait_until

ROOT = Path(__file__).resolve().parents[2]
COUNT_AND_EXIT = """
import django
django.setup()
from catena_site import prometheus
prometheus.count_sms("AAAAAAAAAAAA", "before-the-start")
"""


def get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


def sample(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return found.value
    return 0.0


def test_two_gunicorn_workers_add_up_and_a_start_forgets_ended_processes(tmp_path):
    var = tmp_path / "var"
    env = {**embedded_env(var), "METRICS_TOKEN": TOKEN, "METRICS_DATABASE_CACHE": "0", "LOG_LEVEL": "WARNING"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # (this process's settings exported theirs) the var dir's default
    var.mkdir()
    subprocess.run([sys.executable, "-c", COUNT_AND_EXIT], cwd=ROOT, env=env, check=True, timeout=120)
    assert list((var / "prometheus").glob("counter_*.db"))  # a process that ended left its counts

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:catena_site.gunicorn_conf",
                               "--workers", "2", "--bind", f"127.0.0.1:{port}", "catena_site.wsgi"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: get(f"{base}/metrics")[0] == 401, 60)
        path = f"/missing-{uuid.uuid4().hex}"
        for _ in range(20):
            assert get(base + path)[0] == 404
        for _ in range(6):  # each scrape is answered by either worker; every one sees both workers' counts
            status, body = get(f"{base}/metrics", TOKEN)
            assert status == 200
            text = body.decode()
            assert sample(text, "catena_http_requests_total", view="<unresolved>", method="GET", status="404") == 20
            assert sample(text, "catena_sms_sent_total", portal_id="AAAAAAAAAAAA", result="before-the-start") == 0
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)


def test_dev_run_cleans_the_files_of_ended_processes_and_keeps_running_ones(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("catena_dev", ROOT / "dev.py")
    dev = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dev)
    directory = tmp_path / "prometheus"
    directory.mkdir()
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = directory / f"counter_{int(ended.stdout)}.db"
    kept = directory / f"histogram_{os.getpid()}.db"
    gone.write_bytes(b"x")
    kept.write_bytes(b"x")
    assert dev.clean_metrics(directory) == 1
    assert not gone.exists() and kept.exists()
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    assert dev.metrics_dir(tmp_path) == tmp_path / "prometheus"  # where the settings put it by default
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    assert dev.metrics_dir(tmp_path) == directory
