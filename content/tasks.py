"""Celery tasks of the content app: EPG fetches and their dispatcher. Thin: IDs in, services do the work."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from .epg import services as epg_services

log = logging.getLogger(__name__)

# Hard stop for a worker stuck beyond the importer's own deadline (which normally ends the fetch first).
FETCH_TIME_LIMIT_MARGIN = 120


@shared_task(name="content.tasks.fetch_epg_source", ignore_result=True,
             time_limit=settings.EPG_FETCH_TIMEOUT + FETCH_TIME_LIMIT_MARGIN)
def fetch_epg_source(fetch_id: int) -> str | None:
    """Run one queued EPG fetch; returns its final status (None if it was gone or already taken)."""
    fetch = epg_services.run_fetch(fetch_id)
    if fetch is None:
        log.info("EPG fetch %s: nothing to do (gone or claimed by another worker)", fetch_id)
        return None
    return fetch.status


@shared_task(name="content.tasks.dispatch_epg_fetches", ignore_result=True)
def dispatch_epg_fetches() -> int:
    """Queue a fetch for every EPG source whose period has elapsed (or whose retry is due)."""
    queued = epg_services.dispatch_due_fetches()
    if queued:
        log.info("queued %d due EPG fetches", queued)
    return queued
