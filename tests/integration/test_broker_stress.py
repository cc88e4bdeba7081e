"""The embedded broker (no REDIS_URL) under load: web-like producers and a real prefork worker share it safely.

kombu's stock ``filesystem://`` transport lets the worker read a message file the producer has created but not yet
written, and the worker dies with ``Unrecoverable error: JSONDecodeError`` (catena_site/broker.py). These tests
run a real ``celery -A catena_site worker`` (prefork, concurrency 2) on a broker in a temporary var dir; the
task (tests/broker_tasks.py) creates one file per token, so every execution is counted. No database is needed.

To see the failure of kombu's transport on the same folders: ``CATENA_STOCK_BROKER=1 .venv/bin/python -m pytest
tests/integration/test_broker_stress.py`` (the variable reaches the worker and the producers through the settings).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from kombu import Connection

import catena_site.broker  # noqa: F401  (registers catena-filesystem:// with kombu)
from tests.worker import WorkerProcess, launch_worker

ROOT = Path(__file__).resolve().parents[2]
PRODUCERS = 4
TASKS_PER_PRODUCER = 1000
PAUSE = 0.02  # seconds between a producer's tasks: web-like, and the worker keeps up, reading as they arrive
START_TIMEOUT = 60.0
RUN_TIMEOUT = 150.0  # seconds for all tasks; the safe transport needs a fraction of it on 2 busy cores


def embedded_env(var_dir: Path) -> dict[str, str]:
    """The environment of a process on the embedded default (no DATABASE_URL, no REDIS_URL) in ``var_dir``."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("DATABASE_URL", "REDIS_URL", "CATENA_REQUIRE_WORKER")}
    env.update(CATENA_VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="catena_site.settings", PYTHONUNBUFFERED="1")
    return env


@pytest.fixture
def broker_var_dir(tmp_path):
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    return var_dir


@pytest.fixture
def embedded_worker(broker_var_dir):
    """A real prefork worker (concurrency 2, as ``dev.py run`` starts it) on the embedded broker of ``broker_var_dir``."""
    argv = [sys.executable, "-m", "celery", "-A", "catena_site", "worker", "-I", "tests.broker_tasks",
            "--pool=prefork", "--concurrency=2", "--loglevel=INFO", "-n", f"stress-{uuid.uuid4().hex[:8]}@%h"]
    worker = launch_worker(argv, embedded_env(broker_var_dir), "celery", START_TIMEOUT)
    try:
        yield worker
    finally:
        worker.stop()


def start_producer(var_dir: Path, done_dir: Path, prefix: str, count: int, pause: float = 0.0) -> subprocess.Popen:
    """A web-like process sending ``count`` record tasks through the embedded broker, ``pause`` seconds apart."""
    return subprocess.Popen([sys.executable, "-m", "tests.broker_tasks", str(done_dir), prefix, str(count),
                             str(pause)],
                            cwd=ROOT, env=embedded_env(var_dir), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def executed(done_dir: Path) -> list[str]:
    return os.listdir(done_dir)


def wait_for_tasks(worker: WorkerProcess, done_dir: Path, expected: int, timeout: float = RUN_TIMEOUT) -> None:
    """Wait until ``expected`` tasks ran; fail at once, with the worker's log, if the worker exits."""
    deadline = time.monotonic() + timeout
    while len(executed(done_dir)) < expected:
        if worker.proc.poll() is not None:
            pytest.fail(f"the worker exited (code {worker.proc.returncode}) after {len(executed(done_dir))} of "
                        f"{expected} tasks:\n{worker.log_tail()}", pytrace=False)
        if time.monotonic() > deadline:
            pytest.fail(f"only {len(executed(done_dir))} of {expected} tasks ran within {timeout:.0f}s:\n"
                        f"{worker.log_tail()}", pytrace=False)
        time.sleep(0.2)


def queue_files(var_dir: Path) -> list[str]:
    return sorted(os.listdir(var_dir / "broker" / "queue"))


def rejected_files(var_dir: Path) -> list[str]:
    rejected = var_dir / "broker" / "rejected"
    return sorted(os.listdir(rejected)) if rejected.exists() else []


def put_raw_message(var_dir: Path, content: bytes) -> str:
    """A file in the queue folder named like a message of the default queue, with ``content`` in it."""
    name = f"{int(time.monotonic() * 1000)}_{uuid.uuid4()}.celery.msg"
    (var_dir / "broker" / "queue" / name).write_bytes(content)
    return name


def test_worker_runs_every_task_of_concurrent_producers_exactly_once(broker_var_dir, embedded_worker, tmp_path):
    done_dir = tmp_path / "done"
    done_dir.mkdir()
    total = PRODUCERS * TASKS_PER_PRODUCER

    started = time.monotonic()
    producers = [start_producer(broker_var_dir, done_dir, f"p{number}", TASKS_PER_PRODUCER, PAUSE)
                 for number in range(PRODUCERS)]
    for producer in producers:
        output, _ = producer.communicate(timeout=RUN_TIMEOUT)
        assert producer.returncode == 0, output
    wait_for_tasks(embedded_worker, done_dir, total)
    elapsed = time.monotonic() - started
    time.sleep(1.0)  # a duplicate delivery would show up now

    names = executed(done_dir)
    expected = {f"p{producer}-{number}" for producer in range(PRODUCERS) for number in range(TASKS_PER_PRODUCER)}
    assert sorted(name for name in names if ".again-" in name) == [], "some tasks ran twice"
    assert set(names) == expected
    assert queue_files(broker_var_dir) == [], "messages were left in the queue"
    assert rejected_files(broker_var_dir) == []
    assert embedded_worker.proc.poll() is None, embedded_worker.log_tail()
    assert "Unrecoverable error" not in embedded_worker.log
    print(f"\n{total} tasks from {PRODUCERS} producers in {elapsed:.1f}s ({total / elapsed:.0f} tasks/s)")

    embedded_worker.proc.send_signal(signal.SIGTERM)  # a warm shutdown still works and exits cleanly
    assert embedded_worker.proc.wait(30) == 0, embedded_worker.log_tail()


def test_unreadable_message_files_are_set_aside_and_the_worker_keeps_consuming(broker_var_dir, embedded_worker,
                                                                              tmp_path):
    done_dir = tmp_path / "done"
    done_dir.mkdir()
    bad = [put_raw_message(broker_var_dir, b""), put_raw_message(broker_var_dir, b"not json {")]
    producer = start_producer(broker_var_dir, done_dir, "first", 5)
    assert producer.wait(60) == 0, producer.stdout.read()
    wait_for_tasks(embedded_worker, done_dir, 5, timeout=60)

    bad += [put_raw_message(broker_var_dir, b'{"valid json": "but no message"}'),
            put_raw_message(broker_var_dir, b"\xff\xfe not utf-8")]
    producer = start_producer(broker_var_dir, done_dir, "second", 5)
    assert producer.wait(60) == 0, producer.stdout.read()
    wait_for_tasks(embedded_worker, done_dir, 10, timeout=60)

    assert sorted(executed(done_dir)) == sorted([f"first-{n}" for n in range(5)] + [f"second-{n}" for n in range(5)])
    assert rejected_files(broker_var_dir) == sorted(bad)
    assert queue_files(broker_var_dir) == []
    assert embedded_worker.proc.poll() is None, embedded_worker.log_tail()
    for name in bad:
        assert f"message file {name} is not a valid message" in embedded_worker.log


def test_the_transport_creates_its_folders_and_delivers_a_message(tmp_path):
    broker = tmp_path / "var" / "broker"  # nothing of it exists yet
    url = "filesystem://" if os.environ.get("CATENA_STOCK_BROKER") == "1" else "catena-filesystem://"
    options = {"data_folder_in": str(broker / "queue"), "data_folder_out": str(broker / "queue"),
               "processed_folder": str(broker / "processed"), "control_folder": str(broker / "control"),
               "rejected_folder": str(broker / "rejected")}
    with Connection(url, transport_options=options) as connection:
        queue = connection.SimpleQueue("folders")
        queue.put({"hello": "world"})
        message = queue.get(timeout=5)
        message.ack()
        queue.close()

    assert message.payload == {"hello": "world"}
    assert sorted(os.listdir(broker)) == ["control", "processed", "queue", "rejected"]
    assert os.listdir(broker / "queue") == []
