"""``python3 dev.py run`` supervises web, worker and beat: a SIGKILLed worker is announced and restarted while the
web keeps answering, and Ctrl-C (SIGINT) stops everything, leaving no process behind. It prints the demo login
last (after the worker's banner), with a streamer key it generates once and reuses, and the console is not
flooded by the every-5-s tasks.

Runs the real command on the embedded default (SQLite, file broker, file cache) in a temporary
``CATENA_VAR_DIR`` on a free port; the installation step is a no-op once ``.venv`` is up to date.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from catena_site import heartbeat
from tests.worker import wait_until

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 180.0  # migrations on a fresh SQLite file, then three processes starting on a busy machine
DEMO_SETTINGS = ("STREAMER_KEY", "EPG_ALLOW_PRIVATE_URLS")  # what dev.py run sets when nobody configured it


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class DevRun:
    """``dev.py run`` in the background, with its terminal output collected line by line."""

    def __init__(self, port: int, var_dir: Path):
        env = {key: value for key, value in os.environ.items()
               if key not in ("DATABASE_URL", "REDIS_URL", "CATENA_REQUIRE_WORKER", *DEMO_SETTINGS)}
        env.update(CATENA_VAR_DIR=str(var_dir), PYTHONUNBUFFERED="1")
        self.var_dir = var_dir
        self.port = port
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "dev.py"), "run", "--port", str(port),
                                      "--concurrency", "1"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def dev_lines(self) -> list[str]:
        return [line for line in self.lines if line.startswith("[dev] ")]

    def tail(self, count: int = 80) -> str:
        return "\n".join(self.lines[-count:])

    def pids(self, name: str) -> list[int]:
        """The pid of every ``name`` process dev.py started, in order."""
        return [int(m.group(1)) for line in self.dev_lines if (m := re.fullmatch(rf"\[dev\] started {name} "
                                                                                   r"\(pid (\d+)\)", line))]

    def line_index(self, predicate) -> int | None:
        """The index of the first output line ``predicate`` accepts."""
        return next((index for index, line in enumerate(list(self.lines)) if predicate(line)), None)

    def stop(self) -> int:
        os.kill(self.proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
        return self.proc.wait(60)

    def healthz(self) -> tuple[int, dict] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def worker_heartbeat_pid(self) -> int | None:
        from django.core.cache.backends.filebased import FileBasedCache

        beat = FileBasedCache(str(self.var_dir / "cache"), {}).get(heartbeat.KEY.format(role=heartbeat.WORKER))
        return beat["pid"] if beat else None

    def kill_everything(self) -> None:
        """After a failed test: dev.py and whatever it started."""
        pgids = {self.proc.pid, *self.pids("web"), *self.pids("worker"), *self.pids("beat")}
        for pgid in pgids:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.proc.wait()


def post_events(port: int, key: str) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/streaming/flussonic/events?key={key}", data=b"[]",
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture
def dev_run(tmp_path):
    run = DevRun(free_port(), tmp_path / "var")
    yield run
    run.kill_everything()
    run._reader.join(timeout=5)


def test_a_killed_worker_is_restarted_and_ctrl_c_stops_everything(dev_run):
    started = wait_until(lambda: dev_run.pids("web") and dev_run.pids("worker") and dev_run.pids("beat")
                         or dev_run.proc.poll() is not None, START_TIMEOUT)
    assert started and dev_run.proc.poll() is None, dev_run.tail()
    (web,), (worker,), (beat,) = dev_run.pids("web"), dev_run.pids("worker"), dev_run.pids("beat")
    assert len({web, worker, beat}) == 3  # beat is a process of its own, not embedded in the worker
    assert wait_until(lambda: (dev_run.healthz() or (0,))[0] == 200, START_TIMEOUT), (dev_run.healthz(),
                                                                                      dev_run.tail())
    assert dev_run.worker_heartbeat_pid() == worker

    os.kill(worker, signal.SIGKILL)

    assert wait_until(lambda: len(dev_run.pids("worker")) == 2, 30), dev_run.tail()
    assert "[dev] worker exited with code -9; restarting in 2 s" in dev_run.dev_lines
    restarted = dev_run.pids("worker")[1]
    assert restarted != worker
    assert not group_alive(worker), "the killed worker's pool processes were left running"
    assert os.kill(beat, 0) is None  # beat is untouched by the worker's death
    assert wait_until(lambda: dev_run.worker_heartbeat_pid() == restarted, START_TIMEOUT), dev_run.tail()
    status, body = dev_run.healthz()
    assert status == 200 and body["checks"]["worker"] == "ok", body
    assert dev_run.pids("web") == [web] and dev_run.pids("beat") == [beat]

    os.kill(dev_run.proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends

    assert dev_run.proc.wait(60) == 0, dev_run.tail()
    assert dev_run.dev_lines[-1] == "[dev] all processes stopped"
    assert [pgid for pgid in (web, restarted, beat) if group_alive(pgid)] == []
    assert dev_run.healthz() is None  # nothing answers on the port any more


def test_restart_backoff_doubles_and_resets_after_a_healthy_period(tmp_path, monkeypatch):
    """The supervisor alone, on children that exit at once: 'restarting in 1 s', then 2 s, then 4 s; a child
    that ran past ``healthy_after`` starts again from the shortest wait."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("catena_dev", ROOT / "dev.py")
    dev = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dev)
    said: list[str] = []
    monkeypatch.setattr(dev, "say", said.append)

    child = dev.Child("flaky", [sys.executable, "-c", "raise SystemExit(3)"])
    supervisor = dev.Supervisor([child], tmp_path, backoff=0.2, max_backoff=0.8, healthy_after=3600)
    supervisor.start_all()
    try:
        assert wait_until(lambda: (supervisor.check(), sum("exited" in line for line in said) >= 4)[1], 30), said
    finally:
        supervisor.stop(timeout=5)
    exits = [line for line in said if "exited" in line]
    assert exits[:4] == [f"flaky exited with code 3; restarting in {wait:g} s" for wait in (0.2, 0.4, 0.8, 0.8)]

    said.clear()
    steady = dev.Child("steady", [sys.executable, "-c", "import time; time.sleep(0.5); raise SystemExit(1)"])
    supervisor = dev.Supervisor([steady], tmp_path, backoff=0.2, max_backoff=0.8, healthy_after=0.3)
    supervisor.start_all()
    try:
        assert wait_until(lambda: (supervisor.check(), sum("exited" in line for line in said) >= 3)[1], 30), said
    finally:
        supervisor.stop(timeout=5)
    assert [line for line in said if "exited" in line][:3] == ["steady exited with code 1; restarting in 0.2 s"] * 3


def check_start_up(run: DevRun, var: Path, *, first: bool) -> str:
    """The login printed after the worker's banner, and the streamer key: kept in var/, printed once, working."""
    assert wait_until(lambda: run.line_index(lambda line: line.startswith("  Streamer key:")) is not None
                      or run.proc.poll() is not None, START_TIMEOUT), run.tail()
    banner = run.line_index(lambda line: re.match(r" -+ celery@", line))
    owner = run.line_index(lambda line: line.startswith("  Owner email:"))
    assert banner is not None and owner is not None and banner < owner, run.tail()
    assert "  Password:      Demo-Pass-2024!" in run.lines and any("  API key:" in line for line in run.lines)
    assert run.dev_lines[-1].startswith("[dev] Catena is running at"), run.tail()

    key_file = var / "streamer-key"
    key = key_file.read_text().strip()
    assert len(key) >= 32 and key_file.stat().st_mode & 0o777 == 0o600
    [printed] = [line for line in run.lines if line.startswith("  Streamer key:")]
    assert printed.split()[2] == key
    # The key is the one the processes use, and the request log does not repeat it.
    assert post_events(run.port, key) == 204 and post_events(run.port, "not-the-key") == 403
    assert wait_until(lambda: sum("/streaming/flussonic/events" in line for line in run.lines) >= 2, 10), run.tail()
    assert sum(key in line for line in run.lines) == 1, run.tail()
    assert len([line for line in run.dev_lines if "generated a streamer key" in line]) == (1 if first else 0)
    assert any("EPG_ALLOW_PRIVATE_URLS=true" in line for line in run.dev_lines)
    return key


@pytest.mark.skipif(any(f"{name}=" in line for line in ((ROOT / ".env").read_text().splitlines()
                                                       if (ROOT / ".env").exists() else []) for name in DEMO_SETTINGS),
                    reason="this checkout's .env configures the streamer key or the EPG address policy itself")
def test_the_login_comes_last_with_a_streamer_key_kept_across_runs(tmp_path):
    var = tmp_path / "var"
    keys = []
    for first in (True, False):
        run = DevRun(free_port(), var)
        try:
            keys.append(check_start_up(run, var, first=first))
            if first:  # beat sends its every-5-s tasks; at INFO nothing is said about them
                seen = len(run.lines)
                time.sleep(12)
                later = run.lines[seen:]
                assert not [line for line in later if "drain_pending_invalidations" in line
                            or "write_opened_sessions" in line], "\n".join(later)
                assert run.worker_heartbeat_pid() is not None
            assert run.stop() == 0, run.tail()
        finally:
            run.kill_everything()
            run._reader.join(timeout=5)
    assert keys[0] == keys[1]
