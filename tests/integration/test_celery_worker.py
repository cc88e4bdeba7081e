"""A real Celery worker process runs the tasks this process sends, on the same database."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.utils import timezone

from portals.models import ManagerSession
from portals.tasks import purge_expired_manager_sessions
from tests.factories import make_portal, session_token
from tests.worker import wait_until

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

TASK_TIMEOUT = 30.0


def test_worker_purges_expired_manager_sessions(celery_worker_process):
    portal = make_portal("worker-portal")
    session_token(portal.owner)
    session_token(portal.owner)
    expired, live = ManagerSession.objects.filter(manager=portal.owner).order_by("id")
    idle = dt.timedelta(seconds=settings.MANAGER_SESSION_TTL + 3600)
    ManagerSession.objects.filter(pk=expired.pk).update(last_seen_at=timezone.now() - idle)

    result = purge_expired_manager_sessions.delay()

    gone = wait_until(lambda: not ManagerSession.objects.filter(pk=expired.pk).exists(), TASK_TIMEOUT)
    assert gone, (f"task {result.id} did not remove the expired session within {TASK_TIMEOUT:.0f}s; worker log:\n"
                  f"{celery_worker_process.log_tail()}")
    assert ManagerSession.objects.filter(pk=live.pk).exists()
    assert celery_worker_process.wait_for_log(f"Task portals.tasks.purge_expired_manager_sessions[{result.id}] "
                                              "succeeded", timeout=10), celery_worker_process.log_tail()
