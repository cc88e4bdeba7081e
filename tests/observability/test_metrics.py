"""``GET /metrics`` (operations.md §1): who may read it, what it shows, and values added up over processes."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from catena_site import prometheus
from portals.auth import Caller
from subscribers import services as subscribers
from subscribers.sms import get_backend
from tests.metrics import TOKEN, scrape, total, value

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = []
    settings.METRICS_DATABASE_CACHE = 0


def make_subscriber(portal, phone: str, *, disabled: bool = False):
    subscriber = subscribers.create_subscriber(portal, caller=Caller(portal=portal),
                                               data={"name": f"S {phone}", "phoneCountryCode": "1", "phone": phone})
    if disabled:
        subscribers.set_disabled(subscriber, True, caller=Caller(portal=portal))
    return subscriber


# --- Who may read ------------------------------------------------------------------------------------------


def test_metrics_are_404_while_neither_a_token_nor_addresses_are_set(client, settings, db):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = "", []
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer anything").status_code == 404


def test_without_the_token_the_answer_is_401(client, metrics_on, db):
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"catena_" not in response.content
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}x").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 401


def test_with_the_token_the_answer_is_prometheus_text(client, metrics_on, db):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    assert b"# TYPE catena_subscribers gauge" in response.content


def test_an_allowed_address_needs_no_token_and_others_are_refused(client, settings, db):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS, settings.METRICS_DATABASE_CACHE = "", ["10.1.0.0/16"], 0
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.2.0.1").status_code == 403
    settings.METRICS_TOKEN = TOKEN  # either is enough; without both the answer asks for the token
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.2.0.1").status_code == 401
    assert client.get("/metrics", REMOTE_ADDR="10.2.0.1", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


# --- What it shows -------------------------------------------------------------------------------------------


def test_subscribers_are_read_by_portal_and_state(client, portal, other_portal, metrics_on):
    make_subscriber(portal, "2000000001")
    make_subscriber(portal, "2000000002")
    make_subscriber(portal, "2000000003", disabled=True)
    make_subscriber(other_portal, "2000000004")
    samples = scrape(client)
    assert value(samples, "catena_subscribers", portal_id=portal.public_id, state="active") == 2
    assert value(samples, "catena_subscribers", portal_id=portal.public_id, state="disabled") == 1
    assert value(samples, "catena_subscribers", portal_id=other_portal.public_id, state="active") == 1


def test_the_database_figures_are_reused_for_the_cache_time(client, portal, settings, metrics_on):
    settings.METRICS_DATABASE_CACHE = 60
    make_subscriber(portal, "2000000011")
    assert value(scrape(client), "catena_subscribers", portal_id=portal.public_id, state="active") == 1
    make_subscriber(portal, "2000000012")
    assert value(scrape(client), "catena_subscribers", portal_id=portal.public_id, state="active") == 1
    settings.METRICS_DATABASE_CACHE = 0
    assert value(scrape(client), "catena_subscribers", portal_id=portal.public_id, state="active") == 2


def test_the_celery_queue_length_is_shown(client, metrics_on, db):
    samples = scrape(client)
    queues = [labels for name, labels in samples if name == "catena_celery_queue_length"]
    assert queues and all(dict(labels)["queue"] for labels in queues)


def test_requests_are_counted_and_timed_by_view(client, metrics_on, db):
    before = scrape(client)
    client.get("/healthz")
    client.get("/no/such/page")
    after = scrape(client)
    assert total(after, "catena_http_requests_total", view="healthz", method="GET") - total(
        before, "catena_http_requests_total", view="healthz", method="GET") >= 1
    assert total(after, "catena_http_requests_total", view="<unresolved>", status="404") - total(
        before, "catena_http_requests_total", view="<unresolved>", status="404") >= 1
    assert total(after, "catena_http_request_seconds_count", view="healthz") >= 1


def test_a_sent_sms_is_counted_for_its_portal(client, portal, settings, tmp_path, metrics_on):
    settings.SMS_BACKEND, settings.SMS_FILE_PATH = "file", str(tmp_path / "sms.jsonl")
    before = scrape(client)
    get_backend().send("+12345678901", "Your code: 1234", portal.public_id)
    after = scrape(client)
    assert value(after, "catena_sms_sent_total", portal_id=portal.public_id, result="sent") - value(
        before, "catena_sms_sent_total", portal_id=portal.public_id, result="sent") == 1


# --- Several processes ---------------------------------------------------------------------------------------

COUNT_IN_ANOTHER_PROCESS = """
import django
django.setup()
from catena_site import prometheus
prometheus.count_webhook_delivery({portal!r}, "from-another-process")
"""


def test_a_scrape_adds_up_the_values_of_every_process_until_the_directory_is_cleaned(client, metrics_on, db):
    portal = f"T{uuid.uuid4().hex[:11]}"  # a label no other test (or run) uses
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "catena_site.settings", "METRICS_TOKEN": TOKEN,
           "PROMETHEUS_MULTIPROC_DIR": django_settings.PROMETHEUS_MULTIPROC_DIR}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", COUNT_IN_ANOTHER_PROCESS.format(portal=portal)], cwd=ROOT, env=env,
                       check=True, timeout=120)
    counted = lambda: value(scrape(client), "catena_webhook_deliveries_total", portal_id=portal,  # noqa: E731
                            result="from-another-process")
    assert counted() == 2
    prometheus.count_sms(portal, "sent")  # this process has a file too, and keeps it: it is running
    own = Path(django_settings.PROMETHEUS_MULTIPROC_DIR) / f"counter_{os.getpid()}.db"
    assert prometheus.clean_directory(django_settings.PROMETHEUS_MULTIPROC_DIR) >= 2
    assert own.exists()
    assert counted() == 0
    assert value(scrape(client), "catena_sms_sent_total", portal_id=portal, result="sent") == 1


def test_static_files_are_counted_apart_from_unknown_pages(client, metrics_on, db):
    before = scrape(client)
    assert client.get("/static/no-such-file.css").status_code == 404
    after = scrape(client)
    assert total(after, "catena_http_requests_total", view="<static>") - total(
        before, "catena_http_requests_total", view="<static>") >= 1
