"""Expiry on the subscriber screens: the list's column and filters, the card's periods and reminders."""

from __future__ import annotations

import re

import pytest

from monitoring.operations import Operation, OperationType
from portals import services as portal_services
from portals.auth import Caller
from subscribers.models import Subscriber, Subscription
from subscribers.reminders import send_expiry_reminders
from subscribers.services import add_months
from tests.content.test_channels_api import make_package
from tests.subscribers.periods_helpers import at, subscribe_for
from tests.subscribers.test_subscribers_api import make_subscriber

from .conftest import page

NOW = "2026-03-10T12:00:00Z"


@pytest.fixture
def people(portal, time_machine):
    time_machine.move_to(NOW, tick=False)
    basic, sport = make_package(portal, "basic"), make_package(portal, "sport")
    soon = make_subscriber(portal, "Soon", phone="1000001")
    subscribe_for(soon, basic, expires_at=at("2026-03-12T12:00:00Z"))
    subscribe_for(soon, sport, expires_at=at("2026-05-01T00:00:00Z"))
    later = make_subscriber(portal, "Later", phone="1000002")
    subscribe_for(later, basic, expires_at=at("2026-03-30T00:00:00Z"))
    lapsed = make_subscriber(portal, "Lapsed", phone="1000003")
    subscribe_for(lapsed, basic, expires_at=at("2026-03-09T12:00:00Z"))
    subscribe_for(lapsed, sport, starts_at=at("2026-04-01T00:00:00Z"))
    make_subscriber(portal, "Open", phone="1000005")
    return {"soon": soon, "later": later, "lapsed": lapsed, "basic": basic, "sport": sport}


def listed(html: str) -> list[str]:
    return sorted(re.findall(r'data-bulk-row></td>\s*<td><a href="[^"]+">([^<]+)</a>', html))


def expiry_cells(html: str) -> dict[str, str]:
    rows = re.findall(r'<td><a href="[^"]+">([^<]+)</a></td>.*?data-testid="expires">(.*?)</td>', html, re.S)
    return {name: re.sub(r"<[^>]+>", "", cell).strip() for name, cell in rows}


def test_the_list_shows_the_soonest_end_among_subscriptions_in_force(web, people):
    html = page(web["subscribers"].get("/subscribers/"))
    assert expiry_cells(html) == {"Soon": "2026-03-12 12:00 UTC Soon", "Later": "2026-03-30 00:00 UTC",
                                  "Lapsed": "—", "Open": "—"}


def test_the_list_filters_expiring_within_7_days_and_expired(web, people):
    client = web["subscribers"]
    html = page(client.get("/subscribers/?expiresWithinDays=7"))
    assert listed(html) == ["Soon"]
    assert '<option value="7" selected>Expiring within 7 days</option>' in html
    assert listed(page(client.get("/subscribers/?expiresWithinDays=30"))) == ["Later", "Soon"]
    assert listed(page(client.get("/subscribers/?expired=true"))) == ["Lapsed"]
    assert listed(page(client.get("/subscribers/?expired=false"))) == ["Later", "Open", "Soon"]
    response = client.get("/subscribers/?expiresWithinDays=0")
    assert "Must be a whole number of days from 1 to 3650." in page(response)


def test_the_csv_export_has_the_expiry_column(web, people):
    response = web["viewer"].get("/subscribers/?format=csv&expiresWithinDays=30")
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].startswith("Name,Phone,Packages,Expires,")
    assert sorted(line.split(",")[3] for line in lines[1:]) == ["2026-03-12T12:00:00+00:00",
                                                               "2026-03-30T00:00:00+00:00"]


def test_the_card_shows_each_subscription_with_its_period_and_state(web, people):
    html = page(web["viewer"].get(f"/subscribers/{people['lapsed'].public_id}/"))
    packages = re.search(r'data-testid="subscriber-packages">(.*?)</ul>', html, re.S).group(1)
    items = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", item)).strip()
             for item in re.findall(r"<li>(.*?)</li>", packages, re.S)]
    assert items == ["basic Expired since 2026-03-10 · ended 2026-03-09 12:00 UTC",
                     "sport Not started from 2026-04-01 00:00 UTC · no end"]
    html = page(web["viewer"].get(f"/subscribers/{people['soon'].public_id}/"))
    assert "Active" in html and "ends 2026-03-12 12:00 UTC" in html


def test_the_card_lists_the_reminders_sent(web, people, portal, settings, tmp_path):
    soon = people["soon"]
    html = page(web["viewer"].get(f"/subscribers/{soon.public_id}/"))
    assert "No reminders sent" in html
    settings.SMS_BACKEND, settings.SMS_FILE_PATH = "file", str(tmp_path / "sms.jsonl")
    portal_services.update_portal(portal, caller=Caller(portal=portal), data={"settings": {"expiryReminderDays": 3}})
    assert send_expiry_reminders() == 1
    html = page(web["viewer"].get(f"/subscribers/{soon.public_id}/"))
    section = re.search(r'data-testid="expiry-reminders">(.*?)</section>', html, re.S).group(1)
    assert "2026-03-10 12:00 UTC" in section and "Main TV: your basic subscription ends on 2026-03-12." in section
    assert "+11000001" in section and "No reminders sent" not in section


# --- Extend by N days/months ---------------------------------------------------------------------------------


def ends(*subscribers) -> dict[tuple[str, str], str | None]:
    return {(s.subscriber.name, s.package.name): s.expires_at.strftime("%Y-%m-%d %H:%M") if s.expires_at else None
            for s in Subscription.objects.filter(subscriber__in=subscribers).select_related("subscriber", "package")}


def test_extending_selected_subscribers_confirms_the_count_then_extends_in_calendar_months(web, people):
    client = web["subscribers"]
    chosen = {"ids": [people["soon"].public_id, people["lapsed"].public_id], "amount": "1", "unit": "months"}
    html = page(client.post("/subscribers/bulk/extend/", chosen))
    question = re.search(r'data-testid="extend-question">(.*?)</p>', html, re.S).group(1)
    assert re.sub(r"<[^>]+>", "", question) == "Extend 3 subscriptions by 1 month?"
    assert "1 subscription without an end date is left as it is." in html
    before = Operation.objects.count()
    response = client.post("/subscribers/bulk/extend/", {**chosen, "confirm": "1"})
    assert response.status_code == 302 and response["Location"] == "/subscribers/"
    assert "3 subscriptions extended by 1 month." in page(client.get("/subscribers/"))
    assert ends(people["soon"], people["lapsed"]) == {
        ("Soon", "basic"): "2026-04-12 12:00", ("Soon", "sport"): "2026-06-01 00:00",
        ("Lapsed", "basic"): "2026-04-10 12:00",  # it had ended: a month from now
        ("Lapsed", "sport"): None}
    updates = Operation.objects.filter(type=OperationType.UPDATE_PACKAGE_SUBSCRIBER).order_by("id")
    assert Operation.objects.count() - before == updates.count() == 3
    assert {op.actor_email for op in updates} == {"subs@example.com"}
    assert updates.get(package_id=people["sport"].id).payload["expiresAt"] == {"old": "2026-05-01T00:00:00Z",
                                                                             "new": "2026-06-01T00:00:00Z"}


def test_a_month_from_the_31st_ends_on_the_last_day_of_a_shorter_month():
    assert add_months(at("2026-01-31T10:00:00Z"), 1) == at("2026-02-28T10:00:00Z")
    assert add_months(at("2028-01-31T10:00:00Z"), 1) == at("2028-02-29T10:00:00Z")
    assert add_months(at("2026-11-15T00:00:00Z"), 3) == at("2027-02-15T00:00:00Z")


def test_extending_every_subscriber_matching_the_filter_by_days(web, people):
    client = web["subscribers"]
    chosen = {"all_matching": "1", "query": "expiresWithinDays=7", "amount": "10", "unit": "days"}
    html = page(client.post("/subscribers/bulk/extend/", chosen))
    assert "<strong>1</strong> subscriber." in html and "Extend <strong>2</strong> subscriptions by" in html
    response = client.post("/subscribers/bulk/extend/", {**chosen, "confirm": "1"})
    assert response["Location"] == "/subscribers/?expiresWithinDays=7"
    assert ends(people["soon"]) == {("Soon", "basic"): "2026-03-22 12:00", ("Soon", "sport"): "2026-05-11 00:00"}
    assert ends(people["later"]) == {("Later", "basic"): "2026-03-30 00:00"}  # not matching: unchanged


def test_extending_one_subscriber_from_the_card(web, people):
    client = web["subscribers"]
    later = people["later"]
    assert 'data-testid="extend-form"' in page(client.get(f"/subscribers/{later.public_id}/"))
    html = page(client.post(f"/subscribers/{later.public_id}/extend/", {"amount": "2", "unit": "months"}))
    assert "You chose Later" in html and "Extend <strong>1</strong> subscription by <strong>2 months</strong>?" in html
    response = client.post(f"/subscribers/{later.public_id}/extend/", {"amount": "2", "unit": "months",
                                                                       "confirm": "1"})
    assert response["Location"] == f"/subscribers/{later.public_id}/#packages"
    assert ends(later) == {("Later", "basic"): "2026-05-30 00:00"}
    assert "1 subscription extended by 2 months." in page(client.get(f"/subscribers/{later.public_id}/"))


def test_nothing_to_extend_when_no_subscription_has_an_end(web, portal, people):
    open_one = Subscriber.objects.get(name="Open")
    html = page(web["subscribers"].post(f"/subscribers/{open_one.public_id}/extend/", {"amount": "1",
                                                                                       "unit": "days"}))
    assert "Nothing to extend" in html and 'name="confirm"' not in html


@pytest.mark.parametrize(("form", "message"), [
    ({"amount": "0", "unit": "days"}, "Must be a whole number from 1 to 3650."),
    ({"amount": "x", "unit": "days"}, "Must be a whole number from 1 to 3650."),
    ({"amount": "1", "unit": "weeks"}, "Choose days or months."),
    ({"amount": "1", "unit": "days", "ids": []}, "Select subscribers first, or all subscribers matching the filter."),
])
def test_bad_extensions_are_refused_in_plain_words_and_change_nothing(web, people, form, message):
    form = {"ids": [people["soon"].public_id], **form}
    response = web["subscribers"].post("/subscribers/bulk/extend/", {**form, "confirm": "1"})
    assert response.status_code == 302
    assert message in page(web["subscribers"].get(response["Location"]))
    assert not Operation.objects.filter(type=OperationType.UPDATE_PACKAGE_SUBSCRIBER).exists()


def test_an_extension_past_ten_years_refuses_the_whole_selection(web, people):
    chosen = {"ids": [people["soon"].public_id, people["later"].public_id], "amount": "120", "unit": "months",
              "confirm": "1"}
    response = web["subscribers"].post("/subscribers/bulk/extend/", chosen)
    assert "Must be at most 10 years ahead." in page(web["subscribers"].get(response["Location"]))
    assert ends(people["soon"], people["later"])[("Later", "basic")] == "2026-03-30 00:00"
    assert not Operation.objects.filter(type=OperationType.UPDATE_PACKAGE_SUBSCRIBER).exists()


def test_readers_cannot_extend_and_another_portals_subscriber_is_a_404(web, people, stranger_web):
    assert web["viewer"].post("/subscribers/bulk/extend/", {"ids": [people["soon"].public_id], "amount": "1",
                                                            "unit": "days", "confirm": "1"}).status_code == 403
    response = stranger_web.post(f"/subscribers/{people['soon'].public_id}/extend/",
                                 {"amount": "1", "unit": "days", "confirm": "1"})
    assert response.status_code == 404
    stranger_web.post("/subscribers/bulk/extend/", {"ids": [people["soon"].public_id], "amount": "1",
                                                    "unit": "days", "confirm": "1"})
    assert ends(people["soon"])[("Soon", "basic")] == "2026-03-12 12:00"
    assert not Operation.objects.filter(type=OperationType.UPDATE_PACKAGE_SUBSCRIBER).exists()
