"""``GET /healthz``: 200 when the database and the Celery broker answer and a worker has beaten within 60 s,
503 when any of them does not; the body also tells the queue length and the heartbeat ages."""

from __future__ import annotations

import datetime as dt
import os
from unittest import mock

import pytest
from django.db import OperationalError, connections

from catena_site import heartbeat
from catena_site.celery import app as celery_app

pytestmark = pytest.mark.django_db

UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def worker_alive(time_machine):
    """A worker and beat that beat just now (what their heartbeat bootstep and scheduler write)."""
    time_machine.move_to(NOW, tick=False)
    heartbeat.record(heartbeat.WORKER, "celery@test")
    heartbeat.record(heartbeat.BEAT)
    time_machine.move_to(NOW + dt.timedelta(seconds=3), tick=False)


def test_healthy(client, worker_alive):
    response = client.get("/healthz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body == {"status": "ok", "checks": {"database": "ok", "broker": "ok", "worker": "ok"},
                    "queue": {"length": body["queue"]["length"]}, "heartbeats": {"worker": 3, "beat": 3}}
    assert isinstance(body["queue"]["length"], int)


def test_needs_no_authentication_and_no_session(client, worker_alive):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert "sessionid" not in response.cookies


def test_broker_unreachable_is_503(client, monkeypatch, worker_alive):
    # The check connects with the Celery app's own configuration, so that is what is pointed elsewhere.
    monkeypatch.setitem(celery_app.conf, "broker_url", UNREACHABLE_BROKER)
    monkeypatch.setitem(celery_app.conf, "broker_write_url", UNREACHABLE_BROKER)
    monkeypatch.setitem(celery_app.conf, "broker_transport_options", {})
    response = client.get("/healthz")
    assert response.status_code == 503, response.content
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"] == {"database": "ok", "broker": "error", "worker": "ok"}
    assert body["queue"] == {"length": None}


def test_database_unreachable_is_503(client, worker_alive):
    with mock.patch.object(connections["default"], "cursor", side_effect=OperationalError("connection refused")):
        response = client.get("/healthz")
    assert response.status_code == 503, response.content
    assert response.json()["checks"] == {"database": "error", "broker": "ok", "worker": "ok"}


def test_a_worker_silent_for_a_minute_is_503(client, worker_alive, time_machine):
    time_machine.move_to(NOW + dt.timedelta(seconds=59), tick=False)
    assert client.get("/healthz").status_code == 200

    time_machine.move_to(NOW + dt.timedelta(seconds=75), tick=False)
    response = client.get("/healthz")
    assert response.status_code == 503, response.content
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"] == {"database": "ok", "broker": "ok", "worker": "no heartbeat for 75 s"}
    assert body["heartbeats"] == {"worker": 75, "beat": 75}


def test_no_worker_heartbeat_at_all_is_503(client):
    response = client.get("/healthz")
    assert response.status_code == 503, response.content
    body = response.json()
    assert body["checks"] == {"database": "ok", "broker": "ok", "worker": "no heartbeat"}
    assert body["heartbeats"] == {"worker": None, "beat": None}


def test_a_new_heartbeat_makes_it_healthy_again(client, worker_alive, time_machine):
    time_machine.move_to(NOW + dt.timedelta(minutes=10), tick=False)
    assert client.get("/healthz").status_code == 503
    heartbeat.record(heartbeat.WORKER, "celery@restarted")
    response = client.get("/healthz")
    assert response.status_code == 200, response.content
    assert response.json()["heartbeats"] == {"worker": 0, "beat": 600}


def test_beat_age_is_reported_but_a_silent_beat_alone_is_not_503(client, time_machine):
    time_machine.move_to(NOW, tick=False)
    heartbeat.record(heartbeat.BEAT)
    time_machine.move_to(NOW + dt.timedelta(minutes=5), tick=False)
    heartbeat.record(heartbeat.WORKER, "celery@test")
    response = client.get("/healthz")
    assert response.status_code == 200, response.content
    assert response.json()["heartbeats"] == {"worker": 0, "beat": 300}


def test_queue_length_counts_the_waiting_messages(client, worker_alive):
    """Messages sent while no worker consumes them are counted (file broker: *.msg files; Redis: LLEN)."""
    queue = f"catena-health-test-{os.getpid()}"
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    try:
        before = client.get("/healthz").json()["queue"]["length"]
        for _ in range(3):
            celery_app.send_task("portals.tasks.purge_expired_manager_sessions", queue=queue)
        after = client.get("/healthz").json()["queue"]["length"]
    finally:
        celery_app.conf.task_default_queue = previous
        with celery_app.connection_for_write() as conn:
            conn.default_channel.queue_purge(queue)
    assert (before, after) == (0, 3)
