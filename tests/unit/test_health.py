"""``GET /healthz``: 200 when the database and the Celery broker answer, 503 when either does not."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import OperationalError, connections

from catena_site.celery import app as celery_app

pytestmark = pytest.mark.django_db

UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def test_healthy(client):
    response = client.get("/healthz")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


def test_needs_no_authentication_and_no_session(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert "sessionid" not in response.cookies


def test_broker_unreachable_is_503(client, monkeypatch):
    # The check connects with the Celery app's own configuration, so that is what is pointed elsewhere.
    monkeypatch.setitem(celery_app.conf, "broker_url", UNREACHABLE_BROKER)
    monkeypatch.setitem(celery_app.conf, "broker_write_url", UNREACHABLE_BROKER)
    monkeypatch.setitem(celery_app.conf, "broker_transport_options", {})
    response = client.get("/healthz")
    assert response.status_code == 503, response.content
    assert response.json() == {"status": "unavailable", "checks": {"database": "ok", "broker": "error"}}


def test_database_unreachable_is_503(client):
    with mock.patch.object(connections["default"], "cursor", side_effect=OperationalError("connection refused")):
        response = client.get("/healthz")
    assert response.status_code == 503, response.content
    assert response.json() == {"status": "unavailable", "checks": {"database": "error", "broker": "ok"}}
