"""``POST /epg-sources/{id}/update``, ``GET /epg-fetches`` and ``GET /epg-sources/{id}/programs``."""

from __future__ import annotations

import pytest

from content.epg import services as epg_services
from content.models import EpgFetch, Program
from content.tasks import fetch_epg_source
from tests.conftest import API
from tests.epg.helpers import BASE, at, every_page, fetch_now, guide, make_source, program

pytestmark = pytest.mark.django_db

FETCH_KEYS = {"epgFetchId", "epgSourceId", "created_at", "fetched_at", "job_id", "status", "message", "channels",
              "foundPrograms", "importedPrograms", "deletedPrograms", "fetchDuration", "importDuration"}
PROGRAM_KEYS = {"programId", "portalId", "epgSourceId", "epgChannelName", "date", "start", "end", "title",
                "language", "description", "genre", "rating", "subtitle", "icon", "episode"}


def iso(value) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_update_queues_one_job_and_returns_it_while_queued_or_running(api, portal, monkeypatch,
                                                                      django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr(fetch_epg_source, "apply_async", lambda args, task_id: sent.append((args, task_id)))
    source = make_source(portal)
    url = f"{API}/epg-sources/{source.public_id}/update"
    with django_capture_on_commit_callbacks(execute=True):
        first = api.post(url)
    assert first.status_code == 202 and set(first.json()) == {"jobId"}
    fetch = EpgFetch.objects.get()
    assert (first.json()["jobId"], fetch.status, fetch.trigger) == (fetch.job_id, "queued", "manual")
    assert sent == [([fetch.id], fetch.job_id)]  # the job id is the Celery task id
    with django_capture_on_commit_callbacks(execute=True):
        again = api.post(url)
    assert again.json() == first.json() and len(sent) == 1
    EpgFetch.objects.update(status="running")
    assert api.post(url).json() == first.json() and EpgFetch.objects.count() == 1


def test_after_a_fetch_finishes_a_new_update_starts_a_new_job(api, portal, server):
    source = make_source(portal, url=server.serve("/g.xml", guide(program("a.tv", 0, 1))))
    done = fetch_now(source)
    response = api.post(f"{API}/epg-sources/{source.public_id}/update/")
    assert response.status_code == 202 and response.json()["jobId"] != done.job_id
    new = EpgFetch.objects.get(job_id=response.json()["jobId"])
    assert new.pk != done.pk and new.epg_source_id == source.pk
    assert (new.status, new.trigger) == ("queued", "manual")
    assert EpgFetch.objects.count() == 2


def test_only_one_fetch_per_source_can_be_active(portal):
    from django.db import IntegrityError, transaction

    source = make_source(portal)
    epg_services.request_fetch(source)
    with pytest.raises(IntegrityError), transaction.atomic():
        EpgFetch.objects.create(portal=portal, epg_source=source, job_id="other", status="running")


def test_a_fetch_is_claimed_once(portal, server):
    source = make_source(portal, url=server.serve("/g.xml", guide(program("a.tv", 0, 1))))
    fetch, _ = epg_services.request_fetch(source)
    assert epg_services.run_fetch(fetch.id).status == "success"
    assert epg_services.run_fetch(fetch.id) is None  # a redelivered job finds nothing to do
    assert epg_services.run_fetch(123456789) is None


def test_the_fetch_list_is_newest_first_with_the_documented_keys(api, portal, server):
    source = make_source(portal, url=server.serve("/g.xml", guide(program("a.tv", 0, 1))))
    first, second = fetch_now(source), fetch_now(source)
    body = api.get(f"{API}/epg-fetches").json()
    assert set(body) == {"epgFetches", "next"} and body["next"] is None
    assert [f["epgFetchId"] for f in body["epgFetches"]] == [second.public_id, first.public_id]
    item = body["epgFetches"][0]
    assert set(item) == FETCH_KEYS
    assert item == {"epgFetchId": second.public_id, "epgSourceId": source.public_id,
                    "created_at": iso(second.created_at), "fetched_at": iso(second.fetched_at),
                    "job_id": second.job_id, "status": "success", "message": second.message, "channels": 1,
                    "foundPrograms": 1, "importedPrograms": 0, "deletedPrograms": 0,
                    "fetchDuration": second.fetch_duration, "importDuration": second.import_duration}
    assert api.get(f"{API}/epg-fetches/{first.public_id}").json()["epgFetchId"] == first.public_id


def test_the_fetch_list_filters_by_sources_and_status(api, portal, server, stranger, other_portal):
    server.serve("/g.xml", guide(program("a.tv", 0, 1)))
    a, b, c = (make_source(portal, name, url=server.url("/g.xml")) for name in ("a-src", "b-src", "c-src"))
    fa, fb = fetch_now(a), fetch_now(b)
    broken = make_source(portal, "broken", url=server.url("/missing.xml"))
    fe = fetch_now(broken)
    queued, _ = epg_services.request_fetch(c)
    theirs = fetch_now(make_source(other_portal, "a-src", url=server.url("/g.xml")))

    def ids(query):
        response = api.get(f"{API}/epg-fetches?{query}")
        assert response.status_code == 200, response.json()
        return [f["epgFetchId"] for f in response.json()["epgFetches"]]

    assert ids("") == [queued.public_id, fe.public_id, fb.public_id, fa.public_id]
    assert ids(f"epgSourceId={a.public_id}") == [fa.public_id]
    assert ids(f"epgSourceId={a.public_id}&epgSourceId={broken.public_id}") == [fe.public_id, fa.public_id]
    assert ids("status=error") == [fe.public_id]
    assert ids("status=success&status=queued") == [queued.public_id, fb.public_id, fa.public_id]
    assert ids(f"epgSourceId={theirs.epg_source.public_id}") == []
    assert api.get(f"{API}/epg-fetches?status=bogus").status_code == 400
    assert api.get(f"{API}/epg-fetches?epgSourceId=nope").status_code == 400
    assert api.get(f"{API}/epg-fetches/{theirs.public_id}").status_code == 404
    assert [f["epgFetchId"] for f in stranger.get(f"{API}/epg-fetches").json()["epgFetches"]] == [theirs.public_id]


def test_the_fetch_list_paginates_with_constant_queries(api, portal, server, django_assert_max_num_queries):
    source = make_source(portal, url=server.serve("/g.xml", guide(program("a.tv", 0, 1))))
    made = [fetch_now(source).public_id for _ in range(7)]
    with django_assert_max_num_queries(2):
        first = api.get(f"{API}/epg-fetches?limit=3").json()
    assert len(first["epgFetches"]) == 3
    seen = [f["epgFetchId"] for f in every_page(api, f"{API}/epg-fetches?limit=3", "epgFetches", first)]
    assert seen == made[::-1]


@pytest.fixture
def week(portal, server):
    """A source with two channels: 'a.tv' every 6 hours for 3 days, 'b.tv' every 12 hours."""
    items = [program("a.tv", h, h + 6, f"A{h}", desc="About A") for h in range(0, 72, 6)]
    items += [program("b.tv", h, h + 12, f"B{h}") for h in range(0, 72, 12)]
    source = make_source(portal, url=server.serve("/g.xml", guide(*items)))
    assert fetch_now(source).imported_programs == 18
    return source


def test_programs_have_the_documented_keys(api, portal, week):
    body = api.get(f"{API}/epg-sources/{week.public_id}/programs?limit=1").json()
    assert set(body) == {"programs", "next"} and body["next"]
    program = Program.objects.order_by("start", "id").first()
    assert body["programs"] == [{
        "programId": program.public_id, "portalId": portal.public_id, "epgSourceId": week.public_id,
        "epgChannelName": program.epg_channel_name, "date": BASE.date().isoformat(), "start": iso(at(0)),
        "end": iso(program.end), "title": program.title, "language": "en",
        "description": "About A" if program.epg_channel_name == "a.tv" else None, "genre": None, "rating": None,
        "subtitle": None, "icon": None, "episode": None}]
    assert set(body["programs"][0]) == PROGRAM_KEYS


def test_programs_filter_by_date_and_channel_in_start_order(api, week):
    url = f"{API}/epg-sources/{week.public_id}/programs"

    def titles(query=""):
        response = api.get(f"{url}?{query}")
        assert response.status_code == 200, response.json()
        return [p["title"] for p in response.json()["programs"]]

    day2 = at(24).date().isoformat()
    assert titles(f"date={day2}&epgChannelName=a.tv") == ["A24", "A30", "A36", "A42"]
    assert titles(f"date={day2}") == ["A24", "B24", "A30", "A36", "B36", "A42"]
    assert titles("epgChannelName=b.tv") == ["B0", "B12", "B24", "B36", "B48", "B60"]
    assert titles("epgChannelName=none.tv") == []
    assert len(titles()) == 18
    assert api.get(f"{url}?date=2024-13-01").status_code == 400
    assert api.get(f"{url}?limit=0").status_code == 400


def test_program_pages_never_repeat_or_skip(api, week, django_assert_max_num_queries):
    url = f"{API}/epg-sources/{week.public_id}/programs"
    with django_assert_max_num_queries(3):  # the token, the source, the page
        page = api.get(f"{url}?limit=5").json()
    seen = [p["programId"] for p in page["programs"]]
    while page["next"]:
        page = api.get(f"{url}?limit=5&cursor={page['next']}").json()
        seen += [p["programId"] for p in page["programs"]]
    assert seen == [p.public_id for p in Program.objects.order_by("start", "id")]
    assert api.get(f"{url}?cursor=bad").status_code == 400
