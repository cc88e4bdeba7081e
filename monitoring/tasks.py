"""Celery tasks of monitoring: session cleanup, heartbeat flushing, access re-checks, the streamer's API."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from catena_site.access_events import RECHECK_TASK, enqueue
from portals import streaming_servers
from portals.models import Portal

from . import sessions
from .streaming import client, events

log = logging.getLogger(__name__)

REAUTH_TASK = "monitoring.tasks.reauth_stream"


@shared_task(name="monitoring.tasks.flush_session_heartbeats")
def flush_session_heartbeats() -> int:
    """Write cached ``update_session`` heartbeats of active sessions to the database."""
    return sessions.flush_heartbeats()


@shared_task(name="monitoring.tasks.write_opened_sessions")
def write_opened_sessions() -> int:
    """Write session starts buffered in Redis by the auth check (``new_session``) to the database."""
    return sessions.write_opened_sessions()


@shared_task(name="monitoring.tasks.apply_buffered_events")
def apply_buffered_events() -> int:
    """Apply the session events the events endpoint buffered in Redis."""
    return events.apply_buffered_events()


@shared_task(name="monitoring.tasks.close_stale_sessions")
def close_stale_sessions() -> int:
    """Close sessions with no sign of life for ``SESSION_STALE_SECONDS`` (``closedAt = updatedAt``)."""
    closed = sessions.close_stale_sessions()
    if closed:
        log.info("closed %d stale play sessions", closed)
    return closed


@shared_task(name=RECHECK_TASK)
def recheck_sessions(portal_id: int, subscriber_ids: list[int] | None = None,
                     channel_ids: list[int] | None = None) -> list[str]:
    """After an access change: close the sessions no longer allowed, then have the streamer re-ask."""
    names = sessions.recheck_sessions(portal_id, subscriber_ids or (), channel_ids or ())
    if names:
        server_id = Portal.objects.filter(pk=portal_id).values_list("streaming_server_id", flat=True).first()
        if client.configured(streaming_servers.by_id(server_id) if server_id else None):
            for name in names:
                enqueue(REAUTH_TASK, stream_name=name, server_id=server_id)
    return names


@shared_task(name=REAUTH_TASK, bind=True, autoretry_for=(client.StreamerUnavailable,), retry_backoff=2,
             retry_backoff_max=300, retry_jitter=True, max_retries=8)
def reauth_stream(self, stream_name: str, server_id: int | None = None) -> bool:
    """``POST {API URL}/sessions/reauth?name=…`` on the streaming server ``server_id`` (None, from a task queued
    before servers existed: the default one): it re-asks now and gets 403 at once."""
    server = streaming_servers.by_id(server_id)
    if not client.configured(server):
        return False
    return client.reauth(server, stream_name)


@shared_task(name="monitoring.tasks.reconcile_streamer_sessions")
def reconcile_streamer_sessions() -> int:
    """For each streaming server with an API: close our active sessions of its portals that it no longer has."""
    closed = 0
    for server in streaming_servers.all_servers():
        if not client.configured(server):
            continue
        listed_at = timezone.now()
        try:
            ids = client.session_ids(server)
        except (client.StreamerUnavailable, client.StreamerError) as exc:
            log.warning("reconciliation with streaming server %s skipped: %s", server.name, exc)
            continue
        count = sessions.reconcile(ids, listed_at, server_id=server.id)
        if count:
            log.info("reconciliation closed %d play sessions streaming server %s no longer has", count, server.name)
        closed += count
    return closed
