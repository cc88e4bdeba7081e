"""Celery tasks of the infrastructure layer."""

from __future__ import annotations

import logging

from celery import shared_task

from . import access_events

log = logging.getLogger(__name__)


@shared_task(name="catena_site.tasks.drain_pending_invalidations")
def drain_pending_invalidations() -> int:
    """Deliver the playback-cache invalidations whose delete failed after commit (the cache was unreachable),
    and queue the session re-checks a lost job left waiting. Returns how many invalidations were delivered."""
    delivered = access_events.drain_pending_invalidations()
    if delivered:
        log.info("delivered %d pending playback-cache invalidations", delivered)
    access_events.requeue_forgotten_rechecks()
    return delivered
