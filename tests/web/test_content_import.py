"""The bulk channel import screen: Check (dry run, nothing changes) and Import (all or nothing)."""

from __future__ import annotations

import re

from django.core.files.uploadedfile import SimpleUploadedFile

from content.models import Channel, PackageChannel
from tests.content.test_channels_api import make_channel, make_package

from .conftest import page

GOOD = (
    "name,title,epgSourceName,epgChannelName,packages\n"
    "news,News 24,,,basic\n"
    "sport,Sport One,,,basic|extra\n"
)
BAD = (
    "name,title,epgSourceName,epgChannelName,packages\n"
    "news,News 24,,,basic\n"
    "x,Too short,,,\n"
    "sport,,,,nope\n"
)


def csv_file(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("channels.csv", text.encode(), content_type="text/csv")


def report_rows(html: str) -> list[str]:
    start = html.index('data-testid="import-report"')
    return re.findall(r"<tr[^>]*>.*?</tr>", html[start:html.index("</table>", start)], re.S)[1:]


def test_the_screen_shows_the_header_and_an_example_file(web, portal):
    html = page(web["content"].get("/channels/import/"))
    assert "name,title,epgSourceName,epgChannelName,packages" in html
    example = web["content"].get("/channels/import/example.csv")
    assert example.status_code == 200 and example["Content-Type"].startswith("text/csv")
    assert example.content.decode().startswith("name,title,epgSourceName,epgChannelName,packages")


def test_check_lists_every_line_and_changes_nothing(web, portal):
    make_package(portal, "basic")
    make_package(portal, "extra")
    make_channel(portal, "news", "Old title")
    response = web["content"].post("/channels/import/", {"action": "check", "file": csv_file(GOOD)})
    assert response.status_code == 200
    html = page(response)
    assert "Check passed: 1 channels to create, 1 to update" in html
    rows = report_rows(html)
    assert len(rows) == 2
    assert ">2<" in rows[0] and "news" in rows[0] and "Update" in rows[0] and "basic" in rows[0]
    assert ">3<" in rows[1] and "sport" in rows[1] and "Create" in rows[1] and "extra" in rows[1]
    assert Channel.objects.get(name="news").title == "Old title"
    assert not Channel.objects.filter(name="sport").exists()
    assert "Import checked file" in html


def test_check_shows_each_lines_errors(web, portal):
    make_package(portal, "basic")
    response = web["content"].post("/channels/import/", {"action": "check", "file": csv_file(BAD)})
    html = page(response)
    assert "2 lines with errors" in html and "Import checked file" not in html
    rows = report_rows(html)
    assert len(rows) == 2  # only the failing lines
    assert ">3<" in rows[0] and "Must be 2–20 characters" in rows[0]
    assert ">4<" in rows[1] and "title: This field is required." in rows[1] and "Unknown package: nope." in rows[1]
    assert not Channel.objects.exists()


def test_import_with_errors_changes_nothing(web, portal):
    make_package(portal, "basic")
    response = web["content"].post("/channels/import/", {"action": "import", "file": csv_file(BAD)})
    assert response.status_code == 400
    assert "the import was refused" in page(response)
    assert not Channel.objects.exists()


def test_import_applies_and_reports_counts(web, portal):
    basic, extra = make_package(portal, "basic"), make_package(portal, "extra")
    client = web["content"]
    response = client.post("/channels/import/", {"action": "import", "file": csv_file(GOOD)})
    assert response.status_code == 302 and response["Location"] == "/channels/"
    assert "Import done: 2 channels created, 0 updated." in page(client.get("/channels/"))
    assert set(Channel.objects.values_list("name", flat=True)) == {"news", "sport"}
    assert PackageChannel.objects.filter(package=basic).count() == 2
    assert PackageChannel.objects.filter(package=extra).count() == 1


def test_a_package_named_twice_on_a_line_is_linked_once(web, portal):
    basic = make_package(portal, "basic")
    text = "name,title,epgSourceName,epgChannelName,packages\nnews,News 24,,,basic| basic\n"
    client = web["content"]
    checked = page(client.post("/channels/import/", {"action": "check", "file": csv_file(text)}))
    assert "Check passed: 1 channels to create, 0 to update" in checked
    response = client.post("/channels/import/", {"action": "import", "file": csv_file(text)})
    assert response.status_code == 302
    assert list(PackageChannel.objects.filter(package=basic).values_list("channel__name", flat=True)) == ["news"]


def test_a_checked_file_is_imported_without_a_second_upload(web, portal, managers):
    make_package(portal, "basic")
    make_package(portal, "extra")
    client = web["content"]
    html = page(client.post("/channels/import/", {"action": "check", "file": csv_file(GOOD)}))
    token = re.search(r'name="checked" value="([^"]+)"', html).group(1)
    # Another manager cannot use this manager's checked file.
    other = web["owner"].post("/channels/import/", {"action": "import", "checked": token})
    assert other.status_code == 400 and "no longer available" in page(other)
    assert not Channel.objects.exists()
    response = client.post("/channels/import/", {"action": "import", "checked": token})
    assert response.status_code == 302
    assert Channel.objects.count() == 2
    # Used once.
    again = client.post("/channels/import/", {"action": "import", "checked": token})
    assert again.status_code == 400


def test_a_file_with_a_wrong_header_is_explained(web, portal):
    response = web["content"].post("/channels/import/", {"action": "check", "file": csv_file("a,b\n1,2\n")})
    assert "the header must be name,title,epgSourceName,epgChannelName,packages" in page(response)


def test_no_file_is_a_form_error(web, portal):
    response = web["content"].post("/channels/import/", {"action": "check"})
    assert response.status_code == 400 and "Choose a CSV file." in page(response)
