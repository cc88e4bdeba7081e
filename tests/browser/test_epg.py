"""EPG screens in a real browser: a source on a local guide server, Update now, the live status, the
programme browser, and the channel form's EPG channel suggestions."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo

import pytest

from content.epg import services as epg_services
from content.models import Channel, EpgFetch, EpgSource, FetchStatus
from portals.models import Portal
from tests.epg.conftest import GuideServer
from tests.epg.helpers import guide, program

from .conftest import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The screens' "today" is the UTC day of the server's clock; the live server is a thread of this process, so
# ``_at_noon`` sets its clock too: noon UTC of this day, whenever the run happens (a run crossing midnight UTC
# would otherwise look for the guide's programs on the next day).
TODAY = dt.datetime(2026, 6, 15, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _at_noon(time_machine):
    time_machine.move_to(TODAY + dt.timedelta(hours=12))  # before the login; the clock runs on from there (tick)


def xmltv(hours: float) -> str:
    return (TODAY + dt.timedelta(hours=hours)).strftime("%Y%m%d%H%M%S +0000")


GUIDE = guide(
    program("news.example", xmltv(6), xmltv(7), "Morning News", desc="The news of the morning.", category="News"),
    program("news.example", xmltv(7), xmltv(8), "Weather"),
    program("sport.example", xmltv(10), xmltv(12), "Football", category="Sports"),
)


@pytest.fixture
def guide_url(settings):
    settings.EPG_ALLOW_PRIVATE_URLS = True  # the guide server listens on 127.0.0.1
    settings.EPG_FETCH_TIMEOUT = 20
    server = GuideServer()
    yield server.serve("/guide.xml", GUIDE)
    server.close()


def run_tasks_inline(settings, monkeypatch) -> None:
    """No Celery worker here: tasks run inline. The Celery app may have read its configuration already in
    this test run, so it is told directly as well as through the settings."""
    from catena_site.celery import app

    # In this order: the app's configuration reads the Django settings live, so the value monkeypatch keeps
    # to restore must be read before the setting changes (else it restores True, and later tests run eagerly).
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    settings.CELERY_TASK_ALWAYS_EAGER = True


def add_source(page, url: str) -> None:
    page.click("nav >> text=EPG")
    page.wait_for_selector("text=No EPG sources yet")
    page.click("text=Add EPG source")
    page.fill("input[name=name]", "xmltv.main")
    page.fill("input[name=url]", url)
    page.fill("input[name=period]", "2")
    page.click("button:has-text('Add EPG source')")
    page.wait_for_selector("text=EPG source xmltv.main created.")
    assert page.text_content("[data-testid=live-status] [data-testid=epg-status]") == "Never fetched"


def update_now(page) -> None:
    page.click("button:has-text('Update now')")
    page.wait_for_selector("text=Update of xmltv.main started")


def test_update_now_fetches_the_guide_and_shows_its_programs(owner_page, guide_url, settings, monkeypatch):
    # No Celery worker here: the fetch runs inline, when "Update now" commits its queued fetch.
    run_tasks_inline(settings, monkeypatch)
    page = owner_page
    add_source(page, guide_url)

    update_now(page)
    assert page.text_content("[data-testid=live-status] [data-testid=epg-status]") == "Success"
    assert EpgFetch.objects.get().status == FetchStatus.SUCCESS
    programs = page.locator("[data-testid=programs]")
    zone = zoneinfo.ZoneInfo(Portal.objects.get().effective_settings["timeZone"])  # the screens' times
    morning = "–".join((TODAY + dt.timedelta(hours=h)).astimezone(zone).strftime("%H:%M") for h in (6, 7))
    assert programs.locator("tr", has_text="Morning News").locator(f"text={morning}").is_visible()
    assert programs.locator("text=Football").is_visible()
    page.select_option("#program-channel", "sport.example")
    page.click("button:has-text('Show')")
    page.wait_for_url(re.compile(r"channel=sport\.example"))
    assert page.locator("[data-testid=programs] >> text=Football").is_visible()
    assert page.locator("[data-testid=programs] >> text=Morning News").count() == 0
    assert page.locator("[data-testid=duration-chart] rect.chart-bar").count() == 1

    # The list shows the outcome too.
    page.click("nav >> text=EPG")
    row = page.locator("[data-testid=epg-source-row]", has_text="xmltv.main")
    assert row.locator("[data-testid=epg-status]").text_content() == "Success"
    assert row.locator("[data-testid=program-count]").text_content() == "3"


def test_the_live_status_follows_a_running_fetch_without_reloading(owner_page, guide_url, monkeypatch):
    # The job is not sent anywhere: the test plays the worker once the page shows the queued fetch.
    monkeypatch.setattr(epg_services, "_enqueue", lambda fetch: None)
    page = owner_page
    add_source(page, guide_url)
    update_now(page)
    status = page.locator("[data-testid=live-status] [data-testid=epg-status]")
    assert status.text_content() == "Queued"
    assert page.locator("text=No fetches yet").count() == 0  # the queued fetch is in the history
    page.evaluate("window.stillTheSamePage = true")

    assert page.get_attribute("#epg-live-status", "hx-trigger") == "every 2s, catena:visible"  # htmx polls
    polls = []  # the block's requests (htmx sends HX-Request)
    page.on("request", lambda request: polls.append(request.url) if request.headers.get("hx-request") else None)
    for _ in range(100):  # the block asks at least once while the fetch is still queued
        if polls:
            break
        page.wait_for_timeout(100)
    assert polls and status.text_content() == "Queued"

    fetch = EpgFetch.objects.get()
    epg_services.run_fetch(fetch.id)
    wait_until(page, "document.querySelector('[data-testid=live-status] [data-testid=epg-status]')"
                     ".textContent === 'Success'", timeout=15)
    assert page.evaluate("window.stillTheSamePage") is True  # swapped in place, not reloaded
    assert polls and all(url.endswith(f"/epg-sources/{fetch.epg_source.public_id}/") for url in polls)
    # The final block has no hx-trigger: the polling stops; the figures, history and programmes followed.
    assert page.get_attribute("#epg-live-status", "hx-trigger") is None
    assert page.get_attribute("#epg-live-status", "data-active") == "false"
    assert page.locator("[data-testid=programs] >> text=Morning News").is_visible()
    assert page.locator("[data-testid=program-count]").text_content() == "3"
    assert page.locator("[data-testid=fetch-history] [data-testid=epg-status]").first.text_content() == "Success"
    assert page.locator("[data-testid=duration-chart] rect.chart-bar").count() == 1
    asked = len(polls)
    page.wait_for_timeout(4500)  # more than two polling periods
    assert len(polls) == asked


def wait_settled(page, selector: str) -> None:
    """Wait until the block ``selector`` is on the page and htmx has settled it. htmx binds a swapped-in block's
    triggers only when it settles (``htmx-settling`` goes away): input typed before that reaches no block."""
    wait_until(page, f"document.querySelector({selector!r}) !== null && "
                     f"!document.querySelector({selector!r}).classList.contains('htmx-settling')")


def test_the_channel_form_suggests_the_epg_channel_ids_of_the_source(owner_page, guide_url, settings, monkeypatch):
    run_tasks_inline(settings, monkeypatch)
    page = owner_page
    add_source(page, guide_url)
    update_now(page)

    page.click("nav >> text=Channels")
    open_channel_form(page)
    page.fill("input[name=name]", "news-24")
    page.fill("input[name=title]", "News 24")
    page.select_option("select[name=epg_source]", "xmltv.main")
    wait_settled(page, "#epg-names[data-source='xmltv.main']")
    assert suggested(page) == ["news.example", "sport.example"]
    assert page.get_attribute("input[name=epg_channel_name]", "list") == "epg-channel-names"
    assert "2 EPG channel IDs in xmltv.main" in page.text_content("[data-testid=epg-names-hint]")
    # Typing narrows the suggestions (the page answers htmx with the block).
    page.type("input[name=epg_channel_name]", "spo", delay=50)
    # Wait for the answer to "spo" itself: "sp" already leaves one suggestion, and a block swapped in while the
    # next input waits out its delay takes that input's request with it (the old block leaves the page).
    wait_until(page, "document.querySelector('[data-testid=epg-names-hint]').textContent.includes('“spo”')")
    wait_settled(page, "#epg-names")
    assert suggested(page) == ["sport.example"]
    assert page.text_content("[data-testid=epg-names-hint]") == "1 of 2 EPG channel IDs in xmltv.main contain “spo”."
    assert page.input_value("input[name=epg_channel_name]") == "spo"  # the swap leaves the typing alone
    page.fill("input[name=epg_channel_name]", "news.example")
    wait_until(page, "document.querySelector('#epg-channel-names option') !== null && "
                     "document.querySelector('#epg-channel-names option').value === 'news.example'")
    page.click("button:has-text('Add channel')")
    page.wait_for_selector("text=Channel news-24 saved.")
    row = page.locator("tr", has_text="News 24")
    assert row.locator("[data-testid=epg-today]").is_visible()
    channel = Channel.objects.get(name="news-24")
    assert (channel.epg_source, channel.epg_channel_name) == (EpgSource.objects.get(), "news.example")

    # No source: no suggestions.
    open_channel_form(page)
    page.select_option("select[name=epg_source]", "xmltv.main")
    wait_settled(page, "#epg-names[data-source='xmltv.main']")
    page.select_option("select[name=epg_source]", "")
    wait_settled(page, "#epg-names[data-source='']")
    assert suggested(page) == []
    assert page.is_hidden("[data-testid=epg-names-hint]")


def open_channel_form(page) -> None:
    """Open the new-channel form and wait for its ``load`` event: htmx binds the form's triggers when the
    document has loaded, and a source chosen before that would ask for no suggestions."""
    page.click("text=Add channel")
    page.wait_for_url(re.compile(r"/channels/new/$"))
    page.wait_for_load_state("load")


def suggested(page) -> list[str]:
    return page.eval_on_selector_all("#epg-channel-names option", "options => options.map(o => o.value)")


MAPPING_GUIDE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<tv>\n'
    '<channel id="bbcone.uk"><display-name lang="en">BBC One</display-name></channel>\n'
    '<channel id="discovery"><display-name>Discovery Channel Europe</display-name></channel>\n'
    + program("bbcone.uk", xmltv(30), xmltv(31), "News") + "</tv>\n").encode()


def test_accept_all_on_the_mapping_screen_maps_every_suggested_channel(owner_page, settings):
    from portals.auth import Caller
    from portals.models import Portal
    from tests.content.test_channels_api import make_channel

    settings.EPG_ALLOW_PRIVATE_URLS = True
    server = GuideServer()
    try:
        portal = Portal.objects.get(name="main-portal")
        source = epg_services.create_epg_source(portal, caller=Caller(portal=portal), data={
            "name": "xmltv.main", "url": server.serve("/m.xml", MAPPING_GUIDE)})
        fetch, _ = epg_services.request_fetch(source, trigger="manual")
        assert epg_services.run_fetch(fetch.id).status == FetchStatus.SUCCESS
        make_channel(portal, "bbc1", "BBC One HD")
        make_channel(portal, "disc", "Discovery Channel Europ")
        make_channel(portal, "cartoon", "Cartoon Network")
        page = owner_page
        page.goto(f"/epg-sources/{source.public_id}/")
        page.click("[data-testid=map-channels]")
        page.wait_for_selector("text=XMLTV channels of the guide")
        assert page.locator("[data-testid=mapping-row]").count() == 3
        page.click("button:has-text('Accept all 2 suggestions')")
        page.wait_for_selector("text=2 channels now read their guide from xmltv.main")
        assert page.locator("[data-testid=mapping-row]").count() == 1  # the unmapped one left: no match
        assert dict(Channel.objects.filter(epg_source=source).values_list("name", "epg_channel_name")) == {
            "bbc1": "bbcone.uk", "disc": "discovery"}
    finally:
        server.close()
