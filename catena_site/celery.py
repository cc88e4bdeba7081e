"""The Celery application and the one beat schedule of every periodic job."""

import os
from datetime import timedelta

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "catena_site.settings")

app = Celery("catena")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

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
    # EPG: queue a fetch for every source whose period has elapsed (or whose retry is due); reads the
    # sources from the database each time, so new and changed sources need no restart.
    "content.dispatch-epg-fetches": {
        "task": "content.tasks.dispatch_epg_fetches",
        "schedule": timedelta(seconds=60),
    },
}
