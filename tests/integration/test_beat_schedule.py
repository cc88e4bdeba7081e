"""The one beat schedule: stable entry names, each naming a task the worker has registered."""

from __future__ import annotations

import datetime as dt
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
