"""Set up Django for a benchmark against its own database (migrated on first use)."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/catena_bench"


def setup(database_url: str | None = None) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = database_url or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "catena_site.settings")
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("SECRET_KEY", "benchmark")
    _ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _ensure_database(url: str) -> None:
    if not url.startswith("postgres"):
        return
    from urllib.parse import urlparse

    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl().replace("postgres://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def machine() -> str:
    import platform

    return f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 at this moment."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(argv: list[str], port: int, **popen) -> subprocess.Popen:
    """Start a server process and return once it accepts connections on ``port`` (killed if it never does)."""
    server = subprocess.Popen(argv, **popen)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            if server.poll() is not None:
                break
            time.sleep(0.1)
    server.kill()
    raise SystemExit(f"{' '.join(argv[1:3])} did not start on port {port}")


def gunicorn(port: int, app: str, directory: Path, env: dict | None = None) -> subprocess.Popen:
    """The project under gunicorn (two workers, ``app`` found in ``directory``, the production hooks of
    ``catena_site/gunicorn_conf.py``), accepting connections on ``port``; ``env`` adds to the environment."""
    return serve([sys.executable, "-m", "gunicorn", "-c", "python:catena_site.gunicorn_conf", "--workers", "2",
                  "--bind", f"127.0.0.1:{port}", "--chdir", str(directory), "--log-level", "warning", app],
                 port, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, cwd=str(ROOT))


def server_environment(database_url: str, redis_url: str, streamer_key: str) -> None:
    """Environment for benchmarks that run gunicorn against PostgreSQL and Redis (set before Django starts)."""
    import tempfile

    os.environ.update({
        "DATABASE_URL": database_url, "REDIS_URL": redis_url, "DATABASE_POOL": "true", "STREAMER_KEY": streamer_key,
        "DEBUG": "false", "SECRET_KEY": "benchmark", "ALLOWED_HOSTS": "127.0.0.1,localhost", "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "catena_site.settings",
        "STATIC_ROOT": tempfile.mkdtemp(prefix="catena-bench-static-"),
    })


# The end of a wrk script (``%``-formatted with the rest of it, hence ``%%``): every answer counted by status, and
# ``RESULT requests duration p50 p99 mean errors`` and ``CODE status count`` lines for the benchmarks to read.
WRK_COUNTED_DONE = r"""
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local codes = {}
  for _, t in ipairs(threads) do
    for k, n in pairs(t:get("statuses")) do codes[k] = (codes[k] or 0) + n end
  end
  local e = summary.errors
  io.write(string.format("RESULT %%d %%d %%d %%d %%d %%d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), latency.mean, e.connect + e.read + e.write + e.timeout))
  for k, n in pairs(codes) do io.write(string.format("CODE %%d %%d\n", k, n)) end
end
"""


def p95(values: list[float]) -> float:
    """The 95th percentile (of 50 values: the 48th slowest); the value itself when there is one."""
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else values[0]
