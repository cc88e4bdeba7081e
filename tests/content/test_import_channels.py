import pytest
from django.core.management import CommandError, call_command

from content.imports import import_channels
from content.models import Channel, EpgSource, PackageChannel
from monitoring.operations import Operation
from portals.auth import Caller
from tests.content.test_channels_api import make_channel, make_package

GOOD = """name,title,epgSourceName,epgChannelName,packages
news,World News,guide,news.id,basic|premium
sport,Sport HD,,,premium
kids,Cartoons,,,
"""


@pytest.fixture
def setup(portal):
    EpgSource.objects.create(portal=portal, name="guide", url="https://epg.example.com/g.xml")
    make_package(portal, "basic")
    make_package(portal, "premium")
    return portal


def test_dry_run_reports_and_changes_nothing(setup):
    report = import_channels(setup, GOOD, caller=Caller(portal=setup), dry_run=True)
    assert report.ok and not report.applied
    assert [(r.line, r.name, r.action, r.packages) for r in report.rows] == [
        (2, "news", "create", ["basic", "premium"]), (3, "sport", "create", ["premium"]), (4, "kids", "create", [])]
    assert not Channel.objects.exists()


def test_real_run_creates_updates_and_links_with_operations(setup):
    make_channel(setup, "kids", "Old title")
    report = import_channels(setup, GOOD, caller=Caller(portal=setup), dry_run=False)
    assert report.applied and (report.created, report.updated) == (2, 1)
    assert Channel.objects.get(name="kids").title == "Cartoons"
    news = Channel.objects.get(name="news")
    assert news.epg_source.name == "guide" and news.epg_channel_name == "news.id"
    assert sorted(news.packages.values_list("name", flat=True)) == ["basic", "premium"]
    assert Operation.objects.filter(type="createChannel").count() == 3  # kids from setup + news + sport
    assert Operation.objects.filter(type="updateChannel").count() == 1
    assert Operation.objects.filter(type="addChannelToPackage").count() == 3


def test_any_bad_line_means_nothing_is_imported_and_every_error_is_reported(setup):
    bad = GOOD + "x,Too short name,,,\nnews,Duplicate,,,\nok1,,,,\nok2,Fine,no such,,\nok3,Fine,,,gold\n"
    report = import_channels(setup, bad, caller=Caller(portal=setup), dry_run=False)
    assert not report.ok and not report.applied
    errors = {row.line: row.errors for row in report.failed_rows}
    assert set(errors) == {5, 6, 7, 8, 9}
    assert "name" in errors[5][0]
    assert "Duplicate of line 2" in errors[6][0]
    assert "title" in errors[7][0]
    assert "epgSourceName" in errors[8][0]
    assert "gold" in errors[9][0]
    assert not Channel.objects.exists() and not PackageChannel.objects.exists()
    assert not Operation.objects.filter(type="createChannel").exists()


def test_a_file_without_the_header_is_refused(setup):
    report = import_channels(setup, "news,World\n", caller=Caller(portal=setup), dry_run=False)
    assert not report.ok and "header" in report.errors[0]


def test_command_imports_and_fails_on_errors(setup, tmp_path, capsys):
    path = tmp_path / "channels.csv"
    path.write_text(GOOD)
    call_command("import_channels", str(path), "--portal", setup.public_id, "--dry-run")
    assert not Channel.objects.exists()
    call_command("import_channels", str(path), "--portal", setup.name)
    assert Channel.objects.count() == 3
    assert Operation.objects.filter(type="createChannel").first().actor_type == "system"
    path.write_text(GOOD.replace("sport,Sport HD", "s,Sport HD"))
    with pytest.raises(CommandError):
        call_command("import_channels", str(path), "--portal", setup.name)
    assert "line 3" in capsys.readouterr().out
    assert Channel.objects.count() == 3 and Operation.objects.filter(type="createChannel").count() == 3


def test_viewers_cannot_import(setup, managers):
    from catena_site.errors import Forbidden

    with pytest.raises(Forbidden):
        import_channels(setup, GOOD, caller=Caller(portal=setup, manager=managers["viewer"]), dry_run=False)
    assert not Channel.objects.exists() and not PackageChannel.objects.exists()
    assert not Operation.objects.filter(type="createChannel").exists()


def test_a_name_another_portal_uses_on_the_same_streaming_server_is_a_line_error_and_nothing_is_imported(setup):
    from tests.factories import make_portal

    neighbour = make_portal("neighbour")  # the same (default) streaming server
    make_channel(neighbour, "sport", "Their sport")
    for dry_run in (True, False):
        report = import_channels(setup, GOOD, caller=Caller(portal=setup), dry_run=dry_run)
        assert not report.ok and not report.applied
        assert {row.line: row.errors for row in report.failed_rows} == {
            3: ["name: A channel named sport already exists on this streaming server."]}
    assert not Channel.objects.filter(portal=setup).exists() and not PackageChannel.objects.exists()
    assert not Operation.objects.filter(portal=setup, type="createChannel").exists()
    assert "neighbour" not in str(report.failed_rows)


def test_a_line_reports_every_fields_error_with_its_line_number(setup):
    text = "name,title,epgSourceName,epgChannelName,packages\nnews,News,,,\nx,,bad name,,gold\n"
    report = import_channels(setup, text, caller=Caller(portal=setup), dry_run=True)
    assert [(row.line, row.errors) for row in report.failed_rows] == [(3, [
        "name: Must be 2–20 characters: letters, digits, '-' or '_'.",
        "title: This field is required.",
        "epgSourceName: Must be 2–64 characters: letters, digits, '.', '-' or '_'.",
        "Unknown package: gold.",
    ])]


def test_a_line_may_name_an_epg_source_that_does_not_exist_yet(setup):
    text = "name,title,epgSourceName,epgChannelName,packages\nnews,News,later.guide,news.tv,\n"
    report = import_channels(setup, text, caller=Caller(portal=setup), dry_run=False)
    assert report.applied
    channel = Channel.objects.get()
    assert (channel.epg_source_name, channel.epg_source) == ("later.guide", None)


def test_the_optional_catalog_columns_are_imported(setup):
    from content import services

    caller = Caller(portal=setup)
    news = services.create_category(setup, caller=caller, data={"name": "news", "title": "News"})
    sport = services.create_category(setup, caller=caller, data={"name": "sport", "title": "Sport"})
    content = ("name,title,epgSourceName,epgChannelName,packages,number,categories,description,language\n"
               "bbc,BBC,,,,1,sport|news,British,en_GB\n"
               "yle,Yle,,,,,,,\n")
    report = import_channels(setup, content, caller=caller, dry_run=False)
    assert report.applied, [row.errors for row in report.rows]
    bbc = Channel.objects.get(name="bbc")
    assert (bbc.number, bbc.description, bbc.language) == (1, "British", "en_GB")
    assert list(bbc.category_links.values_list("category_id", flat=True)) == [sport.id, news.id]
    assert Channel.objects.get(name="yle").number is None


def test_bad_catalog_cells_are_reported_per_line_and_nothing_is_imported(setup):
    make_channel(setup, "old", "Old", number=7)
    content = ("name,title,number,categories,language\n"
               "aa,A,0,,\n"
               "bb,B,abc,,\n"
               "cc,C,7,,\n"
               "dd,D,8,nope,\n"
               "ee,E,8,,english\n")
    report = import_channels(setup, content, caller=Caller(portal=setup), dry_run=False)
    assert not report.applied
    errors = {row.line: " ".join(row.errors) for row in report.failed_rows}
    assert "number" in errors[2] and "number" in errors[3]
    assert "number is taken by old" in errors[4]
    assert "Unknown category: nope." in errors[5]
    assert "number is taken by dd" in errors[6] and "language" in errors[6]
    assert Channel.objects.count() == 1
