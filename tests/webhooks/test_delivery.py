"""Deliveries reach a real HTTP receiver: signed, in order per webhook, retried with backoff for 24 hours, never
for another portal, never for a rolled-back operation, never to a private address the guard refuses."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
import time_machine
from django.db import transaction
from django.test import TestCase
from django.utils import timezone

from catena_site.celery import app as celery_app
from monitoring import tasks  # noqa: F401  (registers the delivery tasks, so that eager mode runs them here)
from monitoring.operations import Actor, Delivery, Operation, build, record, record_many
from monitoring.webhooks import delivery as sender
from monitoring.webhooks import services
from portals.auth import Caller
from tests.conftest import API
from tests.factories import make_portal
from tests.metrics import TOKEN, scrape, value
from tests.webhooks.receiver import HANG

pytestmark = pytest.mark.usefixtures("private_urls")


@pytest.fixture
def eager(monkeypatch):
    """Celery tasks run where they are sent: the after-commit delivery job runs at the commit."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)


def make_webhook(portal, url, **data):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return services.create_webhook(portal, caller=Caller(portal=portal), data={"url": url, **data})


def commit(portal, *types, subscriber_id=None) -> list[Operation]:
    """Record operations in one committed transaction (with its after-commit work)."""
    with TestCase.captureOnCommitCallbacks(execute=True), transaction.atomic():
        return [record(portal, kind, actor=Actor.system(), subscriber_id=subscriber_id,
                       payload={"n": index}) for index, kind in enumerate(types)]


def deliveries(webhook) -> list[Delivery]:
    return list(Delivery.objects.filter(webhook=webhook).order_by("id"))


def test_an_operation_is_posted_after_commit_signed_and_with_the_documented_headers(portal, receiver, eager, api):
    webhook = make_webhook(portal, receiver.url)
    before = int(time.time())
    [operation] = commit(portal, "createPackageSubscriber")
    assert receiver.wait_for(1)
    [got] = receiver.received
    [queued] = deliveries(webhook)
    assert got.path == "/hook"
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["X-Catena-Event"] == "createPackageSubscriber"
    assert got.headers["X-Catena-Delivery"] == queued.public_id
    assert before <= int(got.headers["X-Catena-Timestamp"]) <= time.time() + 1
    assert got.signature_is_valid(webhook.secret)
    assert not got.signature_is_valid("another secret")
    assert json.loads(got.body) == api.get(f"{API}/operations/{operation.public_id}").json()
    assert (queued.status, queued.attempts, queued.last_code, queued.last_error) == ("delivered", 1, 200, "")
    assert queued.delivered_at is not None


def test_deliveries_are_counted_in_the_metrics_by_portal_and_result(portal, receiver, eager, client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = TOKEN, []
    make_webhook(portal, receiver.url)
    receiver.answers.extend([500])
    labels = {"portal_id": portal.public_id}
    before = scrape(client)
    commit(portal, "createSubscriber")  # answered 500: to be retried
    after_failure = scrape(client)
    assert value(after_failure, "catena_webhook_deliveries_total", **labels, result="retrying") - value(
        before, "catena_webhook_deliveries_total", **labels, result="retrying") == 1
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=31)):
        sender.sweep()
    after = scrape(client)
    assert value(after, "catena_webhook_deliveries_total", **labels, result="delivered") - value(
        before, "catena_webhook_deliveries_total", **labels, result="delivered") == 1


def test_only_the_types_a_webhook_receives_are_queued(portal, receiver, eager):
    webhook = make_webhook(portal, receiver.url, types=["deletePackageSubscriber"])
    commit(portal, "createPackageSubscriber", "deletePackageSubscriber", "createSubscriber")
    assert [d.type for d in deliveries(webhook)] == ["deletePackageSubscriber"]
    assert [r.headers["X-Catena-Event"] for r in receiver.received] == ["deletePackageSubscriber"]


def test_a_paused_webhook_gets_nothing(portal, receiver, eager):
    make_webhook(portal, receiver.url, active=False)
    commit(portal, "createSubscriber")
    assert not Delivery.objects.exists() and receiver.received == []


def test_a_rolled_back_operation_is_never_delivered(portal, receiver, eager):
    webhook = make_webhook(portal, receiver.url)
    with pytest.raises(RuntimeError), TestCase.captureOnCommitCallbacks(execute=True), transaction.atomic():
        record(portal, "createSubscriber", actor=Actor.system())
        assert len(deliveries(webhook)) == 1  # queued with the operation, in its transaction…
        raise RuntimeError("the change fails")
    assert deliveries(webhook) == []  # …and gone with it
    sender.sweep()
    assert receiver.received == []


def test_another_portals_operations_never_reach_the_webhook(portal, receiver, eager):
    make_webhook(portal, receiver.url)
    other = make_portal("webhook-other")
    commit(other, "createSubscriber", "deleteSubscriber")
    assert not Delivery.objects.exists()
    assert receiver.received == []
    commit(portal, "createSubscriber")
    assert [json.loads(r.body)["portalId"] for r in receiver.received] == [portal.public_id]


def test_bulk_recorded_operations_are_queued_in_their_order(portal, receiver, eager):
    webhook = make_webhook(portal, receiver.url)
    with TestCase.captureOnCommitCallbacks(execute=True), transaction.atomic():
        record_many([build(portal, "createSubscriber", actor=Actor.system(), payload={"n": n}) for n in range(5)])
    assert [json.loads(r.body)["payload"]["n"] for r in receiver.received] == [0, 1, 2, 3, 4]
    assert {d.status for d in deliveries(webhook)} == {"delivered"}


def test_a_portal_without_webhooks_pays_one_cache_lookup_and_no_query(portal, django_assert_num_queries):
    commit(portal, "createSubscriber")  # reads the (empty) list once and caches it
    with transaction.atomic(), django_assert_num_queries(1):  # the operation's INSERT only
        record(portal, "createSubscriber", actor=Actor.system())


def test_a_new_webhook_receives_the_operations_after_it_although_the_list_was_cached(portal, receiver, eager):
    commit(portal, "createSubscriber")  # the empty list is cached
    webhook = make_webhook(portal, receiver.url)
    commit(portal, "deleteSubscriber")
    assert [d.type for d in deliveries(webhook)] == ["deleteSubscriber"]
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.update_webhook(webhook, caller=Caller(portal=portal), data={"types": ["createSubscriber"]})
    commit(portal, "deleteSubscriber", "createSubscriber")
    # The change itself was recorded while the webhook still received every type.
    assert [d.type for d in deliveries(webhook)] == ["deleteSubscriber", "updateWebhook", "createSubscriber"]


def test_a_failing_receiver_holds_back_later_deliveries_which_then_follow_in_order(portal, receiver, eager):
    webhook = make_webhook(portal, receiver.url)
    receiver.answers.extend([500])
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        commit(portal, "createSubscriber", "updateSubscriber", "deleteSubscriber")
        first, second, third = deliveries(webhook)
        assert [r.delivery_id for r in receiver.received] == [first.public_id]  # the others wait behind it
        assert (first.status, first.attempts, first.last_code, first.last_error) == ("pending", 1, 500,
                                                                                   "HTTP 500 Internal Server Error")
        assert first.next_at == start + dt.timedelta(seconds=30)
        assert (second.status, third.status) == ("pending", "pending")

        clock.shift(29)
        sender.sweep()  # beat's sweep: the head is not due yet, so nothing is sent (the others wait behind it)
        assert len(receiver.received) == 1
        clock.shift(1)
        assert sender.sweep() == 1  # the head is due: the eager job sends all three, in order
    assert [r.delivery_id for r in receiver.received] == [first.public_id, first.public_id, second.public_id,
                                                          third.public_id]
    assert [(d.status, d.attempts) for d in deliveries(webhook)] == [("delivered", 2), ("delivered", 1),
                                                                      ("delivered", 1)]
    assert all(r.signature_is_valid(webhook.secret) for r in receiver.received)


def test_retries_back_off_and_a_delivery_fails_after_24_hours(portal, receiver, eager):
    webhook = make_webhook(portal, receiver.url)
    receiver.answers.extend([503] * 100)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        commit(portal, "createSubscriber", "deleteSubscriber")
        head = deliveries(webhook)[0]
        waits = []
        while head.status == "pending":
            waits.append((head.next_at - timezone.now()).total_seconds())
            clock.move_to(head.next_at)
            sender.sweep()
            head.refresh_from_db()
        assert waits[:8] == [30, 60, 120, 240, 480, 960, 1920, 3600]
        assert set(waits[8:-1]) == {3600}
        assert head.status == "failed" and head.last_code == 503
        assert timezone.now() == start + dt.timedelta(hours=24)  # the last attempt at the end of the window
        assert head.attempts == len(waits) + 1
    # The next delivery went out once the first had failed (and failed at once: its 24 hours were over too).
    received = [r.delivery_id for r in receiver.received]
    assert received.count(head.public_id) == head.attempts
    assert received[-1] == deliveries(webhook)[1].public_id


def test_a_receiver_that_does_not_answer_in_time_is_retried(portal, receiver, eager, settings):
    settings.WEBHOOK_TIMEOUT = 1
    webhook = make_webhook(portal, receiver.url)
    receiver.answers.extend([HANG])
    commit(portal, "createSubscriber")
    [queued] = deliveries(webhook)
    assert (queued.status, queued.attempts, queued.last_code) == ("pending", 1, None)
    assert queued.last_error == "No answer from 127.0.0.1 within 1 s."
    receiver.release.set()


def test_the_address_is_vetted_again_at_every_delivery(portal, receiver, eager, settings):
    webhook = make_webhook(portal, receiver.url)  # saved while private addresses were allowed
    settings.EPG_ALLOW_PRIVATE_URLS = False  # e.g. its host name now resolves to a private address (rebinding)
    commit(portal, "createSubscriber")
    [queued] = deliveries(webhook)
    assert receiver.received == []
    assert (queued.status, queued.attempts, queued.last_code) == ("pending", 1, None)
    assert "non-public address 127.0.0.1" in queued.last_error


def test_send_again_repeats_a_delivery_with_the_same_id(portal, receiver, eager, api):
    webhook = make_webhook(portal, receiver.url)
    commit(portal, "createSubscriber")
    [delivered] = deliveries(webhook)
    url = f"{API}/webhooks/{webhook.public_id}/deliveries/{delivered.public_id}/resend"
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = api.post(url)
    assert response.status_code == 200, response.json()
    assert response.json()["deliveryId"] == delivered.public_id
    assert [r.delivery_id for r in receiver.received] == [delivered.public_id, delivered.public_id]
    delivered.refresh_from_db()
    assert (delivered.status, delivered.attempts) == ("delivered", 2)


def test_a_lost_job_is_made_up_by_the_sweep(portal, receiver):
    webhook = make_webhook(portal, receiver.url)
    commit(portal, "createSubscriber")  # not eager: the job went to a broker nobody reads
    assert receiver.received == [] and deliveries(webhook)[0].status == "pending"
    celery_app.conf.task_always_eager = True
    try:
        assert sender.sweep() == 1
    finally:
        celery_app.conf.task_always_eager = False
    assert deliveries(webhook)[0].status == "delivered" and len(receiver.received) == 1


def test_a_delivery_left_sending_by_a_dead_worker_is_sent_again_after_the_lease(portal, receiver, settings):
    webhook = make_webhook(portal, receiver.url)
    commit(portal, "createSubscriber")
    [queued] = deliveries(webhook)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        # A worker took the lease, marked the delivery sending, and died.
        assert sender._take_lease(webhook.id, "dead-worker")
        Delivery.objects.filter(pk=queued.pk).update(status="sending", attempts=1)
        assert sender.send_due(webhook.id) == 0  # the lease still holds: nobody sends beside it
        clock.shift(settings.WEBHOOK_LEASE + 1)
        assert sender.send_due(webhook.id) == 1
    assert [r.delivery_id for r in receiver.received] == [queued.public_id]
    queued.refresh_from_db()
    assert (queued.status, queued.attempts) == ("delivered", 2)


def test_deleting_a_webhook_drops_its_deliveries(portal, receiver):
    webhook = make_webhook(portal, receiver.url)
    commit(portal, "createSubscriber")
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.delete_webhook(webhook, caller=Caller(portal=portal))
    assert not Delivery.objects.exists()
    assert sender.send_due(webhook.id) == 0
