"""``GET /healthz``: 200 when the database and the Celery broker answer, 503 otherwise."""

from __future__ import annotations

import logging

from django.db import connection
from django.http import JsonResponse

log = logging.getLogger(__name__)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone()[0] == 1
    except Exception:
        log.exception("health check: database unreachable")
        return False


def _broker_ok() -> bool:
    from catena_site.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        log.exception("health check: broker unreachable")
        return False


def healthz(request):
    checks = {"database": _database_ok(), "broker": _broker_ok()}
    healthy = all(checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": {k: "ok" if v else "error" for k, v in checks.items()}},
        status=200 if healthy else 503,
    )
