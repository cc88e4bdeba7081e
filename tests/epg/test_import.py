"""Fetch + import against a real local HTTP server: what is stored, and what the fetch record says."""

from __future__ import annotations

import datetime as dt

import pytest

from content.models import EpgSource, Program
from portals.auth import Caller
from portals.services import update_portal
from tests.epg.helpers import at, fetch_now, guide, gzipped, make_source, program, stored
from tests.web.conftest import logged_in_client
from tests.web.test_portal_settings import settings_form

pytestmark = pytest.mark.django_db

TWO_CHANNELS = guide(
    program("one.tv", 0, 1, "News", desc="The news.", category="News", sub_title="Morning edition",
              episode_num="0.4.", body='<icon src="https://img.example.tv/n.png"/><rating system="age">'
                                       '<value>12+</value></rating>'),
    program("one.tv", 1, 2, "Weather"),
    program("two.tv", 0, 2, "Film"),
    channels=("one.tv", "two.tv"),
)


@pytest.fixture
def source(portal, server):
    return make_source(portal, url=server.url("/guide.xml"))


def figures(fetch) -> tuple:
    return (fetch.status, fetch.channels, fetch.found_programs, fetch.imported_programs, fetch.deleted_programs)


def test_a_plain_guide_is_imported_with_every_field(source, server):
    server.serve("/guide.xml", TWO_CHANNELS, headers={"Content-Type": "application/xml"})
    fetch = fetch_now(source)
    assert figures(fetch) == ("success", 2, 3, 3, 0), fetch.message
    assert fetch.message == ("EPG source fetched successfully: 3 programmes found for 2 channels, 3 imported, "
                             "0 deleted.")
    assert fetch.fetch_duration >= 0 and fetch.import_duration >= 0 and fetch.fetched_at is not None
    assert stored(source) == [("one.tv", at(0), at(1), "News"), ("one.tv", at(1), at(2), "Weather"),
                              ("two.tv", at(0), at(2), "Film")]
    news = Program.objects.get(title="News")
    assert (news.language, news.description, news.genre, news.rating, news.subtitle, news.icon, news.episode) == (
        "en", "The news.", "News", "12+", "Morning edition", "https://img.example.tv/n.png", "0.4.")
    assert news.portal_id == source.portal_id
    source.refresh_from_db()
    assert source.last_fetch_id == fetch.id and source.failures == 0
    assert source.next_fetch_at == fetch.created_at + dt.timedelta(days=1)


def test_a_gzip_guide_is_recognised_by_its_bytes_whatever_its_name(source, server):
    server.serve("/guide.xml", gzipped(TWO_CHANNELS), headers={"Content-Type": "text/plain"})
    fetch = fetch_now(source)
    assert figures(fetch) == ("success", 2, 3, 3, 0), fetch.message


def test_a_plain_guide_named_gz_is_read_as_plain(source, server):
    source.url = server.serve("/guide.xml.gz", TWO_CHANNELS, headers={"Content-Type": "application/gzip"})
    source.save()
    assert figures(fetch_now(source)) == ("success", 2, 3, 3, 0)


def test_content_encoding_gzip_and_a_gzipped_file_inside_are_both_undone(source, server):
    server.serve("/guide.xml", gzipped(gzipped(TWO_CHANNELS)), headers={"Content-Encoding": "gzip"})
    assert figures(fetch_now(source)) == ("success", 2, 3, 3, 0)


def test_times_with_offsets_are_stored_in_utc_and_without_offset_are_utc(source, server):
    server.serve("/guide.xml", guide(
        program("one.tv", 0, 1, "Moscow", offset=180),           # 03:00 +0300 is 00:00 UTC
        program("one.tv", 1, 2, "New York", offset=-300),        # 20:00 -0500 the day before
        program("one.tv", at(2).strftime("%Y%m%d%H%M%S"), at(3).strftime("%Y%m%d%H%M%S"), "Bare"),
        program("one.tv", at(3).strftime("%Y%m%d%H%M"), at(4).strftime("%Y%m%d%H%M +0000"), "Short"),
    ))
    fetch = fetch_now(source)
    assert figures(fetch) == ("success", 1, 4, 4, 0), fetch.message
    assert stored(source) == [("one.tv", at(0), at(1), "Moscow"), ("one.tv", at(1), at(2), "New York"),
                              ("one.tv", at(2), at(3), "Bare"), ("one.tv", at(3), at(4), "Short")]


def test_a_missing_stop_ends_at_the_next_program_and_the_last_one_is_skipped(source, server):
    server.serve("/guide.xml", guide(
        program("one.tv", 0, None, "Open ended"),
        program("one.tv", 1, 2, "Closed"),
        program("one.tv", 2, None, "Last, no stop"),
        program("two.tv", 5, None, "Alone"),
    ))
    fetch = fetch_now(source)
    assert figures(fetch) == ("success", 1, 4, 2, 0), fetch.message
    assert stored(source) == [("one.tv", at(0), at(1), "Open ended"), ("one.tv", at(1), at(2), "Closed")]
    assert "Skipped 2 programmes: 2 no stop time and no later programme on the channel." in fetch.message


def test_invalid_programs_are_skipped_and_counted_by_reason(source, server):
    server.serve("/guide.xml", guide(
        program("one.tv", 0, 1, "Good"),
        program("one.tv", 1, 2, None),                    # no title
        program("one.tv", 2, 2, "Zero length"),           # stop = start
        program("one.tv", 4, 3, "Backwards"),             # stop < start
        program("one.tv", "tomorrow", 5, "Bad start"),
        program("one.tv", 6, "20301340990000 +0000", "Bad stop"),
        program("", 7, 8, "No channel"),
        program("one.tv", 8, 9, "   "),                   # blank title
    ))
    fetch = fetch_now(source)
    assert figures(fetch) == ("success", 1, 8, 1, 0), fetch.message
    assert stored(source) == [("one.tv", at(0), at(1), "Good")]
    for text in ("2 no title", "2 stop not after start", "1 missing or invalid start time", "1 invalid stop time",
                 "1 no channel", "Skipped 7 programmes"):
        assert text in fetch.message, fetch.message


def test_duplicates_are_stored_once(source, server):
    line = program("one.tv", 0, 1, "Twice")
    server.serve("/guide.xml", guide(line, line, program("one.tv", 1, 2, "Next"), line))
    fetch = fetch_now(source)
    assert fetch.status == "success" and fetch.found_programs == 4 and fetch.imported_programs == 2
    assert stored(source) == [("one.tv", at(0), at(1), "Twice"), ("one.tv", at(1), at(2), "Next")]
    assert "1 duplicate of the previous programme (same channel and start)" in fetch.message


# Titles, descriptions and categories in several languages; German is listed first.
MULTILINGUAL = guide(program("one.tv", 0, 1, None, body=(
    '<title lang="de">Nachrichten</title><title lang="en">News</title>'
    '<desc lang="de">Die Nachrichten.</desc><desc lang="en-GB">The news.</desc>'
    '<category lang="de">Nachrichten</category><category>News</category>')))


def test_the_portal_language_picks_title_and_description(source, server, portal):
    server.serve("/guide.xml", MULTILINGUAL)
    fetch_now(source)
    first = Program.objects.get()
    assert (first.title, first.language, first.description, first.genre) == (
        "Nachrichten", "de", "Die Nachrichten.", "Nachrichten")
    update_portal(portal, caller=Caller(portal=portal), data={"guideLanguage": "en"}, screen=True)
    Program.objects.all().delete()
    fetch_now(source)
    chosen = Program.objects.get()
    assert (chosen.title, chosen.language, chosen.description, chosen.genre) == ("News", "en", "The news.", "Nachrichten")


def test_the_guide_language_chosen_on_the_settings_screen_picks_the_next_fetch_titles(source, server, portal,
                                                                                       managers):
    server.serve("/guide.xml", MULTILINGUAL)
    owner = logged_in_client(managers["owner"])
    response = owner.post("/portal/settings/", settings_form(portal, guide_language="en-gb"))
    assert response.status_code == 302, response.content.decode()[:500]
    fetch = fetch_now(source)
    assert fetch.status == "success", fetch.message
    chosen = Program.objects.get()
    assert (chosen.title, chosen.language, chosen.description) == ("News", "en", "The news.")
    # Blank again: the first language the guide lists.
    owner.post("/portal/settings/", settings_form(portal, guide_language=""))
    fetch_now(source)
    assert Program.objects.get().title == "Nachrichten"


def test_reimporting_the_same_guide_changes_nothing(source, server):
    server.serve("/guide.xml", TWO_CHANNELS)
    fetch_now(source)
    before = list(Program.objects.order_by("id").values_list("id", "title"))
    again = fetch_now(source)
    assert figures(again) == ("success", 2, 3, 0, 0), again.message
    assert list(Program.objects.order_by("id").values_list("id", "title")) == before


def test_a_new_guide_replaces_each_channels_time_range_only(source, server):
    server.serve("/guide.xml", guide(
        program("one.tv", 0, 1, "A"), program("one.tv", 1, 2, "B"), program("one.tv", 2, 3, "C"),
        program("one.tv", 10, 11, "Later"), program("two.tv", 0, 1, "Other channel")))
    fetch_now(source)
    kept_id = Program.objects.get(title="A").id
    server.serve("/guide.xml", guide(
        program("one.tv", 0, 1, "A"),               # unchanged: kept as it is
        program("one.tv", 1, 2, "B, new title"),    # changed: replaced
        program("one.tv", 2, 4, "D"),               # C (2–3) overlaps: replaced
    ))
    fetch = fetch_now(source)
    assert figures(fetch) == ("success", 1, 3, 2, 0), fetch.message
    assert stored(source) == [
        ("one.tv", at(0), at(1), "A"), ("one.tv", at(1), at(2), "B, new title"), ("one.tv", at(2), at(4), "D"),
        ("one.tv", at(10), at(11), "Later"),          # outside the new file's range for one.tv: kept
        ("two.tv", at(0), at(1), "Other channel"),    # a channel absent from the file: kept
    ]
    assert Program.objects.get(title="A").id == kept_id


def test_programs_gone_from_the_range_are_deleted_and_counted(source, server):
    server.serve("/guide.xml", guide(program("one.tv", 0, 1, "A"), program("one.tv", 1, 2, "B"),
                                     program("one.tv", 2, 3, "C")))
    fetch_now(source)
    server.serve("/guide.xml", guide(program("one.tv", 0, 1, "A"), program("one.tv", 2, 3, "C")))
    fetch = fetch_now(source)
    assert figures(fetch) == ("success", 1, 2, 0, 1), fetch.message
    assert [row[3] for row in stored(source)] == ["A", "C"]


def test_programs_past_the_retention_period_are_deleted(source, server, settings):
    settings.EPG_RETENTION_DAYS = 14
    old = -24 * 20
    server.serve("/guide.xml", guide(program("old.tv", old, old + 1, "Ancient"), program("one.tv", 0, 1, "Now")))
    fetch = fetch_now(source)
    assert fetch.imported_programs == 2 and fetch.deleted_programs == 1
    assert [row[3] for row in stored(source)] == ["Now"]


def test_a_failed_fetch_leaves_the_previous_programs_intact(source, server):
    server.serve("/guide.xml", TWO_CHANNELS)
    fetch_now(source)
    before = stored(source)
    server.serve("/guide.xml", TWO_CHANNELS[:-30])  # cut off mid-document
    fetch = fetch_now(source)
    assert fetch.status == "error"
    assert fetch.message.startswith("The guide is not well-formed XML: no element found at line"), fetch.message
    assert stored(source) == before
    source.refresh_from_db()
    assert source.last_fetch_id == fetch.id and source.failures == 1


def test_bad_xml_names_line_and_column(source, server):
    server.serve("/guide.xml", b'<?xml version="1.0"?>\n<tv>\n  <programme start="x" channel="a">\n</tv>\n')
    fetch = fetch_now(source)
    assert (fetch.status, fetch.message) == (
        "error", "The guide is not well-formed XML: mismatched tag at line 4, column 3.")
    assert fetch.found_programs == 0 and not Program.objects.exists()


def test_a_document_that_is_not_xmltv_is_refused(source, server):
    server.serve("/guide.xml", b"<rss><channel/></rss>")
    fetch = fetch_now(source)
    assert (fetch.status, fetch.message) == ("error", "The document is not XMLTV: its root element is <rss>, not <tv>.")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE tv [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<tv><programme start="20300101000000" stop="20300101010000" channel="a"><title>&lol9;</title></programme></tv>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE tv [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<tv><programme start="20300101000000" stop="20300101010000" channel="a"><title>&secret;</title></programme></tv>
"""

EXTERNAL_PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE tv [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/evil.dtd"> %remote;]>
<tv/>
"""


@pytest.mark.parametrize(("document", "expected"), [
    (BILLION_LAUGHS, "Refused the guide: it declares the entity 'lol' at line 3"),
    (EXTERNAL_ENTITY, "Refused the guide: it declares the entity 'secret' at line 2"),
    (EXTERNAL_PARAMETER_ENTITY, "Refused the guide: it declares the entity 'remote' at line 2"),
])
def test_entity_declarations_and_external_references_are_refused(source, server, document, expected):
    server.serve("/guide.xml", document)
    fetch = fetch_now(source)
    assert fetch.status == "error" and fetch.message.startswith(expected), fetch.message
    assert not Program.objects.exists()
    assert server.requests == ["/guide.xml"]  # nothing else was fetched


def test_a_plain_doctype_is_accepted_and_never_fetched(source, server):
    server.serve("/guide.xml", guide(program("one.tv", 0, 1), doctype=True).replace(
        b'SYSTEM "xmltv.dtd"', f'SYSTEM "{server.url("/xmltv.dtd")}"'.encode()))
    fetch = fetch_now(source)
    assert fetch.status == "success" and fetch.imported_programs == 1
    assert server.requests == ["/guide.xml"]


# The same attacks, each pointing at the test's own HTTP server, which records whether it was contacted.
def _remote_entity(url: str) -> bytes:
    return (f'<?xml version="1.0"?>\n<!DOCTYPE tv [<!ENTITY secret SYSTEM "{url}">]>\n'
            '<tv><programme start="20300101000000" stop="20300101010000" channel="a"><title>&secret;</title>'
            '</programme></tv>').encode()


def _remote_parameter_entity(url: str) -> bytes:
    return f'<?xml version="1.0"?>\n<!DOCTYPE tv [<!ENTITY % remote SYSTEM "{url}"> %remote;]>\n<tv/>'.encode()


def _unparsed_entity(url: str) -> bytes:
    return (f'<?xml version="1.0"?>\n<!DOCTYPE tv [<!NOTATION gif SYSTEM "image/gif">'
            f'<!ENTITY logo SYSTEM "{url}" NDATA gif>]>\n<tv/>').encode()


def _xinclude(url: str) -> bytes:
    return (f'<?xml version="1.0"?>\n<tv>\n<programme start="20300101000000" stop="20300101010000" channel="a">'
            f'<title>Show</title></programme>\n<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{url}"/>'
            '</tv>').encode()


@pytest.mark.parametrize(("build", "expected"), [
    (_remote_entity, "Refused the guide: it declares the entity 'secret' at line 2, column 67 "
                     "(entity declarations are not allowed)."),
    (_remote_parameter_entity, "Refused the guide: it declares the entity 'remote' at line 2, column 69 "
                               "(entity declarations are not allowed)."),
    (_unparsed_entity, "Refused the guide: it declares the unparsed entity 'logo' at line 2, column 106 "
                       "(entity declarations are not allowed)."),
    (_xinclude, "Refused the guide: it declares the XInclude namespace at line 4, column 1 "
                "(XInclude is not supported; included documents are never fetched)."),
], ids=["external entity", "external DTD through a parameter entity", "unparsed entity", "XInclude"])
def test_attacks_on_our_own_server_are_refused_without_contacting_it(source, server, build, expected):
    server.serve("/evil", b'<!ENTITY leak "stolen">')
    server.serve("/guide.xml", build(server.url("/evil")))
    fetch = fetch_now(source)
    assert (fetch.status, fetch.message) == ("error", expected)
    assert fetch.found_programs == 0 and not Program.objects.exists()
    assert server.requests == ["/guide.xml"]  # the referenced document was never asked for


def test_an_external_dtd_is_never_fetched_and_its_entities_are_not_read(source, server):
    server.serve("/evil.dtd", b'<!ENTITY leak "stolen">')
    server.serve("/guide.xml", guide(program("one.tv", 0, 1, body="<desc>Story &leak;</desc>")).replace(
        b'SYSTEM "xmltv.dtd"', f'SYSTEM "{server.url("/evil.dtd")}"'.encode()))
    fetch = fetch_now(source)
    assert fetch.status == "success" and fetch.imported_programs == 1, fetch.message
    assert Program.objects.get().description == "Story"  # the entity was not expanded: its DTD was never read
    assert server.requests == ["/guide.xml"]


def test_a_404_is_an_error_naming_the_status(source, server):
    fetch = fetch_now(source)
    assert (fetch.status, fetch.message) == ("error", f"The server answered HTTP 404 Not Found for {source.url}.")
    assert fetch.fetched_at is not None and fetch.import_duration is None


def test_a_slow_server_hits_the_timeout(source, server, settings):
    settings.EPG_FETCH_TIMEOUT = 1
    server.serve("/guide.xml", TWO_CHANNELS, trickle=0.05)
    fetch = fetch_now(source)
    assert fetch.status == "timeout"
    assert fetch.message.startswith("Timed out after 1 s (EPG_FETCH_TIMEOUT) while downloading the guide"), fetch.message
    assert not Program.objects.exists()


def test_an_oversized_guide_is_refused_counting_decompressed_bytes(source, server, settings):
    settings.EPG_MAX_BYTES = 10_000
    padding = program("one.tv", 0, 1, "x" * 20_000)
    server.serve("/guide.xml", gzipped(guide(padding)))  # ~200 bytes on the wire
    fetch = fetch_now(source)
    assert (fetch.status, fetch.message) == (
        "error", "The guide is larger than EPG_MAX_BYTES (10,000 bytes after decompression); nothing was imported.")
    assert not Program.objects.exists()


def test_a_gzip_bomb_stops_at_the_limit(source, server, settings):
    settings.EPG_MAX_BYTES = 1_000_000
    server.serve("/guide.xml", gzipped(b"<tv>" + b" " * 50_000_000 + b"</tv>"))
    fetch = fetch_now(source)
    assert fetch.status == "error" and "EPG_MAX_BYTES" in fetch.message


def test_redirects_are_followed(source, server):
    server.serve("/real.xml", TWO_CHANNELS)
    server.redirect("/guide.xml", "/moved.xml", 301)
    server.redirect("/moved.xml", server.url("/real.xml"), 307)
    assert fetch_now(source).status == "success"


def test_more_than_five_redirects_are_refused(source, server):
    for hop in range(6):
        server.redirect("/guide.xml" if hop == 0 else f"/hop{hop}", f"/hop{hop + 1}")
    fetch = fetch_now(source)
    assert fetch.status == "error" and fetch.message.startswith("Too many redirects (more than 5)"), fetch.message


def test_the_private_url_guard_refuses_loopback(source, server, settings):
    settings.EPG_ALLOW_PRIVATE_URLS = False
    server.serve("/guide.xml", TWO_CHANNELS)
    fetch = fetch_now(source)
    assert fetch.status == "error"
    assert "resolves to the non-public address 127.0.0.1" in fetch.message, fetch.message
    assert server.requests == []


def test_the_guard_checks_redirect_targets_again(portal, server, settings, monkeypatch):
    """A public URL redirecting to 127.0.0.1 is refused at the redirect, before any request there."""
    from content.epg import guard

    settings.EPG_ALLOW_PRIVATE_URLS = False
    real_resolve = guard.resolve

    def resolve(url, *, allow_private):
        if "public.example" in url:  # pretend this name is public, and route it to the test server
            target = real_resolve(url.replace("public.example", "127.0.0.1"), allow_private=True)
            return guard.Target(url, target.scheme, "public.example", target.port, target.path, target.addresses)
        return real_resolve(url, allow_private=allow_private)

    monkeypatch.setattr(guard, "resolve", resolve)
    server.redirect("/guide.xml", server.url("/inside.xml"))
    server.serve("/inside.xml", TWO_CHANNELS)
    source = make_source(portal, url=f"http://public.example:{server.port}/guide.xml")
    fetch = fetch_now(source)
    assert fetch.status == "error" and "non-public address 127.0.0.1" in fetch.message, fetch.message
    assert server.requests == ["/guide.xml"]


def test_a_connection_refused_is_an_error(source, server):
    server.close()
    fetch = fetch_now(source)
    assert fetch.status == "error" and fetch.message.startswith(f"Cannot fetch {source.url}:"), fetch.message


def test_a_source_deleted_during_its_fetch_ends_the_fetch_quietly(source, server, monkeypatch):
    from content.epg import importer

    server.serve("/guide.xml", TWO_CHANNELS)
    real_begin = importer._begin_merge

    def delete_first(source_id, deadline):
        EpgSource.objects.filter(pk=source_id).delete()
        real_begin(source_id, deadline)

    monkeypatch.setattr(importer, "_begin_merge", delete_first)
    assert fetch_now(source) is not None
    assert not Program.objects.exists()


def test_a_guide_in_reverse_order_with_duplicates_is_stored_once_and_reimports_unchanged(source, server,
                                                                                          monkeypatch):
    from content.epg import pgstore

    monkeypatch.setattr(pgstore.BulkLoad, "LATE_BUFFER", 2)  # flush late rows (and reopen the COPY) often
    items = [program("one.tv", h, h + 1, f"P{h}") for h in range(10)]
    items += [program("two.tv", h, h + 1, f"Q{h}") for h in range(3)]
    server.serve("/guide.xml", guide(*reversed(items), items[4], items[0]))
    fetch = fetch_now(source)
    assert figures(fetch) == ("success", 2, 15, 13, 0), fetch.message
    assert [row[3] for row in stored(source)] == [f"P{h}" for h in range(10)] + [f"Q{h}" for h in range(3)]
    assert figures(fetch_now(source)) == ("success", 2, 15, 0, 0)


def test_an_empty_guide_succeeds_and_changes_nothing(source, server):
    server.serve("/guide.xml", TWO_CHANNELS)
    fetch_now(source)
    server.serve("/guide.xml", guide())
    assert figures(fetch_now(source)) == ("success", 0, 0, 0, 0)
    assert len(stored(source)) == 3


def test_https_checks_the_certificate_of_the_host_name(portal, tls_server):
    tls_server.serve("/guide.xml", TWO_CHANNELS)
    source = make_source(portal, url=tls_server.url("/guide.xml", host="localhost"))
    fetch = fetch_now(source)
    assert fetch.status == "error" and "CERTIFICATE_VERIFY_FAILED" in fetch.message, fetch.message


def test_https_works_through_the_vetted_address(portal, tls_server, certificate, monkeypatch):
    """The socket goes to the checked IP, yet TLS verifies the certificate for the URL's host name."""
    import ssl

    from content.epg import http

    trusting = ssl.create_default_context(cafile=certificate)
    monkeypatch.setattr(http.ssl, "create_default_context", lambda: trusting)
    tls_server.serve("/guide.xml", TWO_CHANNELS)
    source = make_source(portal, url=tls_server.url("/guide.xml", host="localhost"))
    assert figures(fetch_now(source)) == ("success", 2, 3, 3, 0)
    wrong_name = make_source(portal, "by-ip", url=tls_server.url("/guide.xml"))  # the certificate names localhost
    fetch = fetch_now(wrong_name)
    assert fetch.status == "error" and "IP address mismatch" in fetch.message, fetch.message


def test_a_merge_that_outlives_the_deadline_is_a_timeout_and_changes_nothing(source, server, monkeypatch):
    import time

    from django.db import connection

    from content.epg import importer

    if connection.vendor != "postgresql":
        pytest.skip("statement_timeout bounds the merge on PostgreSQL")
    server.serve("/guide.xml", TWO_CHANNELS)
    fetch_now(source)
    before = stored(source)
    server.serve("/guide.xml", guide(program("one.tv", 0, 1, "Changed")))
    real_begin = importer._begin_merge

    def slow_begin(source_id, deadline):
        deadline.ends_at = time.monotonic() + 0.3  # what is left of EPG_FETCH_TIMEOUT for the merge
        real_begin(source_id, deadline)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(2)")

    monkeypatch.setattr(importer, "_begin_merge", slow_begin)
    fetch = fetch_now(source)
    assert (fetch.status, fetch.message) == (
        "timeout", "Timed out after 20 s (EPG_FETCH_TIMEOUT) while writing the programmes; nothing was changed.")
    assert stored(source) == before
