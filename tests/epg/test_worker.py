"""The beat dispatcher queues a due source and a real Celery worker (Redis, PostgreSQL) fetches it.

Runs only where the worker can share the database and broker (see tests/worker.py).
"""

from __future__ import annotations

import pytest

from content.models import EpgFetch, Program
from content.tasks import dispatch_epg_fetches
from tests.epg.helpers import guide, make_source, program
from tests.worker import wait_until

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def test_a_due_source_is_dispatched_and_fetched_by_a_worker(celery_worker_process, server):
    from tests.factories import make_portal

    portal = make_portal("epg-worker-portal")
    url = server.serve("/guide.xml", guide(program("a.tv", 0, 1, "First"), program("a.tv", 1, 2, "Second")))
    source = make_source(portal, url=url)

    assert dispatch_epg_fetches() == 1  # what beat runs every minute; the job goes to the worker's queue

    fetch = EpgFetch.objects.get(epg_source=source)
    finished = wait_until(lambda: EpgFetch.objects.filter(pk=fetch.pk, status="success").exists(), timeout=60)
    fetch.refresh_from_db()
    assert finished, f"fetch is {fetch.status}: {fetch.message}\n{celery_worker_process.log_tail()}"
    assert (fetch.trigger, fetch.imported_programs) == ("schedule", 2)
    assert sorted(Program.objects.filter(epg_source=source).values_list("title", flat=True)) == ["First", "Second"]
    assert celery_worker_process.wait_for_log(f"Task content.tasks.fetch_epg_source[{fetch.job_id}] succeeded", timeout=10)
    assert dispatch_epg_fetches() == 0  # not due again before its period
