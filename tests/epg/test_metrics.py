"""EPG in the metrics (operations.md §1): finished fetches by portal and status (``catena_epg_fetches_total``), their
duration (``catena_epg_fetch_seconds``), and the programmes stored by portal (``catena_epg_programmes``, read when
scraped)."""

from __future__ import annotations

import pytest

from tests.epg.helpers import fetch_now, guide, make_source, program
from tests.metrics import TOKEN, scrape, total, value


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = []
    settings.METRICS_DATABASE_CACHE = 0


def fetches(samples, portal, status):
    return value(samples, "catena_epg_fetches_total", portal_id=portal.public_id, status=status)


def test_fetches_are_counted_by_status_and_their_programs_shown(client, portal, other_portal, server, sent,
                                                                   metrics_on, django_capture_on_commit_callbacks):
    server.serve("/guide.xml", guide(program("one.tv", 0, 1), program("one.tv", 1, 2), program("two.tv", 0, 2)))
    good = make_source(portal, url=server.url("/guide.xml"))
    broken = make_source(portal, "broken-epg", url=server.url("/missing.xml"))
    before = scrape(client)
    with django_capture_on_commit_callbacks(execute=True):
        assert fetch_now(good).status == "success"
        assert fetch_now(broken).status == "error"
    after = scrape(client)
    assert fetches(after, portal, "success") - fetches(before, portal, "success") == 1
    assert fetches(after, portal, "error") - fetches(before, portal, "error") == 1
    assert fetches(after, other_portal, "success") == fetches(before, other_portal, "success")
    assert total(after, "catena_epg_fetch_seconds_count") - total(before, "catena_epg_fetch_seconds_count") >= 2
    assert value(after, "catena_epg_programmes", portal_id=portal.public_id) == 3
    assert value(after, "catena_epg_programmes", portal_id=other_portal.public_id) == 0
