"""Fetches never stay blocked: a running fetch whose worker stopped renewing its lease is given up by the
dispatcher (and retried by the source's backoff rule), and "Update now" while the broker is unreachable
answers 503 and records the fetch as failed instead of leaving it queued for an hour."""

from __future__ import annotations

import datetime as dt
import socket

import pytest
from django.utils import timezone

from catena_site.celery import app as celery_app
from content import tasks
from content.epg import services as epg_services
from content.models import EpgFetch, EpgSource
from tests.conftest import API
from tests.epg.helpers import make_source
from tests.web.conftest import web  # noqa: F401  (screens logged in per persona)

pytestmark = pytest.mark.django_db


def test_a_running_fetch_whose_lease_expired_is_given_up_and_retried(portal, settings, sent):
    settings.EPG_RETRY_BACKOFF, settings.EPG_FETCH_LEASE = 300, 60
    source = make_source(portal)
    fetch, _ = epg_services.request_fetch(source, trigger="schedule")
    claimed = epg_services._claim(fetch.id)  # what the worker does first
    assert claimed.status == "running" and claimed.lease_until == claimed.started_at + dt.timedelta(seconds=60)

    alive = claimed.lease_until - dt.timedelta(seconds=1)
    assert epg_services.dispatch_due_fetches(alive) == 0
    assert EpgFetch.objects.get(pk=fetch.pk).status == "running"  # its worker may still be importing

    dead = claimed.lease_until + dt.timedelta(seconds=1)
    assert epg_services.dispatch_due_fetches(dead) == 0  # given up now; the source waits for its backoff
    fetch.refresh_from_db()
    assert fetch.status == "error" and fetch.finished_at is not None
    seen = claimed.started_at.astimezone(dt.UTC)
    assert fetch.message == (f"The worker stopped during the import (no sign of life since {seen:%Y-%m-%d %H:%M:%S} "
                             "UTC); the programmes were left as they were and the source is retried.")
    source.refresh_from_db()
    assert (source.failures, source.last_fetch_id) == (1, fetch.id)
    assert dead < source.next_fetch_at <= timezone.now() + dt.timedelta(seconds=300)

    assert epg_services.dispatch_due_fetches(source.next_fetch_at) == 1  # the retry
    retry = EpgFetch.objects.exclude(pk=fetch.pk).get(epg_source=source)
    assert (retry.status, retry.trigger) == ("queued", "schedule")
    assert tasks.fetch_epg_source(fetch.id) is None  # the first job delivered again: nothing to do


def test_a_job_delivered_twice_runs_once(portal, server, sent):
    from tests.epg.helpers import guide, program

    source = make_source(portal, url=server.serve("/g.xml", guide(program("a.tv", 0, 1))))
    fetch, _ = epg_services.request_fetch(source)
    assert tasks.fetch_epg_source(fetch.id) == "success"
    assert tasks.fetch_epg_source(fetch.id) is None
    assert server.requests == ["/g.xml"]


# --- The broker is unreachable --------------------------------------------------------------------------


@pytest.fixture
def unreachable_broker():
    """Point the Celery app of this process at a closed port on 127.0.0.1 (a broker that is down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends: nothing listens there
    conf = celery_app.conf
    saved = conf.broker_url, conf.broker_transport_options, celery_app._pool, celery_app.amqp._producer_pool
    conf.broker_url, conf.broker_transport_options = f"redis://127.0.0.1:{port}/0", {}
    celery_app._pool = celery_app.amqp._producer_pool = None  # connections are made from the new URL
    try:
        yield f"127.0.0.1:{port}"
    finally:
        conf.broker_url, conf.broker_transport_options, celery_app._pool, celery_app.amqp._producer_pool = saved


def _assert_recorded_as_not_queued(source: EpgSource) -> EpgFetch:
    fetch = EpgFetch.objects.get(epg_source=source)
    assert fetch.status == "error"
    assert fetch.message.startswith("Could not queue the job: broker unreachable (")
    assert fetch.message.endswith("Nothing was fetched; the source is retried later.")
    return fetch


@pytest.mark.django_db(transaction=True)
def test_update_now_through_the_api_during_a_broker_outage_is_503_and_blocks_nothing(portal, api,
                                                                                    unreachable_broker):
    source = make_source(portal)
    response = api.post(f"{API}/epg-sources/{source.public_id}/update")
    assert response.status_code == 503
    assert response.json() == {"message": "Could not queue the job: the broker (the background job queue) is "
                                          "unreachable. Nothing was started; try again once background jobs are "
                                          "running."}
    first = _assert_recorded_as_not_queued(source)
    assert EpgSource.objects.get(pk=source.pk).last_fetch_id == first.id

    again = api.post(f"{API}/epg-sources/{source.public_id}/update")  # not "already queued": a new attempt
    assert again.status_code == 503
    assert list(EpgFetch.objects.filter(epg_source=source).values_list("status", flat=True)) == ["error", "error"]


@pytest.mark.django_db(transaction=True)
def test_update_now_on_the_screen_during_a_broker_outage_shows_the_error(portal, web, unreachable_broker):  # noqa: F811
    source = make_source(portal)
    response = web["owner"].post(f"/epg-sources/{source.public_id}/update/")
    assert response.status_code == 503
    assert "Could not queue the job: the broker (the background job queue) is unreachable." in response.content.decode()
    _assert_recorded_as_not_queued(source)


@pytest.mark.django_db(transaction=True)
def test_the_dispatcher_during_a_broker_outage_records_one_failure_and_stops(portal, unreachable_broker):
    first, second = make_source(portal, "first"), make_source(portal, "second")
    assert tasks.dispatch_epg_fetches() == 0
    fetches = list(EpgFetch.objects.all())
    assert len(fetches) == 1 and fetches[0].epg_source_id in (first.id, second.id)
    _assert_recorded_as_not_queued(fetches[0].epg_source)


def test_a_lease_renewed_after_the_dispatcher_looked_keeps_the_fetch_running(portal, settings):
    settings.EPG_FETCH_LEASE = 60
    fetch, _ = epg_services.request_fetch(make_source(portal))
    claimed = epg_services._claim(fetch.id)
    dead = claimed.lease_until + dt.timedelta(seconds=1)
    [seen] = epg_services.stale_fetches(dead)  # what the dispatcher read …
    EpgFetch.objects.filter(pk=fetch.pk).update(lease_until=dead + dt.timedelta(seconds=60))  # … then the worker renewed
    epg_services._abandon(seen, dead)
    assert EpgFetch.objects.get(pk=fetch.pk).status == "running"
    assert EpgSource.objects.get(pk=fetch.epg_source_id).failures == 0
