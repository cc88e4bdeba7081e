"""Request IDs and JSON logs (operations.md §2): ``X-Request-ID`` in and out, one JSON object per line naming the
request, portal, manager or subscriber, and the request ID carried into the tasks a request sends (eager here, and
a real worker on the embedded broker)."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from catena_site.celery import app as celery_app
from catena_site.logs import JsonFormatter, RequestContextMiddleware, request_id_from
from tests.broker_tasks import LOG_LINE, log_line
from tests.integration.test_broker_stress import embedded_env
from tests.streaming.conftest import auth_params, make_channel, make_package, make_subscriber
from tests.worker import launch_worker, wait_until

ROOT = Path(__file__).resolve().parents[2]
GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def json_lines(settings):
    """The JSON lines every logger writes during the test (a handler on the root logger, as LOG_FORMAT=json sets)."""
    settings.LOG_REQUESTS = True
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def request_line(lines: list[dict]) -> dict:
    [line] = [line for line in lines if line["logger"] == "catena.request"]
    return line


# --- X-Request-ID --------------------------------------------------------------------------------------------


def test_a_valid_request_id_is_returned_as_it_came(client, db):
    assert client.get("/healthz", HTTP_X_REQUEST_ID="req-42_a.B").headers["X-Request-ID"] == "req-42_a.B"
    assert client.get("/healthz", HTTP_X_REQUEST_ID="x" * 64).headers["X-Request-ID"] == "x" * 64


@pytest.mark.parametrize("given", ["x" * 65, "has space", "semi;colon", "ünïcode", "a/b", "<script>"])
def test_an_invalid_request_id_is_replaced_by_a_new_one(client, db, given):
    returned = client.get("/healthz", HTTP_X_REQUEST_ID=given).headers["X-Request-ID"]
    assert GENERATED.fullmatch(returned)


def test_without_a_request_id_each_request_gets_a_new_one(client, api):
    first = client.get("/healthz").headers["X-Request-ID"]
    second = api.get("/tv-management/api/v1/subscribers").headers["X-Request-ID"]
    assert GENERATED.fullmatch(first) and GENERATED.fullmatch(second) and first != second


def test_an_empty_request_id_is_replaced_too():
    assert GENERATED.fullmatch(request_id_from(""))


# --- JSON lines ----------------------------------------------------------------------------------------------


def test_a_managers_request_is_one_json_line_with_its_ids_and_duration(clients, portal, managers, json_lines):
    response = clients["admin"].get("/tv-management/api/v1/subscribers", HTTP_X_REQUEST_ID="api-call-1")
    assert response.status_code == 200
    line = request_line(json_lines())
    assert line["request_id"] == "api-call-1"
    assert (line["portal_id"], line["manager_id"]) == (portal.public_id, managers["admin"].public_id)
    assert (line["method"], line["path"], line["status"], line["level"]) == (
        "GET", "/tv-management/api/v1/subscribers", 200, "INFO")
    assert isinstance(line["duration"], float) and line["duration"] > 0
    assert line["message"] == "GET /tv-management/api/v1/subscribers 200"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])
    assert "subscriber_id" not in line


def test_an_auth_check_names_its_subscriber_and_never_logs_the_query(client, portal, settings, json_lines):
    settings.STREAMER_KEY = "log-test-key"
    news = make_channel(portal, "news")
    alice = make_subscriber(portal, "Alice", [make_package(portal, "basic", [news])])
    response = client.get("/streaming/flussonic/auth", auth_params(alice.playback_token, "news", key="log-test-key"))
    assert response.status_code == 200
    lines = json_lines()
    line = request_line(lines)
    assert (line["portal_id"], line["subscriber_id"], line["status"]) == (portal.public_id, alice.public_id, 200)
    assert "manager_id" not in line
    text = json.dumps(lines)
    assert alice.playback_token not in text and "log-test-key" not in text


def test_an_exception_is_in_its_line(json_lines, db):
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("catena.test").exception("it failed")
    [line] = [line for line in json_lines() if line["logger"] == "catena.test"]
    assert line["level"] == "ERROR" and line["message"] == "it failed"
    assert "ValueError: boom" in line["exception"]
    assert "request_id" not in line  # outside of any request


# --- Into the tasks ------------------------------------------------------------------------------------------


def test_a_task_run_during_the_request_logs_with_its_request_id(rf, json_lines, monkeypatch):
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)

    def view(request):
        from django.http import HttpResponse

        log_line.delay("inside the eager task")
        return HttpResponse()

    RequestContextMiddleware(view)(rf.get("/", HTTP_X_REQUEST_ID="eager-request"))
    [line] = [line for line in json_lines() if line["message"] == "inside the eager task"]
    assert line["request_id"] == "eager-request"


def test_a_workers_json_line_carries_the_id_of_the_request_that_sent_the_task(tmp_path):
    """A real worker (prefork, LOG_FORMAT=json) on the embedded broker; the task is sent by a request answered in
    another process, as a web process would."""
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    env = {**embedded_env(var_dir), "LOG_FORMAT": "json"}
    argv = [sys.executable, "-m", "celery", "-A", "catena_site", "--quiet", "worker", "-I", "tests.broker_tasks",
            "--pool=prefork", "--concurrency=1", "--loglevel=INFO", "-n", f"logs-{uuid.uuid4().hex[:8]}@%h"]
    worker = launch_worker(argv, env, "celery")
    try:
        text = f"sent by a request {uuid.uuid4().hex}"
        subprocess.run([sys.executable, "-m", "tests.broker_tasks", "request", "web-req-7", text], cwd=ROOT,
                       env=env, check=True, timeout=120)
        assert wait_until(lambda: text in worker.log, timeout=60), worker.log_tail()
        output = worker.log  # (at shutdown Celery prints "Warm shutdown" by itself, not as a log line)
    finally:
        worker.stop()
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]  # every line is JSON
    [line] = [line for line in lines if line["message"] == text]
    assert (line["request_id"], line["task"], line["logger"]) == ("web-req-7", LOG_LINE, "tests.broker_tasks")
    assert line["task_id"]
    assert any(" ready." in line["message"] for line in lines)


def test_the_player_password_in_an_xtream_stream_path_is_never_logged(client, db, json_lines):
    # An unknown portal (404), so Django's "Not Found: <path>" warning is written too.
    client.get("/live/12345678901/Pw3xYz7KmN/42.m3u8")
    lines = json_lines()
    assert request_line(lines)["path"] == "/live/12345678901/***/42.m3u8"
    assert not [line for line in lines if "Pw3xYz7KmN" in json.dumps(line)]


def test_the_console_handler_hides_secrets_in_every_logger_s_lines():
    [console] = [h for h in logging.getLogger().handlers if h.get_name() == "console"]
    record = logging.getLogger("django.request").makeRecord(
        "django.request", logging.WARNING, __file__, 1, "Not Found: %s", ("/live/12345678901/Pw3xYz7KmN/42.ts",), None)
    assert console.filter(record)
    assert "Pw3xYz7KmN" not in console.format(record) and "/live/12345678901/***/42.ts" in console.format(record)
