"""The EPG screens: the source list and form, the source page (live status, history, chart, programmes),
the live status block (the source page asked by htmx), and what the channel screens show of EPG (the EPG
channel name suggestions, the channel form asked by htmx) — for every persona, within the portal."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from content.epg import services as epg_services
from content.models import Channel, EpgFetch, EpgSource, FetchStatus, Program
from monitoring.operations import Operation, OperationType
from portals.auth import Caller
from tests.conftest import API
from tests.content.test_channels_api import make_channel
from tests.epg.conftest import GuideServer
from tests.epg.helpers import guide, program

from .conftest import PERSONAS, page, table

CONTENT_WRITERS = ("owner", "content")
CONTENT_READERS = ("admin", "subscribers", "viewer")
# The screens' "today" is the UTC day of the clock (the program browser's "Day (UTC)", the channel list's EPG
# mark). Every test here runs at noon UTC of this day (``_at_noon``), so a run crossing midnight cannot move
# "today" away from the guide's programs.
TODAY = dt.datetime(2026, 6, 15, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _at_noon(time_machine):
    time_machine.move_to(TODAY + dt.timedelta(hours=12))  # the clock runs on from there (tick)


def xmltv(hours: float) -> str:
    """Today 00:00 UTC plus some hours, as an XMLTV time."""
    return (TODAY + dt.timedelta(hours=hours)).strftime("%Y%m%d%H%M%S +0000")


def shown(portal, start: float, end: float) -> str:
    """How the screens show a program from ``start`` to ``end`` hours after today 00:00 UTC: in the portal's
    time zone."""
    zone = zoneinfo.ZoneInfo(portal.effective_settings["timeZone"])
    return "–".join((TODAY + dt.timedelta(hours=hours)).astimezone(zone).strftime("%H:%M") for hours in (start, end))


def todays_guide() -> bytes:
    """Three programmes today on news.example, one on sport.example."""
    return guide(
        program("news.example", xmltv(6), xmltv(7), "Morning News", desc="The news of the morning.", category="News"),
        program("news.example", xmltv(7), xmltv(8), "Weather", desc="Sun and rain."),
        program("news.example", xmltv(8), xmltv(9), "Late Morning News"),
        program("sport.example", xmltv(10), xmltv(12), "Football", category="Sports"),
    )


@pytest.fixture(autouse=True)
def _guides_on_localhost(settings):
    settings.EPG_ALLOW_PRIVATE_URLS = True  # the guide server listens on 127.0.0.1
    settings.EPG_FETCH_TIMEOUT = 20


@pytest.fixture
def server():
    guide_server = GuideServer()
    yield guide_server
    guide_server.close()


def make_source(portal, name="xmltv.main", url="https://epg.example.com/guide.xml", **extra) -> EpgSource:
    return epg_services.create_epg_source(portal, caller=Caller(portal=portal),
                                          data={"name": name, "url": url, **extra})


def fetch_now(source: EpgSource) -> EpgFetch:
    fetch, _ = epg_services.request_fetch(source)
    return epg_services.run_fetch(fetch.id)


@pytest.fixture
def source(portal):
    return make_source(portal)


@pytest.fixture
def loaded(portal, server):
    """A source fetched once from the guide server, and a channel using it."""
    source = make_source(portal, url=server.serve("/guide.xml", todays_guide()))
    assert fetch_now(source).status == FetchStatus.SUCCESS
    make_channel(portal, "news", "News 24", epgSourceName=source.name, epgChannelName="news.example")
    return source


HTMX = {"HX-Request": "true"}  # what htmx sends with every request


def htmx_get(client, url: str, data=None) -> str:
    """``url`` as htmx asks for it: never stored, and told apart from the page by caches."""
    response = client.get(url, data, headers=HTMX)
    assert response.status_code == 200, url
    assert "no-store" in response["Cache-Control"] and "HX-Request" in response["Vary"]
    return response.content.decode()


def status_section(html: str) -> str:
    """The opening tag of the live status block (its htmx attributes)."""
    return re.search(r'<section class="card live-status" id="epg-live-status".*?>', html, re.S).group(0)


def suggestions(client, url: str, source: str, typed: str = "") -> tuple[list[str], str]:
    """The EPG channel IDs a channel form page offers for ``source`` and ``typed``, and its hint."""
    block = htmx_get(client, url, {"epg_source": source, "epg_channel_name": typed})
    assert block.lstrip().startswith('<div class="epg-names" id="epg-names"') and "<form" not in block
    return epg_options(block), epg_hint(block)


def epg_options(html: str) -> list[str]:
    datalist = re.search(r'<datalist id="epg-channel-names">(.*?)</datalist>', html, re.S).group(1)
    return re.findall(r'<option value="([^"]*)">', datalist)


def epg_hint(html: str) -> str:
    found = re.search(r'<p class="help epg-names-hint"[^>]*data-testid="epg-names-hint"( hidden)?>(.*?)</p>', html, re.S)
    return "" if found.group(1) else found.group(2)


def programs_table(response) -> str:
    """The programme browser's table (empty when it shows none)."""
    found = re.search(r'data-testid="programs">(.*?)</table>', page(response), re.S)
    return found.group(1) if found else ""


def screens(source) -> list[str]:
    return ["/epg-sources/", f"/epg-sources/{source.public_id}/"]


# --- Who sees what ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_manager_reads_the_epg_screens(persona, web, loaded):
    client = web[persona]
    for url in screens(loaded):
        response = client.get(url)
        assert response.status_code == 200, url
        html = page(response)
        assert "xmltv.main" in html and '>EPG</a>' in html, url
        assert 'aria-current="page">EPG<' in html, url
    # The live block asks the page while a fetch runs; none runs: the whole page, its block polls no more.
    answer = htmx_get(client, f"/epg-sources/{loaded.public_id}/")
    assert "<html" in answer and 'data-status="success"' in status_section(answer)
    assert "hx-trigger" not in status_section(answer)
    channel = Channel.objects.get(name="news")
    assert suggestions(client, f"/channels/{channel.public_id}/", "xmltv.main")[0] == ["news.example",
                                                                                       "sport.example"]


@pytest.mark.parametrize("persona", CONTENT_WRITERS)
def test_content_admins_see_the_write_buttons(persona, web, source):
    client = web[persona]
    listing = page(client.get("/epg-sources/"))
    assert "Add EPG source" in listing and "Update now" in listing
    assert f"/epg-sources/{source.public_id}/edit/" in listing and f"/epg-sources/{source.public_id}/delete/" in listing
    detail = page(client.get(f"/epg-sources/{source.public_id}/"))
    assert "Update now" in detail and "/edit/" in detail and "/delete/" in detail


@pytest.mark.parametrize("persona", CONTENT_READERS)
def test_readers_see_no_write_buttons(persona, web, source):
    client = web[persona]
    for html in (page(client.get("/epg-sources/")), page(client.get(f"/epg-sources/{source.public_id}/"))):
        assert "Add EPG source" not in html and "Update now" not in html
        assert "/edit/" not in html and "/delete/" not in html and "/update/" not in html


def test_sources_of_another_portal_are_not_found(web, source, other_portal):
    theirs = make_source(other_portal, "their.guide")
    client = web["owner"]
    assert "their.guide" not in page(client.get("/epg-sources/"))
    for url in [f"/epg-sources/{theirs.public_id}/", f"/epg-sources/{theirs.public_id}/edit/",
                f"/epg-sources/{theirs.public_id}/delete/"]:
        assert client.get(url).status_code == 404, url
        assert client.get(url, headers=HTMX).status_code == 404, url
    for url in [f"/epg-sources/{theirs.public_id}/edit/", f"/epg-sources/{theirs.public_id}/delete/",
                f"/epg-sources/{theirs.public_id}/update/"]:
        assert client.post(url, {"name": "stolen", "url": "https://x.example.com/g.xml"}).status_code == 404, url
    assert suggestions(client, "/channels/new/", "their.guide") == ([], "")  # nothing of theirs is offered
    theirs.refresh_from_db()
    assert theirs.name == "their.guide" and not EpgFetch.objects.filter(epg_source=theirs).exists()


@pytest.mark.parametrize("bad_id", ["not-an-id", "AAAAAAAAAAAA"])
def test_malformed_source_ids_are_not_found(bad_id, web):
    assert web["owner"].get(f"/epg-sources/{bad_id}/").status_code == 404
    assert web["owner"].get(f"/epg-sources/{bad_id}/", headers=HTMX).status_code == 404


def test_anonymous_visitors_are_sent_to_the_login(client, source):
    url = f"/epg-sources/{source.public_id}/"
    response = client.get(url)
    assert response.status_code == 302 and response["Location"] == f"/login/?next={url}"
    # The live block of a page whose login ended: htmx is told to send the whole page to the login form.
    response = client.get(url, headers={**HTMX, "HX-Current-URL": f"http://testserver{url}?date=2026-01-02"})
    assert response.status_code == 200 and response["HX-Redirect"] == f"/login/?next={url}%3Fdate%3D2026-01-02"
    response = client.get("/channels/new/", {"epg_source": "xmltv.main"}, headers=HTMX)
    assert response.status_code == 200 and response["HX-Redirect"].startswith("/login/?next=")
    assert b"epg-channel-names" not in response.content


# --- Create, edit, delete ---------------------------------------------------------------------------------


def test_the_empty_list_explains_what_an_xmltv_source_is(web, portal):
    html = page(web["viewer"].get("/epg-sources/"))
    assert "No EPG sources yet" in html and "XMLTV" in html


def test_creating_a_source_stores_and_logs_it(web, portal):
    client = web["content"]
    response = client.post("/epg-sources/new/", {"name": "xmltv.uk", "url": " https://epg.example.com/uk.xml.gz ",
                                                 "period": "3"})
    assert response.status_code == 302
    source = EpgSource.objects.get(portal=portal, name="xmltv.uk")
    assert response["Location"] == f"/epg-sources/{source.public_id}/"
    assert (source.url, source.period) == ("https://epg.example.com/uk.xml.gz", 3)
    operation = Operation.objects.get(type=OperationType.CREATE_EPG_SOURCE)
    assert operation.actor_email == "content@example.com" and operation.payload["name"] == "xmltv.uk"
    html = page(client.get(response["Location"]))
    assert "EPG source xmltv.uk created." in html and "Never fetched" in html
    rows = table(client.get("/epg-sources/"))
    assert "xmltv.uk" in rows and "3 days" in rows and "Never fetched" in rows


def test_an_empty_period_means_one_day(web, portal):
    assert web["owner"].post("/epg-sources/new/", {"name": "daily", "url": "http://epg.example.com/g.xml",
                                                   "period": ""}).status_code == 302
    assert EpgSource.objects.get(name="daily").period == 1


def test_a_duplicate_name_is_409_on_the_name_field(web, source):
    response = web["owner"].post("/epg-sources/new/", {"name": "xmltv.main", "url": "https://b.example.com/g.xml",
                                                       "period": "1"})
    assert response.status_code == 409
    assert re.search(r'class="form-field has-error">\s*<label for="id_name"', page(response))
    assert "Name must be unique: an EPG source named xmltv.main already exists." in page(response)
    assert EpgSource.objects.count() == 1


@pytest.mark.parametrize(("url", "message"), [
    ("ftp://epg.example.com/guide.xml", "Only http:// and https:// URLs are supported."),
    ("not a url", "Only http:// and https:// URLs are supported."),
    ("https://", "Not a valid URL."),
    ("", "This field is required."),
])
def test_a_bad_url_is_400_on_the_url_field(web, portal, url, message):
    response = web["owner"].post("/epg-sources/new/", {"name": "ok-name", "url": url, "period": "1"})
    assert response.status_code == 400
    html = page(response)
    assert re.search(r'class="form-field has-error">\s*<label for="id_url"', html)
    assert message in html
    assert not EpgSource.objects.exists()


def test_a_bad_name_and_period_are_400_on_their_fields(web, portal):
    response = web["owner"].post("/epg-sources/new/", {"name": "x", "url": "https://e.example.com/g.xml",
                                                       "period": "0"})
    assert response.status_code == 400
    html = page(response)
    assert "Must be 2–64 characters" in html and "Must be a whole number of days from 1 to 3650." in html
    response = web["owner"].post("/epg-sources/new/", {"name": "fine", "url": "https://e.example.com/g.xml",
                                                       "period": "weekly"})
    assert response.status_code == 400 and "Enter a whole number." in page(response)
    assert not EpgSource.objects.exists()


def test_editing_a_source_changes_and_logs_it(web, source):
    client = web["content"]
    form = page(client.get(f"/epg-sources/{source.public_id}/edit/"))
    assert 'value="xmltv.main"' in form and 'value="https://epg.example.com/guide.xml"' in form
    response = client.post(f"/epg-sources/{source.public_id}/edit/", {
        "name": "xmltv.renamed", "url": "https://epg.example.com/new.xml", "period": "7"})
    assert response.status_code == 302 and response["Location"] == f"/epg-sources/{source.public_id}/"
    source.refresh_from_db()
    assert (source.name, source.url, source.period) == ("xmltv.renamed", "https://epg.example.com/new.xml", 7)
    operation = Operation.objects.get(type=OperationType.UPDATE_EPG_SOURCE)
    assert operation.actor_email == "content@example.com"
    assert set(operation.payload["changes"]) == {"name", "url", "period"}
    assert "EPG source xmltv.renamed saved." in page(client.get(response["Location"]))


def test_editing_into_a_taken_name_is_409(web, portal, source):
    other = make_source(portal, "other.guide")
    response = web["owner"].post(f"/epg-sources/{other.public_id}/edit/", {
        "name": "xmltv.main", "url": other.url, "period": "1"})
    assert response.status_code == 409 and "an EPG source named xmltv.main already exists." in page(response)
    other.refresh_from_db()
    assert other.name == "other.guide"


def test_delete_confirmation_names_the_channels_whose_epg_is_cleared(web, portal, source):
    make_channel(portal, "news", "News 24", epgSourceName="xmltv.main", epgChannelName="news.example")
    make_channel(portal, "sport", "Sport One", epgSourceName="xmltv.main", epgChannelName="sport.example")
    make_channel(portal, "kids", "Kids")
    client = web["content"]
    html = page(client.get(f"/epg-sources/{source.public_id}/delete/"))
    warning = re.search(r'data-testid="cleared-channels">(.*?)</div>', html, re.S).group(1)
    assert "2 channels use it" in warning and "News 24" in warning and "Sport One" in warning
    assert "Kids" not in warning
    response = client.post(f"/epg-sources/{source.public_id}/delete/")
    assert response.status_code == 302 and response["Location"] == "/epg-sources/"
    assert not EpgSource.objects.exists()
    assert set(Channel.objects.values_list("name", "epg_source", "epg_channel_name")) == {
        ("news", None, ""), ("sport", None, ""), ("kids", None, "")}
    operation = Operation.objects.get(type=OperationType.DELETE_EPG_SOURCE)
    assert operation.actor_email == "content@example.com" and operation.payload["channels"] == ["news", "sport"]
    assert "EPG source xmltv.main deleted. 2 channels lost their EPG: news, sport." in page(client.get("/epg-sources/"))


def test_deleting_an_unused_source_says_so(web, source):
    client = web["owner"]
    assert "No channel uses it." in page(client.get(f"/epg-sources/{source.public_id}/delete/"))
    client.post(f"/epg-sources/{source.public_id}/delete/")
    assert "EPG source xmltv.main deleted.</li>" in page(client.get("/epg-sources/"))


# --- Fetches ----------------------------------------------------------------------------------------------


def test_update_now_queues_one_fetch_and_a_second_press_shows_it(web, source):
    client = web["content"]
    response = client.post(f"/epg-sources/{source.public_id}/update/")
    assert response.status_code == 302 and response["Location"] == f"/epg-sources/{source.public_id}/"
    fetch = EpgFetch.objects.get(epg_source=source)
    assert (fetch.status, fetch.trigger) == (FetchStatus.QUEUED, "manual")
    html = page(client.get(response["Location"]))
    assert f"Update of xmltv.main started (job {fetch.job_id})." in html
    assert 'data-active="true"' in html and 'data-status="queued"' in html and fetch.job_id in html
    assert f'hx-get="/epg-sources/{source.public_id}/"' in status_section(html)
    assert 'hx-trigger="every 2s, catena:visible"' in status_section(html)
    again = client.post(f"/epg-sources/{source.public_id}/update/")
    assert again.status_code == 302
    assert EpgFetch.objects.filter(epg_source=source).count() == 1
    html = page(client.get(again["Location"]))
    assert f"xmltv.main is already being updated: job {fetch.job_id} is queued" in html
    rows = table(client.get("/epg-sources/"))
    assert 'data-status="queued"' in rows


def assert_queued_block(block: str, fetch: EpgFetch) -> None:
    """Queued: the block alone (no page around it), still polling."""
    assert block.lstrip().startswith('<section class="card live-status" id="epg-live-status"')
    assert block.rstrip().endswith("</section>") and "<html" not in block and 'id="history"' not in block
    assert 'data-status="queued"' in status_section(block) and fetch.job_id in block
    assert 'hx-trigger="every 2s, catena:visible"' in status_section(block)


def assert_final_page(final: str) -> None:
    """The whole page a poll gets once the fetch succeeded: the block's final state (no hx-trigger: the polling
    stops) and the sections it refreshes (hx-select-oob)."""
    assert "<html" in final and 'data-status="success"' in status_section(final)
    assert "hx-trigger" not in status_section(final) and "4</strong> imported" in final
    for section in ("epg-figures", "epg-details", "epg-chart", "history", "programs"):
        assert f'id="{section}"' in final, section
    assert re.search(r'data-testid="program-count">4<', final)


def assert_history_shows_the_fetch(html: str) -> None:
    """The source page's fetch history and duration chart: one manual fetch, 4 of 4 programs imported."""
    assert 'data-active="false"' in html
    history = re.search(r'data-testid="fetch-history">(.*?)</table>', html, re.S).group(1)
    assert "Manual" in history and 'data-status="success"' in history
    assert re.search(r'<td class="num">4</td>\s*<td class="num">4</td>\s*<td class="num">0</td>', history)
    assert 'data-testid="duration-chart"' in html and html.count('class="chart-bar"') == 1


def assert_programs_of_todays_guide(html: str, portal) -> None:
    """The source page's program browser: today's guide, in order, and a channel picker of its channels."""
    programs = re.search(r'data-testid="programs">(.*?)</table>', html, re.S).group(1)
    assert shown(portal, 6, 7) in programs and "Morning News" in programs and "The news of the morning." in programs
    assert "News" in programs and "Football" in programs and "sport.example" in programs
    assert programs.index("Morning News") < programs.index("Weather") < programs.index("Football")
    select = re.search(r'<select id="program-channel".*?</select>', html, re.S).group(0)
    assert '<option value="news.example">' in select and '<option value="sport.example">' in select


def test_a_fetch_runs_and_the_screens_show_its_outcome(web, portal, server):
    source = make_source(portal, url=server.serve("/guide.xml", todays_guide()))
    client = web["content"]
    client.post(f"/epg-sources/{source.public_id}/update/")
    fetch = EpgFetch.objects.get(epg_source=source)
    page_url = f"/epg-sources/{source.public_id}/"
    assert_queued_block(htmx_get(client, page_url), fetch)

    # While a worker runs it.
    EpgFetch.objects.filter(pk=fetch.pk).update(status=FetchStatus.RUNNING, started_at=timezone.now())
    block = htmx_get(client, page_url)
    assert "<html" not in block and 'data-status="running"' in status_section(block)
    assert "Downloading and importing" in block and "hx-trigger" in status_section(block)
    assert 'data-status="running"' in table(client.get("/epg-sources/"))

    # The worker's run, here synchronously. The next poll gets the whole page.
    EpgFetch.objects.filter(pk=fetch.pk).update(status=FetchStatus.QUEUED, started_at=None)
    assert epg_services.run_fetch(fetch.id).status == FetchStatus.SUCCESS
    assert_final_page(htmx_get(client, page_url))

    rows = table(client.get("/epg-sources/"))
    assert 'data-status="success"' in rows
    assert re.search(r'data-testid="program-count">4<', rows)
    html = page(client.get(f"/epg-sources/{source.public_id}/"))
    assert_history_shows_the_fetch(html)
    assert_programs_of_todays_guide(html, portal)


def test_a_failed_fetch_shows_error_with_its_message(web, portal, server):
    source = make_source(portal, url=server.serve("/broken.xml", b"gone", status=500))
    assert fetch_now(source).status == FetchStatus.ERROR
    client = web["viewer"]
    assert 'data-status="error"' in table(client.get("/epg-sources/"))
    html = page(client.get(f"/epg-sources/{source.public_id}/"))
    assert 'data-testid="fetch-message"' in html and "500" in html
    assert 'class="chart-bar chart-bar-failed"' in html


def test_the_program_browser_picks_a_day_and_a_channel(web, loaded):
    client = web["viewer"]
    url = f"/epg-sources/{loaded.public_id}/"
    rows = programs_table(client.get(url, {"channel": "sport.example"}))
    assert "Football" in rows and "Morning News" not in rows
    assert "sport.example</code>" not in rows  # one channel: no channel column
    html = page(client.get(url, {"date": (TODAY + dt.timedelta(days=1)).date().isoformat()}))
    assert "No programmes" in html and 'data-testid="programs"' not in html
    assert "Morning News" in programs_table(client.get(url, {"date": TODAY.date().isoformat()}))
    bad = client.get(url, {"date": "yesterday"})
    assert bad.status_code == 200 and "Date: Enter a valid date (YYYY-MM-DD)." in page(bad)


def channel_rows(client) -> dict[str, str]:
    """The channel list's rows by channel name."""
    return dict(re.findall(r"<code>(\w+)</code>(.*?)</tr>", table(client.get("/channels/")), re.S))


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "America/Los_Angeles"])
def test_today_is_the_utc_day_on_either_side_of_midnight_in_any_portal_zone(web, api, portal, loaded, zone,
                                                                            time_machine):
    """Half a minute before midnight UTC the guide's programs are today's; half a minute after, yesterday's —
    whatever the portal's time zone (UTC+14 is already in the next day, UTC−7 still in the same), which only
    changes how their times are shown."""
    assert api.put(f"{API}/portal", {"settings": {"timeZone": zone}}, format="json").status_code == 200
    portal.refresh_from_db()
    url = f"/epg-sources/{loaded.public_id}/"
    time_machine.move_to(TODAY + dt.timedelta(hours=23, minutes=59, seconds=30), tick=False)
    client = web["viewer"]
    programs = programs_table(client.get(url))
    assert shown(portal, 6, 7) in programs and "Morning News" in programs and "Football" in programs
    assert 'data-testid="epg-today"' in channel_rows(client)["news"]

    time_machine.move_to(TODAY + dt.timedelta(days=1, seconds=30), tick=False)
    assert programs_table(client.get(url)) == ""
    assert "Morning News" in programs_table(client.get(url, {"date": TODAY.date().isoformat()}))
    assert 'data-testid="epg-today-missing"' in channel_rows(client)["news"]


def test_programs_and_history_are_paged_separately(web, portal, source):
    client = web["viewer"]
    programs = [Program(portal=portal, epg_source=source, epg_channel_name="news.example",
                          start=TODAY + dt.timedelta(minutes=10 * n), end=TODAY + dt.timedelta(minutes=10 * n + 10),
                          title=f"Show {n:02d}", content_hash=n) for n in range(60)]
    Program.objects.bulk_create(programs)
    now = timezone.now()
    EpgFetch.objects.bulk_create([
        EpgFetch(portal=portal, epg_source=source, job_id=f"job-{n}", status=FetchStatus.SUCCESS, finished_at=now,
                 import_duration=n / 10, fetch_duration=0.1, message=f"run {n:02d}") for n in range(55)])
    url = f"/epg-sources/{source.public_id}/"
    html = page(client.get(url))
    assert "Show 49" in html and "Show 50" not in html
    assert "run 54" in html and "run 04" not in html
    assert html.count('class="chart-bar"') == 20  # the newest 20 fetches
    next_programs = re.search(r'href="(\?programs=[^"#]+#programs)"', html).group(1)
    more = page(client.get(url + next_programs.split("#")[0].replace("&amp;", "&")))
    assert "Show 50" in more and "Show 49" not in more and "run 54" in more  # history stays on its first page
    next_history = re.search(r'href="(\?history=[^"#]+)#history"', html).group(1)
    older = page(client.get(url + next_history))
    assert "run 04" in older and "run 54" not in older and "Show 00" in older
    assert client.get(url, {"programs": "garbage"}).status_code == 404


# --- Channels ---------------------------------------------------------------------------------------------


def test_the_channel_list_marks_channels_with_epg_today(web, portal, loaded):
    make_channel(portal, "sport", "Sport One", epgSourceName="xmltv.main", epgChannelName="nothing.here")
    make_channel(portal, "plain", "Plain")
    html = table(web["viewer"].get("/channels/"))
    rows = {name: row for name, row in re.findall(r"<code>(\w+)</code>(.*?)</tr>", html, re.S)}
    assert 'data-testid="epg-today"' in rows["news"]
    assert 'data-testid="epg-today-missing"' in rows["sport"]
    assert "epg-today" not in rows["plain"]


def test_the_channel_form_offers_the_epg_channel_names_of_the_chosen_source(web, portal, loaded):
    client = web["content"]
    html = page(client.get("/channels/new/"))
    assert re.search(r'<div class="epg-names" id="epg-names" data-testid="epg-names" data-source=""\s+'
                     r'hx-get="/channels/new/" hx-include="#id_epg_source, #id_epg_channel_name"', html)
    assert 'hx-trigger="change from:#id_epg_source, input changed delay:250ms from:#id_epg_channel_name"' in html
    assert re.search(r'<input type="text" name="epg_channel_name"[^>]* list="epg-channel-names"', html)
    assert epg_options(html) == [] and epg_hint(html) == ""  # no source chosen yet

    # Choosing the source, then typing: the page answers htmx with the block alone.
    assert suggestions(client, "/channels/new/", "xmltv.main") == (
        ["news.example", "sport.example"], "2 EPG channel IDs in xmltv.main: type to search them.")
    assert suggestions(client, "/channels/new/", "xmltv.main", "SPO") == (
        ["sport.example"], "1 of 2 EPG channel IDs in xmltv.main contain “SPO”.")
    assert suggestions(client, "/channels/new/", "xmltv.main", "tv.") == (
        [], "0 of 2 EPG channel IDs in xmltv.main contain “tv.”.")
    empty = make_source(portal, "empty.guide")
    assert suggestions(client, "/channels/new/", empty.name) == (
        [], "empty.guide has no programmes yet, so no EPG channel IDs to suggest.")
    assert suggestions(client, "/channels/new/", "nope") == ([], "")
    assert suggestions(client, "/channels/new/", "") == ([], "")

    # The channel page offers its source's IDs at once, and answers htmx the same way.
    channel = Channel.objects.get(name="news")
    html = page(client.get(f"/channels/{channel.public_id}/"))
    assert epg_options(html) == ["news.example"]  # the field holds news.example already
    assert 'data-source="xmltv.main"' in html and f'hx-get="/channels/{channel.public_id}/"' in html
    assert suggestions(client, f"/channels/{channel.public_id}/", "xmltv.main", "s")[0] == ["news.example",
                                                                                           "sport.example"]
    viewer_page = page(web["viewer"].get(f"/channels/{channel.public_id}/"))
    assert 'id="epg-names"' not in viewer_page and 'list="epg-channel-names"' not in viewer_page  # read-only form
    # The create page is the Content permission's, its block too.
    assert web["viewer"].get("/channels/new/", {"epg_source": "xmltv.main"}, headers=HTMX).status_code == 403


def test_a_long_guide_offers_the_first_suggestions_and_says_how_to_narrow_them(web, loaded, monkeypatch):
    from content import views

    monkeypatch.setattr(views, "EPG_NAME_SUGGESTIONS", 1)
    assert suggestions(web["content"], "/channels/new/", "xmltv.main", ".example") == (
        ["news.example"], "2 of 2 EPG channel IDs in xmltv.main contain “.example”. "
                          "The first 1 are offered; type more to narrow them.")


# --- Cost -------------------------------------------------------------------------------------------------


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_the_source_list_costs_the_same_queries_for_few_or_many_sources(web, portal, server,
                                                                        django_assert_max_num_queries):
    client = web["viewer"]
    url = server.serve("/guide.xml", todays_guide())
    fetch_now(make_source(portal, "first", url))
    _queries(client, "/epg-sources/")  # warm up: the session's first touch is a write
    few = _queries(client, "/epg-sources/")
    for n in range(8):
        source = make_source(portal, f"more-{n}", url)
        if n % 2:
            fetch_now(source)
        if n % 3 == 0:
            epg_services.request_fetch(source)
    with django_assert_max_num_queries(few):
        assert client.get("/epg-sources/").status_code == 200


def test_the_source_page_costs_the_same_queries_for_few_or_many_fetches(web, portal, server,
                                                                        django_assert_max_num_queries):
    client = web["viewer"]
    source = make_source(portal, url=server.serve("/guide.xml", todays_guide()))
    fetch_now(source)
    url = f"/epg-sources/{source.public_id}/"
    _queries(client, url)
    few = _queries(client, url)
    for _ in range(4):
        fetch_now(source)
    epg_services.request_fetch(source)
    with django_assert_max_num_queries(few):
        assert client.get(url).status_code == 200
