#!/usr/bin/env python3
"""Catena on a development machine, with nothing but Python 3.11+ (standard library only).

    python3 dev.py run  [--host 127.0.0.1] [--port 8000]   web, Celery worker and beat until Ctrl-C; one that
                                                            exits is restarted (with backoff)
    python3 dev.py test [pytest arguments]                  the test suite; exits with pytest's code
    python3 dev.py install                                  only the bootstrap (.venv + dependencies)

Both commands first make sure ``.venv`` exists and holds the project with its ``dev`` extras; the
installation is repeated only when ``pyproject.toml`` changed (a stamp file in ``.venv`` keeps its hash).
Without ``DATABASE_URL``/``REDIS_URL`` Catena uses a SQLite file and a file-system Celery broker under
``var/`` (or ``$CATENA_VAR_DIR``), so no database or Redis server is needed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
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


def manage(*args: str, check: bool = True) -> int:
    code = subprocess.run([str(PYTHON), "manage.py", *args], cwd=ROOT).returncode
    if check and code != 0:
        fail(f"manage.py {' '.join(args)} failed with exit code {code}.", code)
    return code


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
    var_dir()
    url = f"http://{args.host}:{args.port}/"
    say("applying database migrations")
    manage("migrate", "--noinput")
    manage("demo_portal", "--url", url)

    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    supervisor = Supervisor(children_for(args.host, args.port, args.concurrency), ROOT)
    try:
        supervisor.start_all()
        say(f"Catena is running at {url} — press Ctrl-C to stop")
        while not stopping:
            supervisor.check()
            time.sleep(0.5)
    finally:
        say("stopping")
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave orphans behind
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
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
