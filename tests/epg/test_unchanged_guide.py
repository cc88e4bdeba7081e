"""Issue 19: a guide that has not changed since its last import is not parsed and writes nothing — found by the
HTTP validators the server gave (a conditional GET answered 304) or by the digest of the downloaded body —
while anything that changes how the body maps to programmes (URL, offset, guide language) imports again."""

from __future__ import annotations

import pytest

from content.models import EpgSource, Program
from portals.auth import Caller
from portals.services import update_portal
from tests.conftest import API
from tests.epg.helpers import at, fetch_now, guide, gzipped, make_source, program, stored
from tests.web.conftest import page, web  # noqa: F401  (the screens' fixture)

pytestmark = pytest.mark.django_db

GUIDE = guide(program("one.tv", 0, 1, "News"), program("one.tv", 1, 2, "Weather"), program("two.tv", 0, 2, "Film"),
              channels=("one.tv", "two.tv"))


def figures(fetch) -> tuple:
    return (fetch.status, fetch.channels, fetch.found_programs, fetch.imported_programs, fetch.deleted_programs)


def program_rows() -> list[tuple]:
    return list(Program.objects.order_by("id").values_list("id", "epg_channel_name", "start", "end", "title",
                                                          "content_hash"))


def test_the_same_body_again_is_not_parsed_writes_nothing_and_says_since_when(portal, server):
    source = make_source(portal, url=server.serve("/g.xml.gz", gzipped(GUIDE)))  # no validators: the digest
    first = fetch_now(source)
    assert figures(first) == ("success", 2, 3, 3, 0), first.message
    before = program_rows()
    source.refresh_from_db()
    since = source.guide_imported_at

    again = fetch_now(source)
    assert figures(again) == ("success", 2, 3, 0, 0), again.message
    assert again.message == (f"EPG source unchanged since {since:%Y-%m-%d %H:%M:%S} UTC (the downloaded guide is "
                             "identical): nothing written, 3 programmes for 2 channels kept.")
    assert again.unchanged and not first.unchanged
    assert program_rows() == before
    assert "If-None-Match" not in server.request_headers[-1] and "If-Modified-Since" not in server.request_headers[-1]
    source.refresh_from_db()
    assert source.guide_imported_at == since and source.last_fetch_id == again.id and source.failures == 0
    assert again.fetched_at >= first.fetched_at and again.finished_at > first.finished_at


def test_a_changed_body_is_imported(portal, server):
    source = make_source(portal, url=server.serve("/g.xml", GUIDE))
    fetch_now(source)
    server.serve("/g.xml", guide(program("one.tv", 0, 1, "News"), program("one.tv", 1, 2, "Sport"),
                                 program("two.tv", 0, 2, "Film")))
    fetch = fetch_now(source)
    assert figures(fetch) == ("success", 2, 3, 1, 0) and not fetch.unchanged, fetch.message
    assert [row[3] for row in stored(source)] == ["News", "Sport", "Film"]
    assert fetch_now(source).unchanged  # and that body is the one kept now


def test_a_body_that_changes_only_near_its_end_is_imported(portal, server):
    """The first bytes are the same (the body is downloaded in full before parsing) but the end differs."""
    filler = [program("fill.tv", hour, hour + 1, "Filler " + "x" * 400) for hour in range(200)]
    source = make_source(portal, url=server.serve("/g.xml", guide(*filler, program("one.tv", 0, 1, "Old"))))
    assert fetch_now(source).imported_programs == 201
    server.serve("/g.xml", guide(*filler, program("one.tv", 0, 1, "New")))
    fetch = fetch_now(source)
    assert figures(fetch) == ("success", 2, 201, 1, 0), fetch.message
    assert Program.objects.get(epg_channel_name="one.tv").title == "New"


def test_an_etag_makes_a_conditional_get_and_a_304_is_unchanged(portal, server):
    source = make_source(portal, url=server.serve("/g.xml", GUIDE, headers={"ETag": '"v1"'}))
    fetch_now(source)
    before = program_rows()
    again = fetch_now(source)
    assert server.request_headers[-1]["If-None-Match"] == '"v1"'
    assert figures(again) == ("success", 2, 3, 0, 0), again.message
    assert "(the server answered 304 Not Modified): nothing written, 3 programmes for 2 channels kept." in again.message
    assert program_rows() == before and again.unchanged

    server.serve("/g.xml", guide(program("one.tv", 0, 1, "Changed")), headers={"ETag": '"v2"'})
    changed = fetch_now(source)
    assert server.request_headers[-1]["If-None-Match"] == '"v1"'  # the server answered 200 with the new body
    assert figures(changed) == ("success", 1, 1, 1, 0), changed.message
    assert fetch_now(source).unchanged and server.request_headers[-1]["If-None-Match"] == '"v2"'


def test_last_modified_makes_a_conditional_get(portal, server):
    stamp = "Wed, 01 Jan 2031 00:00:00 GMT"
    source = make_source(portal, url=server.serve("/g.xml", GUIDE, headers={"Last-Modified": stamp}))
    fetch_now(source)
    again = fetch_now(source)
    assert server.request_headers[-1]["If-Modified-Since"] == stamp
    assert again.unchanged and "304 Not Modified" in again.message
    third = fetch_now(source)  # the 304 gave no Last-Modified: the kept one is sent again
    assert server.request_headers[-1]["If-Modified-Since"] == stamp and "304 Not Modified" in third.message


def test_an_offset_change_imports_the_same_body_again(api, portal, server):
    source = make_source(portal, url=server.serve("/g.xml", GUIDE, headers={"ETag": '"v1"'}))
    fetch_now(source)
    response = api.put(f"{API}/epg-sources/{source.public_id}", {"offsetMinutes": 60, "forceOffset": True},
                       format="json")
    assert response.status_code == 200, response.json()
    source.refresh_from_db()
    fetch = fetch_now(source)
    assert "If-None-Match" not in server.request_headers[-1]  # the kept validators were forgotten
    assert figures(fetch) == ("success", 2, 3, 3, 0) and not fetch.unchanged, fetch.message
    assert stored(source)[0] == ("one.tv", at(-1), at(0), "News")  # read as UTC+1 now
    assert fetch_now(source).unchanged


def test_a_url_change_imports_again_even_the_same_body(api, portal, server):
    source = make_source(portal, url=server.serve("/a.xml", GUIDE))
    fetch_now(source)
    response = api.put(f"{API}/epg-sources/{source.public_id}", {"url": server.serve("/b.xml", GUIDE)},
                       format="json")
    assert response.status_code == 200, response.json()
    source.refresh_from_db()
    assert source.guide_digest == "" and source.guide_imported_at is None
    fetch = fetch_now(source)
    assert not fetch.unchanged and fetch.status == "success", fetch.message
    assert server.requests[-1] == "/b.xml"
    assert fetch_now(source).unchanged


def test_another_guide_language_imports_again(portal, server):
    source = make_source(portal, url=server.serve("/g.xml", GUIDE))
    fetch_now(source)
    update_portal(portal, caller=Caller(portal=portal), data={"guideLanguage": "de"}, screen=True)
    source = EpgSource.objects.get(pk=source.pk)
    assert not fetch_now(source).unchanged


def test_a_source_emptied_meanwhile_imports_again(portal, server):
    source = make_source(portal, url=server.serve("/g.xml", GUIDE))
    fetch_now(source)
    Program.objects.filter(epg_source=source).delete()
    fetch = fetch_now(source)
    assert figures(fetch) == ("success", 2, 3, 3, 0), fetch.message


def test_an_unchanged_fetch_still_deletes_what_the_retention_period_ended(portal, server, settings):
    settings.EPG_RETENTION_DAYS = 14
    source = make_source(portal, url=server.serve("/g.xml", GUIDE))
    fetch_now(source)
    settings.EPG_RETENTION_DAYS = -2  # two days on: the guide's programmes have all ended before the period
    fetch = fetch_now(source)
    assert fetch.unchanged and figures(fetch) == ("success", 2, 3, 0, 3), fetch.message
    assert "nothing imported, 3 programmes for 2 channels kept; 3 deleted (ended before the retention period)." \
        in fetch.message
    assert not Program.objects.exists()


def test_the_source_page_says_the_guide_is_unchanged(web, portal, server):  # noqa: F811
    source = make_source(portal, url=server.serve("/g.xml", GUIDE))
    fetch_now(source)
    fetch_now(source)
    response = web["owner"].get(f"/epg-sources/{source.public_id}/")
    assert response.status_code == 200
    html = page(response)
    assert 'data-testid="fetch-message">EPG source unchanged since' in html
    assert "nothing written, 3 programmes for 2 channels kept." in html
