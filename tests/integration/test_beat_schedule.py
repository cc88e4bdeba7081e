"""The one beat schedule: stable entry names, each naming a task the worker has registered."""

from __future__ import annotations

import datetime as dt
import logging
import re

from celery.schedules import crontab, schedule
from django.apps import apps

from catena_site.celery import app

# "<app label>.<what-it-does>": beat keeps its state under these keys, so they must not change by accident.
STABLE_NAME = re.compile(r"^[a-z_]+\.[a-z0-9]+(-[a-z0-9]+)*$")
KNOWN_ENTRIES = {
    "catena_site.drain-pending-invalidations": "catena_site.tasks.drain_pending_invalidations",
    "portals.purge-expired-manager-sessions": "portals.tasks.purge_expired_manager_sessions",
    "content.dispatch-epg-fetches": "content.tasks.dispatch_epg_fetches",
    "monitoring.close-stale-sessions": "monitoring.tasks.close_stale_sessions",
    "monitoring.write-opened-sessions": "monitoring.tasks.write_opened_sessions",
    "monitoring.flush-session-heartbeats": "monitoring.tasks.flush_session_heartbeats",
    "subscribers.send-expiry-reminders": "subscribers.tasks.send_expiry_reminders",
}


def registered_tasks() -> set[str]:
    app.loader.import_default_modules()  # what a worker does at start: import every app's tasks module
    return set(app.tasks.keys())


def test_known_entries_keep_their_names_and_tasks():
    beat = app.conf.beat_schedule
    for name, task in KNOWN_ENTRIES.items():
        assert name in beat, f"beat entry {name!r} was renamed or removed"
        assert beat[name]["task"] == task


def test_entry_names_are_stable_and_belong_to_an_installed_app():
    labels = {config.label for config in apps.get_app_configs()}
    for name in app.conf.beat_schedule:
        assert STABLE_NAME.match(name), f"beat entry {name!r} is not '<app>.<kebab-case-name>'"
        assert name.split(".", 1)[0] in labels, f"beat entry {name!r} does not start with an app label"


def test_every_scheduled_task_is_registered_under_its_name():
    tasks = registered_tasks()
    for name, entry in app.conf.beat_schedule.items():
        assert entry["task"] in tasks, f"beat entry {name!r} names unregistered task {entry['task']!r}"


def test_every_entry_has_a_schedule():
    for name, entry in app.conf.beat_schedule.items():
        assert isinstance(entry["schedule"], crontab | schedule | dt.timedelta | int | float), name


def _routine_lines(drained: str, fetched: str) -> None:
    """What beat and the worker log about one run of each task, with Celery's own loggers and wording."""
    from celery import beat
    from celery.app import trace
    from celery.worker import strategy

    for task in (drained, fetched):
        beat.info("Scheduler: Sending due task %s (%s)", f"entry-of-{task}", task)
        strategy.logger.info(trace.LOG_RECEIVED, {"name": task, "id": "1", "args": "()", "kwargs": "{}", "eta": None})
        trace.info(trace.LOG_SUCCESS, {"name": task, "id": "1", "runtime": 0.01, "return_value": 0})
    trace.logger.info(trace.LOG_RETRY, {"name": drained, "id": "1", "exc": "cache down"})


def test_the_every_5_s_tasks_log_their_routine_lines_at_debug(caplog):
    """Beat's "Sending due task", the worker's "received" and "succeeded" lines of the tasks beat sends every minute
    or more often are DEBUG lines (the console showed six of them every 5 s); other tasks and retries stay INFO."""
    from catena_site.celery import QUIET_TASKS

    drained, fetched = "catena_site.tasks.drain_pending_invalidations", "content.tasks.fetch_epg_source"
    assert {drained, "monitoring.tasks.write_opened_sessions"} <= QUIET_TASKS and fetched not in QUIET_TASKS

    caplog.set_level(logging.INFO)
    _routine_lines(drained, fetched)
    at_info = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert not any(drained in message and "retry" not in message for _, message in at_info), at_info
    assert [level for level, message in at_info if fetched in message] == ["INFO"] * 3
    assert any(drained in message and "retry" in message for _, message in at_info)

    caplog.clear()
    caplog.set_level(logging.DEBUG)
    _routine_lines(drained, fetched)
    assert [r.levelname for r in caplog.records if drained in r.getMessage() and "retry" not in r.getMessage()] == [
        "DEBUG"] * 3
