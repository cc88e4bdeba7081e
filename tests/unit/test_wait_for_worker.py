"""``manage.py wait_for_worker``: returns once a worker heartbeat newer than ``--since`` is in the shared cache."""

from __future__ import annotations

import io
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from catena_site import heartbeat


def test_it_returns_the_worker_once_a_fresh_heartbeat_is_there():
    heartbeat.record(heartbeat.WORKER, "celery@here")
    out = io.StringIO()
    call_command("wait_for_worker", "--since", str(time.time() - 5), "--timeout", "1", stdout=out)
    assert out.getvalue().strip() == "celery@here"


def test_a_heartbeat_older_than_since_does_not_count():
    heartbeat.record(heartbeat.WORKER, "celery@before")
    started = time.monotonic()
    with pytest.raises(CommandError, match="no worker heartbeat within 0.5 s"):
        call_command("wait_for_worker", "--since", str(time.time() + 1), "--timeout", "0.5")
    assert time.monotonic() - started >= 0.5
