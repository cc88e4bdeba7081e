"""The seven list screens through ``PortalListView``: sortable columns on keyset pages, page size, the total,
the CSV export of exactly the filtered rows, filters by name, names as links, tenancy and permissions.

Each screen is one row of ``SCREENS``: how to build its rows (through the services), how to read a row's key in
the table and in the CSV, and which columns sort.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid
from dataclasses import dataclass, field

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catena_site import lists
from catena_site.ids import encode_id, new_id
from content import services as content
from content.epg import services as epg_services
from content.models import Channel, EpgSource, Package
from monitoring.models import PlaySession
from monitoring.operations import Actor, Operation, OperationType, record
from portals.auth import Caller
from portals.models import Manager
from subscribers import services as subscribers
from subscribers.models import Subscriber
from tests.factories import make_manager

from .conftest import page

ROWS = 60  # rows of each list: three pages of 25
PER_PAGE = 25


# --- Data, through the services -------------------------------------------------------------------------------


def owner(portal) -> Caller:
    return Caller(portal=portal)


def make_channel(portal, name: str, title: str | None = None, **extra) -> Channel:
    return content.create_channel(portal, caller=owner(portal), data={"name": name, "title": title or name, **extra})


def make_package(portal, name: str, description: str = "") -> Package:
    return content.create_package(portal, caller=owner(portal), data={"name": name, "description": description})


_phones = iter(range(2000000000, 2999999999, 7919))


def make_subscriber(portal, name: str, phone: str | None = None, packages=()) -> Subscriber:
    subscriber = subscribers.create_subscriber(
        portal, caller=owner(portal),
        data={"name": name, "phoneCountryCode": "44", "phone": phone or str(next(_phones))})
    for package in packages:
        subscribers.subscribe(subscriber, package, caller=owner(portal))
    return subscriber


def log(portal, *, name: str, subscriber_id=None, package_id=None) -> Operation:
    with transaction.atomic():
        return record(portal, OperationType.CREATE_SUBSCRIBER, actor=Actor.system(), payload={"name": name},
                      subscriber_id=subscriber_id, package_id=package_id)


def play(portal, subscriber, channel, opened_at: dt.datetime) -> PlaySession:
    """A finished play session written directly, at a set time (as the history tests do)."""
    return PlaySession.objects.create(
        portal=portal, subscriber_id=subscriber.id, channel_id=channel.id, channel_name=channel.name,
        streamer_session_id=str(uuid.uuid4()), token=subscriber.playback_token, opened_at=opened_at,
        updated_at=opened_at, closed_at=opened_at + dt.timedelta(minutes=5), active=False, close_reason="streamer",
        bytes=1024, ip="198.51.100.7", user_agent="VLC/3.0.20", proto="hls")


def build_channels(portal, n):
    for i in range(n):
        make_channel(portal, f"c{i:02d}", f"title {i % 7}", epgChannelName=f"epg{i % 5}")


def build_packages(portal, n):
    for i in range(n):
        make_package(portal, f"p{i:02d}")


def build_subscribers(portal, n):
    for i in range(n):
        make_subscriber(portal, f"sub {i % 7} {i:02d}" if i % 2 else f"sub {i % 7}")


def build_managers(portal, n):
    for i in range(n - 1):  # and the owner
        make_manager(portal, f"m{i:02d}@example.com", name=f"name {i % 7}")


def build_epg_sources(portal, n):
    for i in range(n):
        epg_services.create_epg_source(portal, caller=owner(portal), data={
            "name": f"src{i:02d}", "url": f"https://epg.example.com/{i % 7}.xml", "period": i % 3 + 1})


def build_operations(portal, n):
    for i in range(n):
        log(portal, name=f"op{i:02d}")


def build_play_sessions(portal, n):
    subscriber = make_subscriber(portal, "Viewer")
    channel = make_channel(portal, "news", "News")
    start = timezone.now().replace(microsecond=0) - dt.timedelta(days=3)
    for i in range(n):
        # several sessions share an opening time: the ID must break the tie on every page
        play(portal, subscriber, channel, start + dt.timedelta(minutes=i // 4))


@dataclass
class Screen:
    url: str
    model: type
    build: object
    row_key: str  # regex: the key of a row in the table
    key_field: str  # the model field holding that key
    csv_key: str  # the CSV column holding it
    sorts: list[str] = field(default_factory=list)
    default: tuple[str, ...] = ("-id",)
    only: dict = field(default_factory=dict)  # the rows the test made (the managers' own operations aside)

    def keys_in_order(self, portal, ordering) -> list[str]:
        queryset = self.model.objects.filter(portal=portal, **self.only).order_by(*ordering)
        if self.model is PlaySession:
            return [encode(pk) for pk in queryset.values_list("id", flat=True)]
        return [str(value) for value in queryset.values_list(self.key_field, flat=True)]


def encode(pk) -> str:
    return encode_id(pk)


SCREENS = {
    "channels": Screen("/channels/", Channel, build_channels, r"<td><code>([^<]+)</code></td>", "name",
                       "Technical name", ["title", "name", "epg_channel_name"], ("title", "id")),
    "packages": Screen("/packages/", Package, build_packages, r"<strong>([^<]+)</strong>", "name", "Name",
                       ["name"], ("name", "id")),
    "subscribers": Screen("/subscribers/", Subscriber, build_subscribers,
                          r'<td><a href="/subscribers/[^/]+/">([^<]+)</a></td>', "name", "Name",
                          ["name", "full_phone"]),
    "managers": Screen("/managers/", Manager, build_managers, r"<tr>\s*<td>([^<\s]+)", "email", "Email",
                       ["email", "name"], ("id",)),
    "epg sources": Screen("/epg-sources/", EpgSource, build_epg_sources, r"<strong>([^<]+)</strong>", "name",
                          "Name", ["name", "url", "period"], ("name", "id")),
    "operations": Screen("/operations/", Operation, build_operations, r"<summary>name: ([^<]+)</summary>",
                         "payload__name", "Details", ["id"], only={"type": OperationType.CREATE_SUBSCRIBER}),
    "play sessions": Screen("/play-sessions/history/", PlaySession, build_play_sessions,
                            r'<tr data-session-id="([^"]+)">', "id", "", ["opened_at"], ("-opened_at", "-id")),
}


def table_keys(screen: Screen, html: str) -> list[str]:
    body = html[html.find("<tbody>"):html.find("</tbody>")] if "<tbody>" in html else ""
    return re.findall(screen.row_key, body)


def next_link(html: str) -> str | None:
    found = re.search(r'href="(\?[^"]+)" rel="next"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def walk(client, screen: Screen, query: str) -> list[str]:
    """Every row key of the list, page after page by its "Next" links."""
    keys, url, pages = [], f"{screen.url}?{query}", 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        html = page(response)
        keys += table_keys(screen, html)
        link = next_link(html)
        url = f"{screen.url}{link}" if link else None
        pages += 1
        assert pages < 20
    return keys


def export(client, url: str, **params):
    response = client.get(url, {**params, "format": "csv"})
    assert response.status_code == 200, response
    assert response.streaming and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def export_lines(client, url: str, **params) -> list[str]:
    response = client.get(url, {**params, "format": "csv"})
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode().splitlines()


# --- Sorting on keyset pages, page size, the total --------------------------------------------------------------


SORT_CASES = [(name, column) for name, screen in SCREENS.items() for column in screen.sorts]


@pytest.mark.parametrize("name, column", SORT_CASES, ids=[f"{n}-{c}" for n, c in SORT_CASES])
def test_each_sortable_column_pages_through_every_row_once_in_order_both_ways(name, column, web, portal, managers,
                                                                             other_portal):
    screen = SCREENS[name]
    screen.build(portal, ROWS if name != "managers" else ROWS - len(managers) + 1)
    screen.build(other_portal, 3)  # never listed
    for direction in ("", "-"):
        ordering = (f"{direction}{column}",) if column == "id" else (f"{direction}{column}", f"{direction}id")
        expected = screen.keys_in_order(portal, ordering)
        assert len(expected) == ROWS
        assert walk(web["viewer"], screen, f"sort={direction}{column}&perPage={PER_PAGE}") == expected


@pytest.mark.parametrize("name", SCREENS)
def test_the_default_order_is_kept_and_the_heading_links_sort(name, web, portal, managers):
    screen = SCREENS[name]
    screen.build(portal, 6)
    html = page(web["viewer"].get(screen.url))
    assert table_keys(screen, html) == screen.keys_in_order(portal, screen.default)
    for column in screen.sorts:
        assert re.search(rf'href="\?[^"]*sort=-?{column}[^"]*" data-sort-link', html)


@pytest.mark.parametrize("name", SCREENS)
def test_the_page_size_is_a_choice_and_the_total_counts_the_filtered_rows(name, web, portal, managers):
    screen = SCREENS[name]
    screen.build(portal, ROWS if name != "managers" else ROWS - len(managers) + 1)
    html = page(web["viewer"].get(screen.url, {"perPage": "25"}))
    assert len(table_keys(screen, html)) == 25 and next_link(html)
    assert '<option value="25" selected>25</option>' in html
    assert f'data-testid="list-total">{screen.model.objects.filter(portal=portal).count()} rows<' in html
    html = page(web["viewer"].get(screen.url, {"perPage": "100"}))
    assert len(table_keys(screen, html)) == ROWS and not next_link(html)


@pytest.mark.parametrize("name", SCREENS)
@pytest.mark.parametrize("query, message", [({"perPage": "7"}, "Rows per page: choose one of 25, 50, 100, 200."),
                                            ({"perPage": "lots"}, "Rows per page:"),
                                            ({"sort": "password"}, "Sort: password is not a sortable column")])
def test_an_unknown_page_size_or_sort_column_is_explained(name, query, message, web, portal):
    screen = SCREENS[name]
    screen.build(portal, 2)
    response = web["viewer"].get(screen.url, query)
    assert response.status_code == 200
    assert message in page(response) and table_keys(screen, page(response)) == []


def test_a_hand_edited_page_link_is_not_found(web, portal):
    build_channels(portal, 30)
    assert web["viewer"].get("/channels/", {"sort": "name", "cursor": "garbage!"}).status_code == 404
    html = page(web["viewer"].get("/operations/", {"perPage": "25"}))
    cursor = re.search(r"cursor=([^&\"]+)", next_link(html)).group(1)  # one value; a title sort needs two
    assert web["viewer"].get("/channels/", {"sort": "title", "cursor": cursor}).status_code == 404


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_a_big_result_shows_the_planner_estimate_without_counting(web, portal, monkeypatch):
    build_operations(portal, 40)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE monitoring_operation")
    monkeypatch.setattr(lists, "EXACT_COUNT_LIMIT", 10)  # 40 rows stand for the millions of production
    with CaptureQueriesContext(connection) as queries:
        html = page(web["viewer"].get("/operations/"))
    total = re.search(r'data-testid="list-total">about (\d+) rows<', html)
    assert total and int(total.group(1)) > 10
    assert not [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()
                and "monitoring_operation" in q["sql"]]


@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_a_small_filtered_result_of_a_big_table_is_counted_exactly(web, portal, monkeypatch):
    build_operations(portal, 40)
    alice = make_subscriber(portal, "Alice")
    log(portal, name="about alice", subscriber_id=alice.id)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE monitoring_operation")
    monkeypatch.setattr(lists, "EXACT_COUNT_LIMIT", 10)
    html = page(web["viewer"].get("/operations/", {"subscriberId": alice.public_id}))
    assert re.search(r'data-testid="list-total">\d+ rows?<', html)


def test_on_sqlite_or_small_tables_the_total_is_exact(web, portal):
    build_packages(portal, 3)
    html = page(web["viewer"].get("/packages/", {"search": "p0"}))
    assert 'data-testid="list-total">3 rows<' in html
    html = page(web["viewer"].get("/packages/", {"search": "p01"}))
    assert 'data-testid="list-total">1 row<' in html


# --- CSV export -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in SCREENS if SCREENS[n].csv_key])
def test_the_csv_export_holds_exactly_the_rows_of_the_list_in_its_order(name, web, portal, other_portal, managers):
    screen = SCREENS[name]
    screen.build(portal, ROWS if name != "managers" else ROWS - len(managers) + 1)
    screen.build(other_portal, 3)
    column = screen.sorts[-1]
    shown = walk(web["viewer"], screen, f"sort=-{column}&perPage=25")
    exported = export(web["viewer"], screen.url, sort=f"-{column}")
    if name == "operations":  # the managers' own operations aside
        exported = [row for row in exported if row["Type"] == OperationType.CREATE_SUBSCRIBER]
        keys = [re.search(r'"name": "([^"]+)"', row["Details"]).group(1) for row in exported]
    else:
        keys = [row[screen.csv_key] for row in exported]
    assert keys == shown and len(keys) == ROWS


def test_the_play_session_export_holds_the_filtered_sessions(web, portal, other_portal):
    build_play_sessions(portal, 30)
    build_play_sessions(other_portal, 3)
    shown = walk(web["viewer"], SCREENS["play sessions"], "perPage=25")
    exported = export(web["viewer"], "/play-sessions/history/")
    assert len(exported) == len(shown) == 30
    assert [row["Subscriber"] for row in exported] == ["Viewer"] * 30
    assert [row["Opened (UTC)"] for row in exported] == sorted((row["Opened (UTC)"] for row in exported),
                                                              reverse=True)


def test_the_export_follows_the_filter(web, portal):
    basic = make_package(portal, "basic")
    for i in range(5):
        make_subscriber(portal, f"Basic {i}", packages=[basic])
    for i in range(3):
        make_subscriber(portal, f"Other {i}")
    exported = export(web["viewer"], "/subscribers/", packageId=basic.public_id)
    assert sorted(row["Name"] for row in exported) == [f"Basic {i}" for i in range(5)]
    assert exported[0].keys() == {"Name", "Phone", "Packages", "Expires", "Last activity", "Status"}


@pytest.mark.parametrize("url, params", [("/subscribers/", {"search": "nobody"}), ("/channels/", {"search": "zz"}),
                                         ("/packages/", {"search": "zz"}), ("/managers/", {"search": "zz"}),
                                         ("/epg-sources/", {"search": "zz"}), ("/operations/", {"type": "deleteChannel"}),
                                         ("/play-sessions/history/", {"active": "true"})])
def test_an_export_matching_nothing_is_the_header_line_alone(url, params, web, portal):
    make_subscriber(portal, "Somebody")
    lines = export_lines(web["viewer"], url, **params)
    assert len(lines) == 1 and lines[0]


def test_an_export_with_an_invalid_filter_is_a_400_naming_it(web, portal):
    response = web["viewer"].get("/operations/", {"type": "noSuchType", "format": "csv"})
    assert response.status_code == 400
    assert b"Type: Unknown value: noSuchType." in b"".join(response.streaming_content)


def test_exported_cells_that_a_spreadsheet_would_run_are_quoted(web, portal):
    for name in ("=HYPERLINK(\"http://x\")", "+1+2", "-3", "@SUM(A1)", "Plain"):
        make_subscriber(portal, name)
    exported = export(web["viewer"], "/subscribers/", sort="name")
    names = [row["Name"] for row in exported]
    assert sorted(names) == sorted(["'=HYPERLINK(\"http://x\")", "'+1+2", "'-3", "'@SUM(A1)", "Plain"])
    assert all(not name.startswith(("=", "+", "-", "@")) for name in names)


def test_safe_cell_quotes_formulas_only():
    assert [lists.safe_cell(v) for v in ("=1", "+1", "-1", "@a", "\tx", "a=b", "", None, 5)] == [
        "'=1", "'+1", "'-1", "'@a", "'\tx", "a=b", "", "", "5"]


def test_another_portals_rows_never_appear_in_an_export(web, portal, other_portal):
    make_subscriber(portal, "Mine")
    make_subscriber(other_portal, "Theirs")
    log(other_portal, name="their op")
    assert [row["Name"] for row in export(web["viewer"], "/subscribers/")] == ["Mine"]
    assert "their op" not in "\n".join(export_lines(web["viewer"], "/operations/"))


@pytest.mark.parametrize("url", [s.url for s in SCREENS.values()])
def test_an_anonymous_export_is_sent_to_the_login_page(url, client, portal):
    make_subscriber(portal, "Secret")
    response = client.get(url, {"format": "csv"})
    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.parametrize("persona", ["owner", "admin", "content", "subscribers", "viewer"])
def test_every_persona_reads_and_exports_the_lists(persona, web, portal):
    make_subscriber(portal, "Alice")
    for screen in SCREENS.values():
        assert web[persona].get(screen.url).status_code == 200
        response = web[persona].get(screen.url, {"format": "csv"})
        assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"


# --- Filters by name ----------------------------------------------------------------------------------------


@pytest.fixture
def named(portal, other_portal):
    """Alice (phone +44 7700900123) and Bob; operations and sessions about each; another portal's Alice."""
    basic, sport = make_package(portal, "basic"), make_package(portal, "sport")
    news = make_channel(portal, "news", "News 24")
    kids = make_channel(portal, "kids", "Kids")
    content.add_channel_to_package(basic, news, caller=owner(portal))
    alice = make_subscriber(portal, "Alice Smith", "7700900123", packages=[basic])
    bob = make_subscriber(portal, "Bob Jones", packages=[sport])
    make_subscriber(other_portal, "Alice Smith", "7700900123")
    now = timezone.now()
    play(portal, alice, news, now - dt.timedelta(hours=2))
    play(portal, bob, kids, now - dt.timedelta(hours=1))
    return {"alice": alice, "bob": bob, "basic": basic, "sport": sport, "news": news, "kids": kids}


def operation_names(html: str) -> list[str]:
    return re.findall(r"<summary>name: ([^<;]+)", html)


def operation_rows(html: str) -> list[str]:
    body = html[html.find("<tbody>"):html.find("</tbody>")]
    return re.findall(r"<tr>.*?</tr>", body, re.S)


def session_subscribers(html: str) -> list[str]:
    return re.findall(r'<tr data-session-id="[^"]+">\s*<td><a href="/subscribers/[^/]+/">([^<]+)</a>', html)


@pytest.mark.parametrize("typed", ["Alice Smith", "alice smith", "+44 7700900123", "447700900123", "7700900123"])
def test_the_operations_log_takes_a_subscriber_by_name_or_phone(typed, web, portal, named):
    html = page(web["viewer"].get("/operations/", {"subscriberId": typed}))
    names = operation_names(html)
    assert names and all(name == "Alice Smith" for name in names)
    by_id = operation_names(page(web["viewer"].get("/operations/", {"subscriberId": named["alice"].public_id})))
    assert names == by_id


def test_the_operations_log_takes_a_package_by_name(web, portal, named):
    with_name = page(web["viewer"].get("/operations/", {"packageId": "SPORT"}))
    with_id = page(web["viewer"].get("/operations/", {"packageId": named["sport"].public_id}))
    rows = operation_rows(with_name)
    assert rows == operation_rows(with_id) and rows
    assert all('data-testid="operation-package">sport</a>' in row for row in rows)


def test_the_play_session_history_takes_a_subscriber_or_channel_by_name(web, portal, named):
    assert session_subscribers(page(web["viewer"].get("/play-sessions/history/", {"subscriberId": "Bob Jones"}))) \
        == ["Bob Jones"]
    for typed in ("news", "News 24", named["news"].public_id):
        html = page(web["viewer"].get("/play-sessions/history/", {"channelId": typed}))
        assert session_subscribers(html) == ["Alice Smith"]


def test_channels_and_subscribers_take_a_package_by_name(web, portal, named):
    html = page(web["viewer"].get("/channels/", {"packageId": "basic"}))
    assert re.findall(r"<td><code>([^<]+)</code></td>", html) == ["news"]
    exported = export(web["viewer"], "/subscribers/", packageId="Sport")
    assert [row["Name"] for row in exported] == ["Bob Jones"]


def test_a_name_that_matches_nothing_is_explained_and_lists_nothing(web, portal, named):
    response = web["viewer"].get("/operations/", {"subscriberId": "Nobody Here"})
    html = page(response)
    assert response.status_code == 200
    assert "Subscriber: nothing matches “Nobody Here”; enter a subscriber&#x27;s name, phone number or ID." in html
    assert operation_names(html) == []


def test_a_name_of_another_portal_matches_nothing(web, portal, other_portal, named):
    make_subscriber(other_portal, "Zed Other")
    html = page(web["viewer"].get("/operations/", {"subscriberId": "Zed Other"}))
    assert "nothing matches" in html and operation_names(html) == []


def test_an_id_still_means_the_id_and_the_api_still_refuses_a_name(web, api, portal, named):
    # A well-formed ID that is nobody's lists nothing (it is not read as a name).
    html = page(web["viewer"].get("/operations/", {"subscriberId": encode(new_id())}))
    assert "nothing matches" not in html and operation_names(html) == []
    # The API reads IDs only, as its documentation says: a name is a malformed ID.
    response = api.get("/tv-management/api/v1/operations", {"subscriberId": "Alice Smith"})
    assert response.status_code == 400 and "subscriberId" in response.json().get("errors", response.json())
    response = api.get("/tv-management/api/v1/play-sessions", {"channelId": "news"})
    assert response.status_code == 400


# --- Names as links -----------------------------------------------------------------------------------------


def test_the_operations_log_shows_names_as_links(web, portal, named):
    alice, sport = named["alice"], named["sport"]
    log(portal, name="linked", subscriber_id=alice.id, package_id=sport.id)
    html = page(web["viewer"].get("/operations/"))
    row = re.search(r"<tr>(?:(?!</tr>).)*name: linked.*?</tr>", html, re.S).group(0)
    assert f'<a href="/subscribers/{alice.public_id}/" data-testid="operation-subscriber">Alice Smith</a>' in row
    assert f'<a href="/packages/{sport.public_id}/" data-testid="operation-package">sport</a>' in row


def test_a_deleted_subscriber_is_named_as_deleted(web, portal, named):
    bob = named["bob"]
    bob_id = bob.public_id
    subscribers.delete_subscriber(bob, caller=owner(portal))
    html = page(web["viewer"].get("/operations/", {"subscriberId": bob_id}))
    assert "Deleted subscriber" in html and f"<code class=\"muted small\">{bob_id}</code>" in html


def test_the_names_cost_one_query_per_page_whatever_the_number_of_rows(web, portal):
    def queries_for(n):
        for i in range(n):
            subscriber = make_subscriber(portal, f"S{n}-{i}")
            package = make_package(portal, f"k{n}-{i}")
            log(portal, name=f"r{i}", subscriber_id=subscriber.id, package_id=package.id)
        with CaptureQueriesContext(connection) as queries:
            response = web["viewer"].get("/operations/", {"perPage": "200"})
        assert response.status_code == 200
        return len(queries.captured_queries)

    web["viewer"].get("/operations/")  # logged in
    assert queries_for(2) == queries_for(30)


def test_the_subscriber_card_shows_package_names_as_links(web, portal, named):
    alice = named["alice"]
    html = page(web["viewer"].get(f"/subscribers/{alice.public_id}/"))
    basic = named["basic"]
    assert f'<a href="/packages/{basic.public_id}/" data-testid="operation-package">basic</a>' in html
