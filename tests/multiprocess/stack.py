"""The processes of a production host, started for a test: gunicorn (its workers), Celery workers and beat, each in
a session of its own with its output kept (``tests.worker.WorkerProcess``), all on one database, one Redis and one
``CATENA_VAR_DIR``; and the small real HTTP servers the tests point Catena at (a static file server for guides)."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.integration.test_dev_run import free_port
from tests.worker import ROOT, WorkerProcess, wait_until


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None,
         timeout: float = 20.0) -> tuple[int, bytes]:
    """One request; the status (0 when nothing answered) and the body."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


class HostProcess(WorkerProcess):
    """A process of the host; ``lines`` keeps all of its output (``log`` only the last 2,000 lines)."""

    def __init__(self, proc: subprocess.Popen):
        self.lines: list[str] = []
        super().__init__(proc, queue="")

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            self._lines.append(line.rstrip("\n"))
            if " ready." in line:
                self.ready.set()


def start(argv: list[str], env: dict, cwd: Path = ROOT) -> HostProcess:
    """A process in a session of its own (stopped with its children by ``stop()``), its output kept."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    return HostProcess(proc)


def _failed(process: WorkerProcess, what: str) -> None:
    process.stop()
    pytest.fail(f"{what} (exit code {process.proc.poll()}):\n{process.log_tail()}", pytrace=False)


def web_ready(server: WorkerProcess, base_url: str, timeout: float = 60.0) -> WorkerProcess:
    """Wait until gunicorn answers HTTP at all (``/healthz``: 200, 503 before a worker beats, 400 for a host name
    outside ``ALLOWED_HOSTS``)."""
    if not wait_until(lambda: http("GET", f"{base_url}/healthz", timeout=5)[0] != 0 or server.proc.poll() is not None,
                      timeout) or server.proc.poll() is not None:
        _failed(server, f"gunicorn did not answer at {base_url} within {timeout:g} s")
    return server


def worker_ready(worker: WorkerProcess, timeout: float = 60.0) -> WorkerProcess:
    """Wait until the Celery worker says it is ready."""
    if not wait_until(lambda: worker.ready.is_set() or worker.proc.poll() is not None, timeout) \
            or worker.proc.poll() is not None:
        _failed(worker, "the Celery worker did not become ready")
    return worker


def beat_ready(beat: WorkerProcess, timeout: float = 60.0) -> WorkerProcess:
    """Wait until Celery beat says it starts."""
    if not beat.wait_for_log("beat: Starting", timeout) or beat.proc.poll() is not None:
        _failed(beat, "beat did not start")
    return beat


def server_port(offset: int = 0) -> int:
    """A port for a server of the test: ``CATENA_TEST_PORT_BASE`` + ``offset`` when set (a range of one's own on a
    shared machine), else a free one."""
    base = os.environ.get("CATENA_TEST_PORT_BASE")
    return int(base) + offset if base else free_port()


def stop_all(processes) -> None:
    """SIGTERM to every process group at once (they shut down side by side), then wait for each."""
    for process in processes:
        if process.proc.poll() is None:
            try:
                os.killpg(process.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    for process in processes:
        process.stop()


class FileServer:
    """A real HTTP server on 127.0.0.1 (an ephemeral port) serving the files of ``directory``, in a thread."""

    def __init__(self, directory: Path):
        class Quiet(SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="file-server", daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def process_env(database_url: str, var_dir: Path, **extra: str) -> dict[str, str]:
    """The environment every process of the host gets (what an operator's ``.env`` would hold)."""
    # Not this test process's PROMETHEUS_MULTIPROC_DIR (its settings exported it): the var dir's, as on a host.
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PYTEST", "DJANGO_")) and key != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(DJANGO_SETTINGS_MODULE="catena_site.settings", DATABASE_URL=database_url, CATENA_VAR_DIR=str(var_dir),
               PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT), **extra)
    return env


def python_module(module: str, *args: str) -> list[str]:
    """``python -m module args…`` with this interpreter (the project's virtualenv)."""
    return [sys.executable, "-m", module, *args]
