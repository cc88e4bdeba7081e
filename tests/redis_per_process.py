"""A Redis database of its own for each pytest-xdist process (loaded with ``-p`` from pyproject's addopts).

pytest-django gives every xdist process a test database of its own (``test_<name>_gw0``, ``_gw1``, …); Redis has
no such thing, and what the tests keep there — the cache, the shared store's buffers and counters, the Celery
broker of the worker each process starts (tests/worker.py) — would be mixed between processes sharing one
database. So a run on Redis with ``-n N`` names N Redis URLs in ``CATENA_TEST_REDIS_URLS`` (separated by spaces
or commas), and process ``gwK`` takes the K-th as its ``REDIS_URL`` before the Django settings are read: the
settings, the tests that read ``os.environ["REDIS_URL"]`` and every process a test starts (the Celery worker
included) then use that database alone. Without ``-n`` the run keeps ``REDIS_URL`` as it is.

A run on Redis (``REDIS_URL`` in the environment or in ``.env``) with more processes than
``CATENA_TEST_REDIS_URLS`` names stops before any test runs (exit code 4), since its processes would share one.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
URLS_VARIABLE = "CATENA_TEST_REDIS_URLS"


def redis_urls() -> list[str]:
    """The Redis URLs named for the xdist processes, in order."""
    return [url for url in re.split(r"[\s,]+", os.environ.get(URLS_VARIABLE, "")) if url]


def configured_redis_url() -> str:
    """``REDIS_URL`` as the settings will read it: the environment first, then the ``.env`` file."""
    if "REDIS_URL" not in os.environ and (ROOT / ".env").exists():
        import environ

        environ.Env.read_env(ROOT / ".env", overwrite=False)  # what catena_site/settings.py does anyway
    return os.environ.get("REDIS_URL", "")


def refusal(processes: int) -> str | None:
    """Why ``processes`` xdist processes cannot each have a Redis database of their own; None when they can."""
    if processes < 2 or not configured_redis_url():
        return None
    urls = redis_urls()
    if len(set(urls)) >= processes and len(set(urls)) == len(urls):
        return None
    return (f"REDIS_URL is set and the tests run in {processes} processes, which must not share a Redis database: "
            f"set {URLS_VARIABLE} to {processes} different Redis URLs (one database each, e.g. "
            f"'redis://127.0.0.1:6379/11 redis://127.0.0.1:6379/12'), or run without -n "
            f"({URLS_VARIABLE} is now {os.environ.get(URLS_VARIABLE, '')!r})")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    """In an xdist process ``gwK``: ``REDIS_URL`` becomes the K-th URL, before pytest-django reads the settings."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not re.fullmatch(r"gw\d+", worker):
        return
    reason = refusal(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    if reason:
        raise pytest.UsageError(reason)
    urls, index = redis_urls(), int(worker[2:])
    if configured_redis_url() and index < len(urls):  # -n 1 without CATENA_TEST_REDIS_URLS keeps REDIS_URL
        os.environ["REDIS_URL"] = urls[index]


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    """In the controlling process of ``-n N``: refuse before starting processes that would share one database."""
    if hasattr(config, "workerinput"):
        return
    if getattr(config.option, "dist", "no") != "no":
        reason = refusal(len(getattr(config.option, "tx", None) or []))  # one "popen" per process of -n N
        if reason:
            raise pytest.UsageError(reason)
