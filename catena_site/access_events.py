"""Access changes announced by the service layer, after commit: exact cache invalidation and session re-checks.

Playback decisions are cached in the shared cache (``subscribers.playback_cache``). Every cached decision
remembers the *stamps* of the facts it was computed from; a stamp is a random value stored under a key of
its own, and a change of the fact deletes that key, so the next check sees a missing (hence different)
stamp and recomputes. Deleting a key is exact (only decisions that used that fact are affected), needs no
knowledge of which decisions exist, and is safe against a check that computes concurrently with the change
(it read the stamp *before* reading the database, so it stored the old stamp).

This module lives in the infrastructure layer so that ``content`` and ``subscribers`` can call it without
importing ``monitoring``; the re-check of active play sessions is a Celery task that ``monitoring``
registers under :data:`RECHECK_TASK`, enqueued by name.

Which service calls what:

=====================================================  =======================================================
change                                                 call
=====================================================  =======================================================
subscriber created, phone changed                      ``token_changed(token)``
subscriber disabled / enabled / deleted                ``token_changed(token)`` + ``recheck_sessions(...)``
playback token reset                                   ``token_changed(old, new)`` + ``recheck_sessions(...)``
subscription added / removed                           ``subscriber_changed(id)`` (+ recheck when removed)
channel added to / removed from a package              ``packages_changed(id)`` (+ recheck when removed)
package deleted                                        ``packages_changed(id)`` (+ ``portal_changed``) + recheck
package made free / not free, portal settings changed  ``portal_changed(id)`` (+ recheck when not free)
channel created / deleted                              ``channels_changed(portal)`` (+ packages, recheck)
=====================================================  =======================================================
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.cache import caches
from django.db import transaction

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


def channels_stamp_key(portal_id: int) -> str:
    """Protects the set of channel names of a portal (which names exist at all)."""
    return f"pb:sc:{portal_id}"


def cache():
    """The shared cache the playback decisions live in (every web process reads the same one)."""
    return caches[getattr(settings, "STREAMER_CACHE_ALIAS", "default")]


# --- Announcements -----------------------------------------------------------------------------------------


def _after_commit(keys: list[str], recheck: dict | None = None) -> None:
    """After the current transaction commits: delete the stamp keys, then enqueue the session re-check.

    Outside a transaction the callback runs at once. Failures are logged, never raised into the caller's
    response: the change itself is committed by then.
    """

    def run() -> None:
        try:
            cache().delete_many(keys)
        except Exception:  # the cache is down: entries expire after STREAMER_CACHE_TTL at the latest
            log.exception("could not invalidate playback decisions %s", keys)
        if recheck is not None:
            enqueue(RECHECK_TASK, **recheck)

    transaction.on_commit(run, robust=True)


def enqueue(task_name: str, *, countdown: float | None = None, **kwargs) -> None:
    """Send a Celery task by name (``monitoring`` registers it; the lower layers never import it)."""
    try:
        from catena_site.celery import app

        app.signature(task_name, kwargs=kwargs).apply_async(countdown=countdown)
    except Exception:  # broker down: stale-session cleanup and the next auth check still catch up
        log.exception("could not enqueue %s", task_name)


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
    """The portal's free packages or settings changed: every decision of the portal depends on them."""
    _after_commit([portal_stamp_key(portal_id)])


def channels_changed(portal_id: int) -> None:
    """A channel of the portal was created or deleted."""
    _after_commit([channels_stamp_key(portal_id)])


def recheck_sessions(portal_id: int, *, subscriber_ids: Iterable[int] = (), channel_ids: Iterable[int] = ()) -> None:
    """After commit, close the active play sessions in this scope that the access rule no longer allows.

    Runs in a Celery task of ``monitoring`` (which also asks the streaming server to re-authorize them);
    the next auth check refuses them anyway, since the stamps above are already gone.
    """
    scope = {"portal_id": portal_id, "subscriber_ids": sorted(set(subscriber_ids)),
             "channel_ids": sorted(set(channel_ids))}
    if scope["subscriber_ids"] or scope["channel_ids"]:
        _after_commit([], scope)
