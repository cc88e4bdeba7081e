"""Expiry reminders by SMS (lifecycle.md §1): the daily job, through the ``file`` SMS backend."""

from __future__ import annotations

import json

import pytest

from catena_site.celery import app
from catena_site.throttle import Counter, take
from portals import services as portal_services
from portals.auth import Caller
from subscribers import services
from subscribers.models import ExpiryReminder, Subscription
from subscribers.reminders import send_expiry_reminders
from subscribers.sms_login import NUMBER_LIMIT
from subscribers.tasks import send_expiry_reminders as reminders_task
from tests.content.test_channels_api import make_package
from tests.subscribers.periods_helpers import at, subscribe_for
from tests.subscribers.test_subscribers_api import make_subscriber

NOW = "2026-03-10T09:00:00Z"


@pytest.fixture
def sms_file(settings, tmp_path):
    settings.SMS_BACKEND = "file"
    settings.SMS_FILE_PATH = str(tmp_path / "sms.jsonl")
    return tmp_path / "sms.jsonl"


def sent(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def remind(django_capture_on_commit_callbacks):
    """Run the job (the task itself with ``task=True``) and what it handed over for after its commit: the SMS."""

    def run(task=False):
        with django_capture_on_commit_callbacks(execute=True):
            return reminders_task.apply().get() if task else send_expiry_reminders()

    return run


def set_reminders(portal, days, template=None):
    portal_services.update_portal(portal, caller=Caller(portal=portal), data={
        "settings": {"expiryReminderDays": days, "expiryReminderTemplate": template}})
    portal.refresh_from_db()


@pytest.fixture
def alice(portal, time_machine):
    time_machine.move_to(NOW, tick=False)
    alice = make_subscriber(portal, "Alice", phone="2345678901")
    subscribe_for(alice, make_package(portal, "basic"), expires_at=at("2026-03-12T18:30:00Z"))  # in 2.4 days
    subscribe_for(alice, make_package(portal, "sport"), expires_at=at("2026-03-20T00:00:00Z"))  # in 10 days
    subscribe_for(alice, make_package(portal, "news"))  # open
    return alice


def test_one_sms_per_subscription_ending_within_the_days_and_never_twice(portal, alice, sms_file, remind, time_machine):
    set_reminders(portal, 3)
    assert remind(task=True) == 1
    assert remind(task=True) == 0  # the job runs twice: still one SMS
    assert sent(sms_file) == [{"to": "+12345678901", "portalId": portal.public_id,
                               "text": "Main TV: your basic subscription ends on 2026-03-12."}]
    reminder = ExpiryReminder.objects.get()
    assert (reminder.subscriber_id, reminder.package_name, reminder.expires_at, reminder.sent_at) == (
        alice.id, "basic", at("2026-03-12T18:30:00Z"), at(NOW))
    assert Subscription.objects.get(package__name="basic").reminded_at == at(NOW)
    time_machine.move_to("2026-03-17T09:00:00Z", tick=False)  # the next days: sport comes within 3 days
    assert remind() == 1
    assert remind() == 0
    assert [m["text"] for m in sent(sms_file)][1:] == ["Main TV: your sport subscription ends on 2026-03-20."]


def test_the_portal_template_fills_title_package_and_date(portal, alice, sms_file, remind):
    set_reminders(portal, 30, "{title} says: {package} until {date}. Pay {title}!")
    assert remind() == 2
    assert [m["text"] for m in sent(sms_file)] == [
        "Main TV says: basic until 2026-03-12. Pay Main TV!", "Main TV says: sport until 2026-03-20. Pay Main TV!"]


def test_reminders_are_off_when_the_setting_is_none(portal, alice, sms_file, remind):
    assert portal.effective_settings["expiryReminderDays"] is None
    assert remind() == 0
    assert sent(sms_file) == [] and not ExpiryReminder.objects.exists()
    assert not Subscription.objects.filter(reminded_at__isnull=False).exists()


def test_ended_not_started_and_blocked_subscriptions_get_no_reminder(portal, alice, sms_file, remind, time_machine):
    set_reminders(portal, 3)
    bob = make_subscriber(portal, "Bob", phone="2000002")
    subscribe_for(bob, make_package(portal, "movies"), expires_at=at("2026-03-10T08:59:59Z"))  # already ended
    carol = make_subscriber(portal, "Carol", phone="2000003")
    subscribe_for(carol, make_package(portal, "kids"), starts_at=at("2026-03-11T00:00:00Z"),
                  expires_at=at("2026-03-12T00:00:00Z"))  # not started yet
    dave = make_subscriber(portal, "Dave", phone="2000004")
    subscribe_for(dave, Subscription.objects.get(package__name="basic").package,
                  expires_at=at("2026-03-11T00:00:00Z"))
    services.set_disabled(dave, True, caller=Caller(portal=portal))
    assert remind() == 1
    assert [m["to"] for m in sent(sms_file)] == ["+12345678901"]


def test_a_new_period_gets_its_own_reminder(portal, alice, sms_file, remind, time_machine):
    set_reminders(portal, 3)
    assert remind() == 1
    basic = Subscription.objects.get(package__name="basic")
    services.change_period(basic, starts_at=None, expires_at=at("2026-04-12T18:30:00Z"),
                           actor=Caller(portal=portal).actor)  # a renewal: a new period
    assert remind() == 0  # not within 3 days any more
    time_machine.move_to("2026-04-10T09:00:00Z", tick=False)
    assert remind() == 1  # basic's new period; sport ended on 03-20 unreminded (no run saw it due)
    texts = [m["text"] for m in sent(sms_file)]
    assert texts[-1] == "Main TV: your basic subscription ends on 2026-04-12."


def test_only_portals_with_reminders_on_send(portal, other_portal, alice, sms_file, remind):
    bob = make_subscriber(other_portal, "Bob", phone="2000002")
    subscribe_for(bob, make_package(other_portal, "basic"), expires_at=at("2026-03-11T00:00:00Z"))
    set_reminders(portal, 3)
    assert remind() == 1
    assert [m["portalId"] for m in sent(sms_file)] == [portal.public_id]


def test_the_job_is_in_the_beat_schedule_daily():
    entry = app.conf.beat_schedule["subscribers.send-expiry-reminders"]
    assert entry["task"] == "subscribers.tasks.send_expiry_reminders"
    assert entry["schedule"].hour == {9} and entry["schedule"].minute == {0}


def test_a_number_over_its_sms_limit_is_reminded_on_a_later_run(portal, alice, sms_file, remind, time_machine):
    set_reminders(portal, 3)
    for _ in range(NUMBER_LIMIT.limit):  # the login codes this number had this hour
        take(Counter.of(NUMBER_LIMIT, alice.full_phone))
    assert remind() == 0
    assert sent(sms_file) == [] and Subscription.objects.get(package__name="basic").reminded_at is None
    time_machine.move_to("2026-03-11T09:00:00Z", tick=False)  # the next day's run
    assert remind() == 1
    assert [m["to"] for m in sent(sms_file)] == ["+12345678901"]
