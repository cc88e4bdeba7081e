"""Test-only task and producer for the embedded-broker tests (tests/integration/test_broker_stress.py).

The worker under test imports this module with ``-I tests.broker_tasks``; production code never does.
``python -m tests.broker_tasks DIRECTORY PREFIX COUNT PAUSE`` is one web-like producer: it sends COUNT ``record``
tasks through the configured broker, exactly as a web process's ``.delay()`` does, PAUSE seconds apart.
``python -m tests.broker_tasks request REQUEST_ID TEXT`` answers one request (with that ``X-Request-ID``) whose view
sends a ``log_line`` task (tests/observability/test_logs.py).
"""

from __future__ import annotations

import logging
import os
import sys
import time
import uuid

from catena_site.celery import app

RECORD = "tests.broker_tasks.record"
LOG_LINE = "tests.broker_tasks.log_line"


@app.task(name=RECORD)
def record(directory: str, token: str) -> None:
    """Create ``DIRECTORY/TOKEN``; a second run of the same token leaves a ``TOKEN.again-…`` file beside it."""
    try:
        os.close(os.open(os.path.join(directory, token), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        os.close(os.open(os.path.join(directory, f"{token}.again-{uuid.uuid4().hex}"),
                         os.O_CREAT | os.O_EXCL | os.O_WRONLY))


@app.task(name=LOG_LINE)
def log_line(text: str) -> None:
    """Log ``text`` (INFO, logger ``tests.broker_tasks``)."""
    logging.getLogger(__name__).info("%s", text)


def request_sending_a_task(request_id: str, text: str) -> None:
    """One request through the request-ID middleware whose view sends ``log_line(text)``, as a screen's would."""
    import django

    django.setup()
    from django.http import HttpResponse
    from django.test import RequestFactory

    from catena_site.logs import RequestContextMiddleware

    def view(request):
        app.send_task(LOG_LINE, args=[text])
        return HttpResponse()

    response = RequestContextMiddleware(view)(RequestFactory().get("/", HTTP_X_REQUEST_ID=request_id))
    assert response["X-Request-ID"] == request_id


def produce(directory: str, prefix: str, count: int, pause: float) -> None:
    """Send ``count`` record tasks, tokens ``PREFIX-0`` … ``PREFIX-<count-1>``, ``pause`` seconds apart."""
    for number in range(count):
        app.send_task(RECORD, args=[directory, f"{prefix}-{number}"])
        time.sleep(pause)


if __name__ == "__main__":
    if sys.argv[1] == "request":
        request_sending_a_task(sys.argv[2], sys.argv[3])
    else:
        produce(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
