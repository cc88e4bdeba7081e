"""Periodic jobs of the portals app."""

import logging

from celery import shared_task

from . import services

log = logging.getLogger(__name__)


@shared_task(name="portals.tasks.purge_expired_manager_sessions")
def purge_expired_manager_sessions() -> int:
    """Remove manager sessions idle past MANAGER_SESSION_TTL (they are refused anyway; this frees the rows)."""
    deleted = services.purge_expired_sessions()
    log.info("purged %d expired manager sessions", deleted)
    return deleted
