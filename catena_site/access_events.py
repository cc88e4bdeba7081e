"""Access changes announced by the service layer, after commit: exact cache invalidation and session re-checks.

Playback decisions are cached in the shared cache (``subscribers.playback_cache``). Every cached decision
remembers the *stamps* of the facts it was computed from; a stamp is a random value stored under a key of
its own, and a change of the fact deletes that key, so the next check sees a missing (hence different)
stamp and recomputes. Deleting a key is exact (only decisions that used that fact are affected), needs no
knowledge of which decisions exist, and is safe against a check that computes concurrently with the change
(it read the stamp *before* reading the database, so it stored the old stamp).

Both halves are durable: the keys to delete and the scope to re-check are written as rows
(``catena_site.models``) in the change's own transaction. A delete the cache could not take is retried from
its row within seconds (:func:`drain_pending_invalidations`); re-checks of one portal are merged into one job
(:func:`recheck_sessions`).

On Redis every delivery also gives the generation key (:func:`generation_key`) a new random value, in the same
transaction as the deletes: the web processes' own tier of decisions (``subscribers.playback_cache``) is valid
only while that key holds the value it was read under.

This module lives in the infrastructure layer so that ``content`` and ``subscribers`` can call it without
importing ``monitoring``; the re-check of active play sessions is a Celery task that ``monitoring``
registers under :data:`RECHECK_TASK`, enqueued by name.

Which service calls what:

=====================================================  =======================================================
change                                                 call
=====================================================  =======================================================
subscriber created, phone or player login changed      ``token_changed(token)``
player password reset                                  ``token_changed(token)`` (drops any player-credential
                                                       facts kept under the token's stamp)
subscriber disabled / enabled / deleted                ``token_changed(token)`` + ``recheck_sessions(...)``
playback token reset                                   ``token_changed(old, new)`` + ``recheck_sessions(...)``
subscription added / removed                           ``subscriber_changed(id)`` (+ recheck when removed)
subscription period changed, expiry recorded (job)     ``subscriber_changed(id)`` + recheck
channel added to / removed from a package              ``packages_changed(id)`` (+ recheck when removed)
package deleted                                        ``packages_changed(id)`` (+ ``portal_changed``) + recheck
package made free / not free, portal settings changed  ``portal_changed(id)`` (+ recheck when not free, or when
                                                       ``allowAnonymous`` is switched off: the free channels)
channel created / deleted                              ``channels_changed(portal)`` (+ packages, recheck)
channel's location restrictions changed, a location's  ``packages_changed(...)`` of the channels' packages
countries/networks changed, a location deleted         + ``recheck_sessions(channel_ids=...)``
channel's archiveDays changed to or from 0             ``packages_changed(...)`` of the channel's packages
                                                       (+ ``recheck_sessions(channel_ids=...)`` when to 0: its
                                                       archive sessions); other archiveDays changes: nothing
channel's categories changed, category changes         nothing: categories do not affect playback decisions
device added / removed, subscriber's maxDevices        ``devices_changed(subscriber id)``
webhook created / changed / deleted                    ``webhooks_changed(portal id)`` (the operations outbox's
                                                       cached list of the portal's webhooks, not a playback
                                                       decision)
an EPG import changes its XMLTV channels, a channel's  nothing: the guided mapping's cached suggestions
name or title changed, a channel created               (``content.epg.mapping``) are keyed by the digest of the
                                                       stored list and the channel's name and title, so a change
                                                       reads another entry
=====================================================  =======================================================
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Iterable

from django.conf import settings
from django.core.cache import caches
from django.core.signals import request_started
from django.db import transaction
from django.utils import timezone

from .models import PendingInvalidation, PendingRecheck

log = logging.getLogger(__name__)

RECHECK_TASK = "monitoring.tasks.recheck_sessions"

# --- Key names (shared by the writer here and the reader in subscribers.playback_cache) ----------------------


def token_digest(token: str) -> str:
    """A fixed-length digest of a playback token: keys never contain the secret itself."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def token_stamp_key(token: str) -> str:
    """Protects token → subscriber, and the subscriber's ``disabled`` flag."""
    return f"pb:st:{token_digest(token)}"


def subscriber_stamp_key(subscriber_id: int) -> str:
    """Protects the subscriber's explicit subscriptions."""
    return f"pb:ss:{subscriber_id}"


def portal_stamp_key(portal_id: int) -> str:
    """Protects the portal's free packages and its settings (``maxSessionsPerSubscriber``)."""
    return f"pb:sp:{portal_id}"


def package_stamp_key(package_id: int) -> str:
    """Protects the channels of one package."""
    return f"pb:sk:{package_id}"


def anonymous_stamp_key() -> str:
    """Protects which portals of each streaming server allow anonymous viewing (``allowAnonymous``, the portal's
    server): deleted with every portal's stamp, so it changes whenever any portal's settings or server do."""
    return "pb:sa"


def channels_stamp_key(portal_id: int) -> str:
    """Protects the set of channel names of a portal (which names exist at all)."""
    return f"pb:sc:{portal_id}"


def devices_stamp_key(subscriber_id: int) -> str:
    """Protects the subscriber's known devices and its own device limit (lifecycle.md §2)."""
    return f"pb:sd:{subscriber_id}"


def generation_key() -> str:
    """Takes a new random value with every invalidation, in the same Redis transaction as the deletes: the one
    stamp the process tier of the playback facts (``subscribers.playback_cache``) validates its entries by."""
    return "pb:gen"


def webhooks_stamp_key(portal_id: int) -> str:
    """Protects the cached list of a portal's active webhooks (``monitoring.operations.subscribed_webhooks``)."""
    return f"wh:st:{portal_id}"


def cache():
    """The shared cache the playback decisions live in (every web process reads the same one)."""
    return caches[getattr(settings, "STREAMER_CACHE_ALIAS", "default")]


# --- Announcements -----------------------------------------------------------------------------------------


def _after_commit(keys: list[str]) -> None:
    """Delete the stamp keys after the current transaction commits, retried from a durable record if needed.

    The keys are written as a :class:`~catena_site.models.PendingInvalidation` row in the change's own
    transaction (outside one, at once), and that row is deleted once the keys are gone from the cache. When the
    cache cannot be reached then, the row stays and :func:`drain_pending_invalidations` retries it: a beat job
    of the worker every few seconds, and this process's next request (see :func:`_retry_on_request`). So a
    change the caller was told succeeded is enforced within seconds, never only after ``STREAMER_CACHE_TTL``.
    Failures are logged, never raised into the caller's response: the change itself is committed by then.
    """
    if not keys:
        return
    row = PendingInvalidation.objects.create(keys="\n".join(keys))
    transaction.on_commit(lambda: _deliver([row.pk], keys), robust=True)


def _deliver(row_ids: list[int], keys: list[str]) -> bool:
    """Delete ``keys`` from the cache, then their pending rows; False (rows kept, retry flagged) if the cache failed."""
    global _retry_due
    from .shared_store import store  # it imports this module

    try:
        store().invalidate(keys, generation_key())
    except Exception as exc:  # the cache is unreachable: the pending rows are retried within seconds
        log.warning("could not invalidate playback decisions %s (%s); retrying from the pending record", keys, exc)
        _retry_due = time.monotonic()
        return False
    PendingInvalidation.objects.filter(pk__in=row_ids).delete()
    return True


def drain_pending_invalidations(batch: int = 500) -> int:
    """Deliver every invalidation still pending (its cache delete failed); return how many rows were delivered.

    Safe to run anywhere and concurrently: deleting a stamp key twice only makes the next check recompute.
    Stops at the first cache failure (the rows stay for the next attempt).
    """
    delivered = 0
    while True:
        rows = list(PendingInvalidation.objects.order_by("id").values_list("id", "keys")[:batch])
        if not rows:
            return delivered
        keys = sorted({key for _, text in rows for key in text.split("\n") if key})
        if not _deliver([pk for pk, _ in rows], keys):
            return delivered
        delivered += len(rows)
        if len(rows) < batch:
            return delivered


# The writing process's own retry: monotonic time after which its next request drains the pending
# invalidations, None while this process has delivered everything it wrote. Checked on every request, so it
# costs one comparison there and no query (the auth check's warm path included).
_retry_due: float | None = None


def _retry_on_request(**kwargs) -> None:
    """``request_started``: when an invalidation of this process failed, drain the pending ones (throttled)."""
    global _retry_due
    due = _retry_due
    if due is None or time.monotonic() < due:
        return
    _retry_due = None
    try:
        drain_pending_invalidations()
    except Exception:  # e.g. the database is down too: the worker's beat job drains them later
        log.exception("could not drain pending invalidations")
        if _retry_due is None:
            _retry_due = time.monotonic()
    if _retry_due is not None:  # still failing: not again before a pause, whatever the request rate
        _retry_due = time.monotonic() + getattr(settings, "ACCESS_RETRY_SECONDS", 2)


request_started.connect(_retry_on_request, dispatch_uid="access_events.retry_on_request")


def enqueue(task_name: str, *, countdown: float | None = None, **kwargs) -> bool:
    """Send a Celery task by name (``monitoring`` registers it; the lower layers never import it).

    Returns False (logged) when the broker could not take it.
    """
    try:
        from catena_site.celery import app

        app.signature(task_name, kwargs=kwargs).apply_async(countdown=countdown)
        return True
    except Exception:  # broker down: stale-session cleanup and the next auth check still catch up
        log.exception("could not enqueue %s", task_name)
        return False


def token_changed(*tokens: str) -> None:
    """A token now means something else (new, reset, subscriber disabled/enabled/deleted)."""
    _after_commit([token_stamp_key(t) for t in tokens if t])


def subscriber_changed(subscriber_id: int) -> None:
    """The subscriber's explicit subscriptions changed."""
    _after_commit([subscriber_stamp_key(subscriber_id)])


def packages_changed(*package_ids: int) -> None:
    """The channels of these packages changed (or the packages are gone)."""
    _after_commit([package_stamp_key(p) for p in package_ids])


def portal_changed(portal_id: int) -> None:
    """The portal's free packages, settings or streaming server changed: every decision of the portal depends on
    them, and so does the list of the portals allowing anonymous viewing (``anonymous_stamp_key``)."""
    _after_commit([portal_stamp_key(portal_id), anonymous_stamp_key()])


def devices_changed(subscriber_id: int) -> None:
    """A device of the subscriber was added or removed, or its own device limit changed."""
    _after_commit([devices_stamp_key(subscriber_id)])


def channels_changed(portal_id: int) -> None:
    """A channel of the portal was created or deleted."""
    _after_commit([channels_stamp_key(portal_id)])


def webhooks_changed(portal_id: int) -> None:
    """A webhook of the portal was created, changed (URL, types, active) or deleted."""
    _after_commit([webhooks_stamp_key(portal_id)])


# --- Session re-checks, merged per portal ------------------------------------------------------------------
#
# A burst of changes must not become a burst of jobs (one per change kept the embedded default's worker
# minutes behind). The scope of each change is written as rows in the change's transaction; after commit one
# job per portal is enqueued, unless the portal's flag in the shared cache says one is already queued or
# running. The job takes the rows (all changes since it last looked, merged), re-checks, and only then lets
# go of the flag; rows that arrived meanwhile make it run again. A change that found the flag set committed
# its rows before looking, and the job looks for rows after letting go: no scope is ever left behind.

RECHECK_FLAG_TTL = 300  # seconds: a job lost with its worker blocks the portal's next enqueue this long at most
RECHECK_ROUNDS = 5  # rounds one job runs before it queues its successor (other jobs get their turn meanwhile)


def recheck_flag_key(portal_id: int) -> str:
    return f"pb:rq:{portal_id}"


def recheck_sessions(portal_id: int, *, subscriber_ids: Iterable[int] = (), channel_ids: Iterable[int] = ()) -> None:
    """After commit, close the active play sessions in this scope that the access rule no longer allows.

    Runs in a Celery task of ``monitoring`` (which also asks the streaming server to re-authorize them),
    merged with every other re-check of the portal waiting meanwhile; the next auth check refuses them
    anyway, since the stamps above are already gone.
    """
    rows = [PendingRecheck(portal_id=portal_id, subscriber_id=s) for s in sorted(set(subscriber_ids))]
    rows += [PendingRecheck(portal_id=portal_id, channel_id=c) for c in sorted(set(channel_ids))]
    if rows:
        PendingRecheck.objects.bulk_create(rows)
        transaction.on_commit(lambda: request_recheck(portal_id), robust=True)


def request_recheck(portal_id: int) -> bool:
    """Enqueue the portal's re-check job unless one is queued or running; True if this call enqueued it."""
    key = recheck_flag_key(portal_id)
    try:
        if not cache().add(key, 1, timeout=RECHECK_FLAG_TTL):
            return False
    except Exception as exc:  # no shared flag: a job per change, as without merging
        log.warning("re-check flag unavailable (%s); enqueuing a job of its own", exc)
    if enqueue(RECHECK_TASK, portal_id=portal_id):
        return True
    _release(key)  # no job carries the flag: the next change (or the safety net) tries again
    return False


def _release(key: str) -> None:
    try:
        cache().delete(key)
    except Exception as exc:
        log.warning("could not release the re-check flag %s (%s); it expires by itself", key, exc)


def take_recheck_scope(portal_id: int, batch: int = 10_000) -> tuple[list[int], list[int]]:
    """Take (and delete) the waiting scope of the portal's re-check: ``(subscriber IDs, channel IDs)``."""
    with transaction.atomic():
        rows = list(PendingRecheck.objects.select_for_update(skip_locked=True).filter(portal_id=portal_id)
                    .order_by("id").values_list("id", "subscriber_id", "channel_id")[:batch])
        if rows:
            PendingRecheck.objects.filter(id__in=[pk for pk, _, _ in rows]).delete()
    subscribers = sorted({s for _, s, _ in rows if s is not None})
    channels = sorted({c for _, _, c in rows if c is not None})
    return subscribers, channels


def finish_recheck(portal_id: int) -> bool:
    """The job found nothing left: let go of the flag. True when scope arrived meanwhile and this job took the
    flag again (it must run once more); False when it is done, or another job has the flag now."""
    key = recheck_flag_key(portal_id)
    _release(key)
    if not PendingRecheck.objects.filter(portal_id=portal_id).exists():
        return False
    try:
        return bool(cache().add(key, 1, timeout=RECHECK_FLAG_TTL))
    except Exception:  # no shared flag: the rows are there and nobody can tell who takes them, so this job does
        return True


def continue_recheck(portal_id: int) -> None:
    """A job ran its rounds and scope is still arriving: queue its successor, which inherits the flag."""
    if not enqueue(RECHECK_TASK, portal_id=portal_id):
        _release(recheck_flag_key(portal_id))


def requeue_forgotten_rechecks(older_than: float = 60.0) -> int:
    """Safety net (beat): enqueue the re-check of portals whose scope waited ``older_than`` seconds (a job lost
    with its worker, or the broker down when it was asked for). Portals with a job under way are left alone."""
    cutoff = timezone.now() - dt.timedelta(seconds=older_than)
    portals = set(PendingRecheck.objects.filter(created_at__lt=cutoff).values_list("portal_id", flat=True)[:1000])
    return sum(request_recheck(portal_id) for portal_id in sorted(portals))
