"""The Celery application and the one beat schedule of every periodic job."""

import logging
import os
from datetime import timedelta

from celery import Celery
from celery.app.trace import LOG_RECEIVED, LOG_SUCCESS
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "catena_site.settings")

app = Celery("catena")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Tasks carry the log context (request ID, portal…) of the request that sent them; JSON lines in the worker too.
import catena_site.logs  # noqa: E402, F401

# Heartbeats that /healthz and the dashboard read (catena_site/heartbeat.py): the worker's from a bootstep,
# beat's from its scheduler's tick.
app.steps["worker"].add("catena_site.heartbeat:WorkerHeartbeat")
app.conf.beat_scheduler = "catena_site.heartbeat:HeartbeatScheduler"

# Stable names: beat keeps its state by these keys.
app.conf.beat_schedule = {
    # Access changes whose cache invalidation failed after commit (the cache was unreachable) are retried from
    # their pending rows within seconds, not after STREAMER_CACHE_TTL; lost session re-checks are queued again.
    "catena_site.drain-pending-invalidations": {
        "task": "catena_site.tasks.drain_pending_invalidations",
        "schedule": timedelta(seconds=5),
    },
    "portals.purge-expired-manager-sessions": {
        "task": "portals.tasks.purge_expired_manager_sessions",
        "schedule": crontab(minute="*/15"),
    },
    # Streaming: session starts and heartbeats buffered by the auth check reach the database, dead sessions are
    # closed, and (with STREAMER_API_URL) sessions the streaming server no longer has are closed too.
    "monitoring.apply-buffered-events": {  # a safety net: the events endpoint starts a drain itself
        "task": "monitoring.tasks.apply_buffered_events",
        "schedule": timedelta(seconds=30),
    },
    "monitoring.write-opened-sessions": {
        "task": "monitoring.tasks.write_opened_sessions",
        "schedule": timedelta(seconds=5),
    },
    "monitoring.flush-session-heartbeats": {
        "task": "monitoring.tasks.flush_session_heartbeats",
        "schedule": timedelta(seconds=30),
    },
    "monitoring.close-stale-sessions": {
        "task": "monitoring.tasks.close_stale_sessions",
        "schedule": timedelta(seconds=60),
    },
    "monitoring.reconcile-streamer-sessions": {
        "task": "monitoring.tasks.reconcile_streamer_sessions",
        "schedule": timedelta(minutes=5),
    },
    # Subscription periods: record each expiry once, close the sessions it ended (lifecycle.md §1). The access
    # rule does not wait for it: the cached facts carry the instants.
    "subscribers.expire-subscriptions": {
        "task": "subscribers.tasks.expire_subscriptions",
        "schedule": timedelta(seconds=60),
    },
    # EPG: queue a fetch for every source whose period has elapsed (or whose retry is due); reads the
    # sources from the database each time, so new and changed sources need no restart.
    "content.dispatch-epg-fetches": {
        "task": "content.tasks.dispatch_epg_fetches",
        "schedule": timedelta(seconds=60),
    },
    # Webhooks: every delivery that is due (a retry, or one whose job was lost with its worker or the broker) is
    # sent; operations.md §3.
    "monitoring.sweep-webhook-deliveries": {
        "task": "monitoring.tasks.sweep_webhook_deliveries",
        "schedule": timedelta(seconds=60),
    },
    # History (operations.md §5): month partitions created ahead, expired months dropped (monitoring/partitions.py).
    "monitoring.maintain-history-partitions": {
        "task": "monitoring.tasks.maintain_history_partitions",
        "schedule": crontab(hour=3, minute=17),
    },
    # Subscriptions: the expiry reminder SMS, once a day (each subscription's reminder is claimed, never twice).
    "subscribers.send-expiry-reminders": {
        "task": "subscribers.tasks.send_expiry_reminders",
        "schedule": crontab(hour=9, minute=0),
    },
}


# Celery's INFO lines about tasks beat sends every minute or more often ("Scheduler: Sending due task …",
# "Task … received", "Task … succeeded …") are logged at DEBUG: at INFO they filled the console with six lines
# every 5 s. Their failures and retries keep their levels, and what the tasks log themselves is untouched.
FREQUENT = timedelta(minutes=1)
QUIET_TASKS = frozenset(entry["task"] for entry in app.conf.beat_schedule.values()
                        if isinstance(entry["schedule"], timedelta) and entry["schedule"] <= FREQUENT)
# (logger, message) of each line that is quiet for those tasks, in Celery's own wording.
QUIET_LINES = {
    ("celery.beat", "Scheduler: Sending due task %s (%s)"),
    ("celery.worker.strategy", LOG_RECEIVED),
    ("celery.app.trace", LOG_SUCCESS),
}


class QuietFrequentTasks(logging.Filter):
    """Turns Celery's routine INFO lines about the frequent periodic tasks into DEBUG lines (dropped unless the
    logger is set to DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or (record.name, record.msg) not in QUIET_LINES:
            return True
        args = record.args
        task = args.get("name") if isinstance(args, dict) else (args[1] if len(args or ()) > 1 else None)
        if task not in QUIET_TASKS:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


for _logger_name in {name for name, _ in QUIET_LINES}:
    logging.getLogger(_logger_name).addFilter(QuietFrequentTasks())
