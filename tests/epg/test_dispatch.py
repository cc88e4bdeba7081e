"""The beat dispatcher: due sources are queued once, failures back off, lost jobs are given up."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from catena_site.celery import app
from content import tasks
from content.epg import services as epg_services
from content.models import EpgFetch, EpgSource
from tests.epg.helpers import fetch_now, guide, make_source, program

pytestmark = pytest.mark.django_db


def test_the_beat_schedule_runs_the_dispatcher_every_minute():
    entry = app.conf.beat_schedule["content.dispatch-epg-fetches"]
    assert entry["task"] == "content.tasks.dispatch_epg_fetches" == tasks.dispatch_epg_fetches.name
    assert entry["schedule"] == dt.timedelta(seconds=60)


def test_a_new_source_is_due_and_queued_once(portal, sent, django_capture_on_commit_callbacks):
    source = make_source(portal)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.dispatch_epg_fetches() == 1
        assert sent == []  # sent only once the fetch record is committed
    fetch = EpgFetch.objects.get()
    assert (fetch.epg_source_id, fetch.status, fetch.trigger, sent) == (source.id, "queued", "schedule", [fetch.job_id])
    assert tasks.dispatch_epg_fetches() == 0  # already queued
    EpgFetch.objects.update(status="running")
    assert tasks.dispatch_epg_fetches() == 0  # still running
    assert EpgFetch.objects.count() == 1


def test_after_a_success_the_next_fetch_is_due_one_period_later(portal, server):
    source = make_source(portal, url=server.serve("/g.xml", guide(program("a.tv", 0, 1))), period=2)
    fetch = fetch_now(source)
    source.refresh_from_db()
    assert source.next_fetch_at == fetch.created_at + dt.timedelta(days=2)
    assert list(epg_services.due_sources()) == []
    assert list(epg_services.due_sources(fetch.created_at + dt.timedelta(days=2))) == [source]


def test_failures_are_retried_with_growing_backoff_capped_at_the_period(portal, server, settings):
    settings.EPG_RETRY_BACKOFF = 300
    source = make_source(portal, url=server.url("/missing.xml"))
    delays = []
    for _ in range(12):
        fetch = fetch_now(source)
        source.refresh_from_db()
        delays.append(round((source.next_fetch_at - fetch.finished_at).total_seconds()))
    assert fetch.status == "error" and source.failures == 12
    assert delays[:5] == [300, 600, 1200, 2400, 4800]
    assert delays[-1] == 86400  # never later than the period
    assert list(epg_services.due_sources()) == []
    server.serve("/missing.xml", guide(program("a.tv", 0, 1)))
    assert fetch_now(source).status == "success"
    source.refresh_from_db()
    assert source.failures == 0


def test_a_new_period_reschedules_from_the_last_success(api, portal, server):
    source = make_source(portal, url=server.serve("/g.xml", guide(program("a.tv", 0, 1))))
    fetch = fetch_now(source)
    epg_services.update_epg_source(source, caller=_owner(portal), data={"period": 7})
    source.refresh_from_db()
    assert source.next_fetch_at == fetch.created_at + dt.timedelta(days=7)


def _owner(portal):
    from portals.auth import Caller

    return Caller(portal=portal)


def test_lost_jobs_are_given_up_so_the_source_is_fetched_again(portal, settings, sent):
    # Explicit times rather than time travel: IDs made in a travelled-to future would stall the process's
    # Snowflake generator once the clock comes back.
    settings.EPG_FETCH_TIMEOUT = 600
    waiting, stuck = make_source(portal, "waiting"), make_source(portal, "stuck")
    queued, _ = epg_services.request_fetch(waiting, trigger="schedule")
    running, _ = epg_services.request_fetch(stuck, trigger="schedule")
    EpgFetch.objects.filter(pk=running.pk).update(status="running", started_at=timezone.now())
    later = timezone.now() + dt.timedelta(minutes=14)  # within the 10-minute timeout + 5 minutes of grace
    assert epg_services.abandon_stale_fetches(later) == 0
    much_later = timezone.now() + dt.timedelta(hours=2)
    assert epg_services.abandon_stale_fetches(much_later) == 2
    queued.refresh_from_db()
    running.refresh_from_db()
    assert (queued.status, queued.message) == ("error", "Abandoned: no worker started it.")
    assert (running.status, running.message) == ("error", "Abandoned: its worker stopped reporting.")
    assert EpgSource.objects.get(pk=waiting.pk).failures == 1
    assert epg_services.dispatch_due_fetches(much_later) == 2


def test_the_fetch_task_runs_a_queued_fetch(portal, server):
    source = make_source(portal, url=server.serve("/g.xml", guide(program("a.tv", 0, 1))))
    fetch, _ = epg_services.request_fetch(source)
    assert tasks.fetch_epg_source(fetch.id) == "success"
    assert tasks.fetch_epg_source(fetch.id) is None


def test_an_unexpected_error_is_recorded_on_the_fetch(portal, server, monkeypatch):
    from content.epg import importer

    source = make_source(portal, url=server.serve("/g.xml", guide(program("a.tv", 0, 1))))

    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(epg_services, "import_guide", broken)
    fetch = fetch_now(source)
    assert (fetch.status, fetch.message) == ("error", "Internal error while importing: ZeroDivisionError: boom")
    assert importer  # the real importer is untouched


def test_a_manual_update_replaces_a_job_whose_worker_vanished(api, portal, sent, django_capture_on_commit_callbacks):
    from tests.conftest import API

    source = make_source(portal)
    stuck, _ = epg_services.request_fetch(source)
    EpgFetch.objects.filter(pk=stuck.pk).update(status="running", started_at=timezone.now() - dt.timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{API}/epg-sources/{source.public_id}/update")
    stuck.refresh_from_db()
    assert (stuck.status, stuck.message) == ("error", "Abandoned: its worker stopped reporting.")
    assert response.status_code == 202 and response.json()["jobId"] != stuck.job_id and len(sent) == 1
