"""The Celery application and the one beat schedule of every periodic job."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "catena_site.settings")

app = Celery("catena")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Stable names: beat keeps its state by these keys.
app.conf.beat_schedule = {
    "portals.purge-expired-manager-sessions": {
        "task": "portals.tasks.purge_expired_manager_sessions",
        "schedule": crontab(minute="*/15"),
    },
}
