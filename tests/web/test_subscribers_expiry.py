"""Expiry on the subscriber screens: the list's column and filters, the card's periods and reminders."""

from __future__ import annotations

import re

import pytest

from portals import services as portal_services
from portals.auth import Caller
from subscribers.reminders import send_expiry_reminders
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
