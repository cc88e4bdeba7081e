#!/usr/bin/env python3
"""Catena on a development machine, with nothing but Python 3.11+ (standard library only).

    python3 dev.py run  [--host 127.0.0.1] [--port 8000]   web, Celery worker and beat until Ctrl-C; one that
                                                            exits is restarted (with backoff)
    python3 dev.py test [pytest arguments]                  the test suite; exits with pytest's code
    python3 dev.py install                                  only the bootstrap (.venv + dependencies)

``run`` is the demo of a development machine: when they are not configured (in the environment or ``.env``) it
gives the three processes a ``STREAMER_KEY`` generated once and kept in ``var/streamer-key``, and
``EPG_ALLOW_PRIVATE_URLS=true`` (guides on local addresses). It prints the demo login, API key and streamer
key last, once the worker is up. Before starting them it empties the Prometheus metrics directory
(``var/prometheus`` or ``PROMETHEUS_MULTIPROC_DIR``) of the files of processes that ended.

Both commands first make sure ``.venv`` exists and holds the project with its ``dev`` extras; the
installation is repeated only when ``pyproject.toml`` changed (a stamp file in ``.venv`` keeps its hash).
Without ``DATABASE_URL``/``REDIS_URL`` Catena uses a SQLite file and a file-system Celery broker under
``var/`` (or ``$CATENA_VAR_DIR``), so no database or Redis server is needed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".catena-installed"
MIN_PYTHON = (3, 11)


def say(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def fail(message: str, code: int = 1) -> None:
    print(f"[dev] error: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


# --- bootstrap ------------------------------------------------------------------------------------------


def _install_fingerprint() -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def bootstrap() -> None:
    """Create .venv if missing and install the project into it unless already done for this pyproject."""
    if sys.version_info < MIN_PYTHON:
        fail(f"Python {'.'.join(map(str, MIN_PYTHON))}+ is required (this is {sys.version.split()[0]}).")
    if not PYTHON.exists():
        say(f"creating virtual environment {VENV}")
        result = subprocess.run([sys.executable, "-m", "venv", str(VENV)])
        if result.returncode != 0 or not PYTHON.exists():
            fail("could not create the virtual environment; on Debian/Ubuntu install the python3-venv package.")
    fingerprint = _install_fingerprint()
    if STAMP.exists() and STAMP.read_text().strip() == fingerprint:
        return
    say("installing Catena and its development dependencies into .venv (pip install -e '.[dev]')")
    pip = [str(PYTHON), "-m", "pip", "--disable-pip-version-check", "install"]
    if os.environ.get("CI"):
        pip.append("--progress-bar=off")
    result = subprocess.run([*pip, "-e", ".[dev]"], cwd=ROOT)
    if result.returncode != 0:
        fail("pip install failed (see above).")
    STAMP.write_text(fingerprint + "\n")


def var_dir() -> Path:
    """The directory of the embedded SQLite file, file-system broker and cache (settings read the same)."""
    path = Path(os.environ.get("CATENA_VAR_DIR") or ROOT / "var")
    for sub in ("", "broker/queue", "broker/processed", "broker/control", "cache"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    return path


def metrics_dir(var: Path) -> Path:
    """Where web, worker and beat write their Prometheus values (the settings' default, unless configured)."""
    return Path(configured_value("PROMETHEUS_MULTIPROC_DIR") or var / "prometheus")


def clean_metrics(path: Path) -> int:
    """Empty the metrics directory before the processes start (the counters of a previous run would be added to
    this one's), keeping the files of processes still running; how many files were deleted."""
    path.mkdir(parents=True, exist_ok=True)
    deleted = 0
    for file in path.glob("*.db"):
        pid = file.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and _running(int(pid)):
            continue
        file.unlink(missing_ok=True)
        deleted += 1
    return deleted


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def manage(*args: str, check: bool = True) -> int:
    code = subprocess.run([str(PYTHON), "manage.py", *args], cwd=ROOT).returncode
    if check and code != 0:
        fail(f"manage.py {' '.join(args)} failed with exit code {code}.", code)
    return code


# --- run: the demo's configuration -----------------------------------------------------------------------

STREAMER_KEY_FILE = "streamer-key"
WORKER_READY_TIMEOUT = 180.0  # seconds to wait for the worker before printing the login anyway
READY_GRACE = 1.0  # the worker logs "ready" just after its first heartbeat: let that line come first
WEB_READY_TIMEOUT = 120.0  # seconds to wait for the web server to accept connections before announcing anyway


def configured(name: str) -> bool:
    """Whether ``name`` is set in the environment or in the ``.env`` file the settings read."""
    return configured_value(name) is not None


def configured_value(name: str) -> str | None:
    """The value of ``name`` in the environment or in the ``.env`` file the settings read (None when unset)."""
    if name in os.environ:
        return os.environ[name]
    dotenv = ROOT / ".env"
    if not dotenv.exists():
        return None
    for line in dotenv.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        if "=" in line and not line.startswith("#") and line.split("=", 1)[0].strip() == name:
            return line.split("=", 1)[1].strip().strip("'\"")
    return None


def local_streamer_key(var: Path) -> str:
    """The demo's streamer key: generated on the first run into ``var/streamer-key`` (readable by its owner only)
    and reused afterwards, so the streaming server's configuration keeps working across restarts."""
    path = var / STREAMER_KEY_FILE
    if path.exists() and path.read_text().strip():
        return path.read_text().strip()
    key = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    say(f"generated a streamer key into {path}; it is reused on later runs")
    return key


def demo_environment(var: Path) -> tuple[dict, str | None]:
    """The environment of web, worker and beat, and the generated streamer key (None when STREAMER_KEY is set):
    what the demo needs and the operator has not configured. Never used outside ``dev.py run``."""
    env = dict(os.environ)
    key = None
    if not configured("STREAMER_KEY"):
        key = env["STREAMER_KEY"] = local_streamer_key(var)
    if not configured("EPG_ALLOW_PRIVATE_URLS"):
        env["EPG_ALLOW_PRIVATE_URLS"] = "true"
        say("EPG guides on private and local addresses are allowed in this demo (EPG_ALLOW_PRIVATE_URLS=true; "
            "set it in the environment or .env to decide yourself)")
    return env, key


def demo_details(url: str) -> str:
    """What ``manage.py demo_portal`` prints (creating the demo portal the first time), to be printed later."""
    result = subprocess.run([str(PYTHON), "manage.py", "demo_portal", "--url", url], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    if result.returncode != 0:
        fail(f"manage.py demo_portal failed with exit code {result.returncode}.", result.returncode)
    return result.stdout.rstrip("\n")


def accepts_connections(host: str, port: int) -> bool:
    """Whether the web server listens yet (runserver binds its port a moment after it starts, later on a busy machine)."""
    try:
        socket.create_connection((host, port), timeout=0.5).close()
    except OSError:
        return False
    return True


def announce(url: str, details: str, streamer_key: str | None, key_file: Path, worker_ready: bool,
             web_ready: bool = True) -> None:
    """The last lines of the start-up: where Catena runs, the demo login and keys."""
    if not web_ready:
        say(f"the web server does not accept connections after {WEB_READY_TIMEOUT:.0f} s (see its output above)")
    if not worker_ready:
        say(f"no worker heartbeat within {WORKER_READY_TIMEOUT:.0f} s: background jobs may not run (see the worker's "
            "output above)")
    say(f"Catena is running at {url} — press Ctrl-C to stop")
    lines = [details]
    if streamer_key:
        shown = key_file.relative_to(ROOT) if key_file.is_relative_to(ROOT) else key_file
        lines.append(f"  Streamer key:  {streamer_key}   ({shown}; the streaming server calls "
                     f"{url}streaming/flussonic/auth?key=<this key>)")
    print("\n".join(lines), flush=True)


# --- run ------------------------------------------------------------------------------------------------


class Child:
    """One supervised program: its command line, its current process (in a process group of its own, so that one
    signal reaches runserver's autoreloader child and Celery's pool too) and its restart backoff."""

    def __init__(self, name: str, argv: list[str]) -> None:
        self.name = name
        self.argv = argv
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self.restart_at: float | None = None
        self.backoff = 0.0

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the child's whole process group (what is left of it, even after the leader exited)."""
        if self.proc is None:
            return
        try:
            if os.name == "nt":
                if self.proc.poll() is None:
                    self.proc.terminate()
            else:
                os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


class Supervisor:
    """Runs web, worker and beat; restarts one that exits, after a backoff that doubles from ``backoff`` to
    ``max_backoff`` and starts again at ``backoff`` once the child ran ``healthy_after`` seconds; ``stop()``
    stops them all (SIGINT like Ctrl-C, SIGKILL after ``timeout``)."""

    def __init__(self, children: list[Child], cwd: Path, *, env: dict | None = None, backoff: float = 2.0,
                 max_backoff: float = 60.0, healthy_after: float = 60.0) -> None:
        self.children = children
        self.cwd = cwd
        self.env = env
        self.min_backoff = backoff
        self.max_backoff = max_backoff
        self.healthy_after = healthy_after

    def start(self, child: Child) -> None:
        kwargs: dict = {"cwd": self.cwd, "env": self.env}
        if os.name == "nt":
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
        else:
            kwargs["start_new_session"] = True  # Ctrl-C in the terminal reaches dev.py only; it stops them
        child.proc = subprocess.Popen(child.argv, **kwargs)
        child.started_at = time.monotonic()
        child.restart_at = None
        say(f"started {child.name} (pid {child.proc.pid})")

    def start_all(self) -> None:
        for child in self.children:
            child.backoff = self.min_backoff
            self.start(child)

    def check(self) -> None:
        """Notice children that exited (say so, schedule their restart) and restart those whose time came."""
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self.start(child)
                continue
            code = child.proc.poll()
            if code is None:
                continue
            child.signal(signal.SIGKILL if os.name != "nt" else signal.SIGTERM)  # what it left behind (pool…)
            if now - child.started_at >= self.healthy_after:
                child.backoff = self.min_backoff
            say(f"{child.name} exited with code {code}; restarting in {child.backoff:g} s")
            child.restart_at = now + child.backoff
            child.backoff = min(child.backoff * 2, self.max_backoff)

    def stop(self, timeout: float = 15.0) -> None:
        running = [child for child in self.children if child.proc is not None and child.restart_at is None]
        for child in running:
            child.signal(signal.SIGINT if os.name != "nt" else signal.SIGTERM)  # like Ctrl-C
        deadline = time.monotonic() + timeout
        for child in running:
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"{child.name} did not stop within {timeout:.0f}s; killing it")
        for child in running:  # the group too: a pool process or reloader child must not outlive us
            child.signal(signal.SIGKILL if os.name != "nt" else signal.SIGTERM)
            child.proc.wait()
        say("all processes stopped")


def children_for(host: str, port: int, concurrency: int) -> list[Child]:
    """Web, worker and beat as three processes: a worker that dies cannot take beat with it."""
    celery = str(BIN / ("celery.exe" if os.name == "nt" else "celery"))
    return [
        Child("web", [str(PYTHON), "manage.py", "runserver", f"{host}:{port}"]),
        Child("worker", [celery, "-A", "catena_site", "worker", "--loglevel=info", f"--concurrency={concurrency}"]),
        Child("beat", [celery, "-A", "catena_site", "beat", "--loglevel=info"]),
    ]


def cmd_run(args: argparse.Namespace) -> int:
    bootstrap()
    var = var_dir()
    url = f"http://{args.host}:{args.port}/"
    say("applying database migrations")
    manage("migrate", "--noinput")
    details = demo_details(url)
    env, streamer_key = demo_environment(var)
    clean_metrics(metrics_dir(var))

    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    supervisor = Supervisor(children_for(args.host, args.port, args.concurrency), ROOT, env=env)
    # The login is printed once the worker is up, so that it comes after the worker's start-up banner.
    waiter = subprocess.Popen([str(PYTHON), "manage.py", "wait_for_worker", "--since", f"{time.time():.3f}",
                               "--timeout", f"{WORKER_READY_TIMEOUT:g}"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    announce_at = None
    web_deadline = time.monotonic() + WEB_READY_TIMEOUT
    try:
        supervisor.start_all()
        while not stopping:
            supervisor.check()
            if announce_at is None and waiter.poll() is not None:
                announce_at = time.monotonic() + READY_GRACE
            # "Catena is running at …" is said once the worker is up and the address answers.
            if announce_at is not None and time.monotonic() >= announce_at and details is not None:
                web_ready = accepts_connections(args.host, args.port)
                if web_ready or time.monotonic() >= web_deadline:
                    announce(url, details, streamer_key, var / STREAMER_KEY_FILE,
                             worker_ready=waiter.returncode == 0, web_ready=web_ready)
                    details = None
            time.sleep(0.25)
    finally:
        say("stopping")
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave orphans behind
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
        supervisor.stop()
    return 0


# --- test -----------------------------------------------------------------------------------------------


def cmd_test(pytest_args: list[str]) -> int:
    bootstrap()
    code = subprocess.run([str(PYTHON), "-m", "pytest", *pytest_args], cwd=ROOT).returncode
    if code == 5:
        print("[dev] error: pytest collected no tests (exit code 5) — treating this as a failure.",
              file=sys.stderr, flush=True)
        return 1
    return code


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="dev.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="install if needed, migrate, create the demo portal, run web + worker + beat")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument("--concurrency", type=int, default=2, help="Celery worker processes (default 2)")
    sub.add_parser("test", help="install if needed, then run pytest with any further arguments",
                   add_help=False)
    sub.add_parser("install", help="only create .venv and install the project")

    if argv[:1] == ["test"]:  # everything after "test" belongs to pytest, --help included
        return cmd_test(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "install":
        bootstrap()
        return 0
    return cmd_run(args)


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main(sys.argv[1:]))
