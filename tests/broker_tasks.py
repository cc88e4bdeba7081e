"""Test-only task and producer for the embedded-broker tests (tests/integration/test_broker_stress.py).

The worker under test imports this module with ``-I tests.broker_tasks``; production code never does.
``python -m tests.broker_tasks DIRECTORY PREFIX COUNT PAUSE`` is one web-like producer: it sends COUNT ``record``
tasks through the configured broker, exactly as a web process's ``.delay()`` does, PAUSE seconds apart.
"""

from __future__ import annotations

import os
import sys
import time
import uuid

from catena_site.celery import app

RECORD = "tests.broker_tasks.record"


@app.task(name=RECORD)
def record(directory: str, token: str) -> None:
    """Create ``DIRECTORY/TOKEN``; a second run of the same token leaves a ``TOKEN.again-…`` file beside it."""
    try:
        os.close(os.open(os.path.join(directory, token), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        os.close(os.open(os.path.join(directory, f"{token}.again-{uuid.uuid4().hex}"),
                         os.O_CREAT | os.O_EXCL | os.O_WRONLY))


def produce(directory: str, prefix: str, count: int, pause: float) -> None:
    """Send ``count`` record tasks, tokens ``PREFIX-0`` … ``PREFIX-<count-1>``, ``pause`` seconds apart."""
    for number in range(count):
        app.send_task(RECORD, args=[directory, f"{prefix}-{number}"])
        time.sleep(pause)


if __name__ == "__main__":
    produce(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
