"""The bulk subscriber import screen: Check (dry run with per-line errors) and Import (all or nothing)."""

from __future__ import annotations

import re

from django.core.files.uploadedfile import SimpleUploadedFile

from subscribers.models import Subscriber, Subscription
from tests.content.test_channels_api import make_package
from tests.subscribers.test_subscribers_api import make_subscriber

from .conftest import page

GOOD = (
    "name,country_code,phone,packages\n"
    "Alice,1,2025550143,basic\n"
    "Bob,44,7700900123,basic|sport\n"
)
BAD = (
    "name,country_code,phone,packages\n"
    "Alice,1,2025550143,basic\n"
    "Bob,+44,770,\n"
    "Carol,1,2025550143,\n"
    "Dave,1,2025550100,nope\n"
    "Erin,1,5550000,\n"
)


def csv_file(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("subscribers.csv", text.encode(), content_type="text/csv")


def report_rows(html: str) -> list[str]:
    start = html.index('data-testid="import-report"')
    return re.findall(r"<tr[^>]*>.*?</tr>", html[start:html.index("</table>", start)], re.S)[1:]


def test_the_screen_shows_the_header_and_an_example(web):
    html = page(web["subscribers"].get("/subscribers/import/"))
    assert "name,country_code,phone,packages,expires_at,login,player_password" in html
    example = web["subscribers"].get("/subscribers/import/example.csv")
    assert example.content.decode().startswith("name,country_code,phone,packages,expires_at,login,player_password")


def test_the_example_file_passes_the_check_with_its_login_and_password(web, portal):
    make_package(portal, "basic")
    make_package(portal, "sport")
    example = web["subscribers"].get("/subscribers/import/example.csv").content
    html = page(web["subscribers"].post("/subscribers/import/", {
        "action": "check", "file": SimpleUploadedFile("example.csv", example, content_type="text/csv")}))
    assert "Check passed: 2 subscribers and 3 subscriptions to create" in html
    rows = report_rows(html)
    assert "12025550143" in rows[0] and "bob.example" in rows[1]  # the Login column: the phone when none given


def test_check_shows_errors_per_line_and_changes_nothing(web, portal):
    make_package(portal, "basic")
    make_subscriber(portal, "Existing", "1", "5550000")
    response = web["subscribers"].post("/subscribers/import/", {"action": "check", "file": csv_file(BAD)})
    assert response.status_code == 200
    html = page(response)
    assert "4 lines with errors" in html
    rows = report_rows(html)
    assert [re.search(r'<td class="nowrap">(\d+)</td>', row).group(1) for row in rows] == ["3", "4", "5", "6"]
    assert "country_code: Must be 1–4 digits" in rows[0] and "phone: Must be 4–15 digits" in rows[0]
    assert "Duplicate of line 2" in rows[1]
    assert "Unknown package: nope." in rows[2]
    assert "A subscriber with phone +15550000 already exists." in rows[3]
    assert Subscriber.objects.count() == 1


def test_check_then_import_the_checked_file(web, portal):
    basic, sport = make_package(portal, "basic"), make_package(portal, "sport")
    client = web["subscribers"]
    html = page(client.post("/subscribers/import/", {"action": "check", "file": csv_file(GOOD)}))
    assert "Check passed: 2 subscribers and 3 subscriptions to create" in html
    rows = report_rows(html)
    assert "Alice" in rows[0] and "+12025550143" in rows[0] and "basic" in rows[0]
    assert not Subscriber.objects.exists()
    token = re.search(r'name="checked" value="([^"]+)"', html).group(1)
    response = client.post("/subscribers/import/", {"action": "import", "checked": token})
    assert response.status_code == 302 and response["Location"] == "/subscribers/"
    assert "Import done: 2 subscribers and 3 subscriptions created." in page(client.get("/subscribers/"))
    assert set(Subscriber.objects.values_list("full_phone", flat=True)) == {"12025550143", "447700900123"}
    assert Subscription.objects.filter(package=basic).count() == 2
    assert Subscription.objects.filter(package=sport).count() == 1


def test_import_with_errors_changes_nothing(web, portal):
    make_package(portal, "basic")
    response = web["subscribers"].post("/subscribers/import/", {"action": "import", "file": csv_file(BAD)})
    assert response.status_code == 400 and "the import was refused" in page(response)
    assert not Subscriber.objects.exists()
