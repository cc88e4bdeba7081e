"""Celery tasks of monitoring: session cleanup, heartbeat flushing, access re-checks, the streamer's API."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from catena_site import access_events
from catena_site.access_events import RECHECK_TASK, enqueue
from portals import streaming_servers
from portals.models import Portal

from . import partitions, sessions
from .operations import DELIVER_TASK
from .streaming import client, events
from .webhooks import delivery

log = logging.getLogger(__name__)

# Time limits of the buffer drains stay below the TTL of the Redis lock they hold (120 s for session starts,
# 300 s for events): a drain still running when its lock expired would run beside the next one. The soft limit
# raises inside the transaction, which rolls back, and the drain's ``finally`` releases the lock.

REAUTH_TASK = "monitoring.tasks.reauth_stream"


@shared_task(name="monitoring.tasks.flush_session_heartbeats", soft_time_limit=240, time_limit=280)
def flush_session_heartbeats() -> int:
    """Write cached ``update_session`` heartbeats of active sessions to the database."""
    return sessions.flush_heartbeats()


@shared_task(name="monitoring.tasks.write_opened_sessions", soft_time_limit=90, time_limit=110)
def write_opened_sessions() -> int:
    """Write session starts buffered in Redis by the auth check (``new_session``) to the database."""
    return sessions.write_opened_sessions()


@shared_task(name="monitoring.tasks.apply_buffered_events", soft_time_limit=240, time_limit=280)
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
    """After access changes: close the sessions no longer allowed, then have the streamer re-ask.

    One job per portal at a time takes the scope every change of the portal left meanwhile (see
    ``catena_site.access_events``), merged, and runs again while more arrives. ``subscriber_ids`` and
    ``channel_ids`` are the scope of a job queued by an older version, which named it in the message.
    """
    names = set(sessions.recheck_sessions(portal_id, subscriber_ids, channel_ids)) if subscriber_ids or channel_ids \
        else set()
    rounds = 0
    while True:
        subscribers, channels = access_events.take_recheck_scope(portal_id)
        if subscribers or channels:
            names.update(sessions.recheck_sessions(portal_id, subscribers, channels))
            rounds += 1
            if rounds >= access_events.RECHECK_ROUNDS:  # a steady stream of changes: let other jobs run too
                access_events.continue_recheck(portal_id)
                break
        elif not access_events.finish_recheck(portal_id):
            break
    if names:
        server_id = Portal.objects.filter(pk=portal_id).values_list("streaming_server_id", flat=True).first()
        if client.configured(streaming_servers.by_id(server_id) if server_id else None):
            for name in sorted(names):
                enqueue(REAUTH_TASK, stream_name=name, server_id=server_id)
    return sorted(names)


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


# Webhooks: a delivery job sends for WORK_SECONDS at most, then queues its successor; the limits leave room for the
# last POST (WEBHOOK_TIMEOUT) after that.
@shared_task(name=DELIVER_TASK, soft_time_limit=240, time_limit=280)
def deliver_webhook(webhook_id: int) -> int:
    """Send the webhook's due deliveries, in order (see ``monitoring.webhooks.delivery``); how many were delivered."""
    return delivery.send_due(webhook_id)


@shared_task(name="monitoring.tasks.sweep_webhook_deliveries")
def sweep_webhook_deliveries() -> int:
    """Queue the sending of every webhook with a due delivery (lost jobs, retries); how many were queued."""
    return delivery.sweep()


@shared_task(name="monitoring.tasks.maintain_history_partitions", soft_time_limit=240, time_limit=280)
def maintain_history_partitions() -> dict:
    """Create the history tables' month partitions ahead and drop the expired ones (``monitoring.partitions``)."""
    result = partitions.maintain()
    return {"created": result.created, "dropped": result.dropped, "deleted": result.deleted}
