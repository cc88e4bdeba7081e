"""The dead-letter list of the streaming writes: items the database refused, set aside so they block nothing.

Session starts and event batches are buffered (a Redis list) and written in bulk; heartbeats are flushed from
the cache in bulk. A bulk write the database refuses for its *data* (a value it cannot store, an item of an
unexpected shape) is retried one item at a time (:func:`write_each`): the good items are written and each
refused one is moved here — logged with the reason, counted in the ``dead_letters`` metric and kept (the
newest ``KEEP``) in the shared store under ``DEAD_LETTERS`` for an operator to look at
(``python manage.py streaming_dead_letters``). An outage (the database unreachable, a lock timeout) is not
the items' fault: it propagates, the drain stops and the next one resumes with the same items.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable

import psycopg
from django.db import DataError, IntegrityError, connection, transaction

from catena_site.shared_store import CacheErrors, store

from . import metrics

log = logging.getLogger(__name__)

DEAD_LETTERS = "pb:dead"  # the list (Redis) or the one cache entry (file-based cache) of dead letters
KEEP = 1000  # the newest dead letters kept
COUNTER = "dead_letters"

# An item's own fault: the database refuses its data (Django's wrapped errors, or psycopg's from the raw
# cursor of the events upsert), or it does not have the shape the writer expects.
POISON: tuple[type[BaseException], ...] = (
    DataError, IntegrityError, psycopg.DataError, psycopg.IntegrityError,
    ValueError, TypeError, LookupError, OverflowError,
)


def attempt(function: Callable, *args):
    """``function(*args)``; inside a transaction in a savepoint of its own, so that a statement the database
    refuses does not spoil the caller's transaction (outside one, each write is its own transaction)."""
    if connection.in_atomic_block:
        with transaction.atomic():
            return function(*args)
    return function(*args)


def write_each(items: list, write: Callable[[list], Iterable], buffer: str,
               discard: Callable[[object], None] | None = None) -> list:
    """``write(items)`` at once; if the database refuses their data, ``write([item])`` for each item, moving
    every item it refuses to the dead-letter list (and calling ``discard(item)``, e.g. to drop a cached
    heartbeat that would otherwise come back). Returns what the successful writes returned, concatenated.
    Errors other than :data:`POISON` (an outage) propagate from either step."""
    try:
        return list(attempt(write, items))
    except POISON as exc:
        if len(items) == 1:
            _refused(items[0], buffer, discard, exc)
            return []
        log.warning("the database refused a bulk write of %d items from %s; writing them one by one",
                    len(items), buffer, exc_info=True)
    results = []
    for item in items:
        try:
            results.extend(attempt(write, [item]))
        except POISON as exc:
            _refused(item, buffer, discard, exc)
    return results


def _refused(item, buffer: str, discard: Callable[[object], None] | None, error: BaseException) -> None:
    record(buffer, item, error)
    if discard is not None:
        discard(item)


def record(buffer: str, item, error: BaseException | None) -> None:
    """Keep ``item`` of ``buffer`` as a dead letter with the reason; log it and count it. Never raises."""
    reason = f"{type(error).__name__}: {error}"[:500] if error is not None else "refused"
    log.error("dead letter from %s (moved aside, the rest goes on): %s", buffer, reason)
    metrics.count_many({COUNTER: 1, f"{COUNTER}:{buffer}": 1})
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        item = dataclasses.asdict(item)
    entry = {"buffer": buffer, "reason": reason, "at": time.time(), "item": item}
    try:
        cache = store()
        if getattr(cache, "supports_lists", False):
            length = cache.push(DEAD_LETTERS, entry)
            if length > KEEP:
                cache.list_drop_head(DEAD_LETTERS, length - KEEP)
        else:  # the embedded file-based cache: one entry (a rare write, no other writer to race with matters)
            kept = cache.get_many([DEAD_LETTERS]).get(DEAD_LETTERS) or []
            cache.set(DEAD_LETTERS, (kept + [entry])[-KEEP:], None)
    except CacheErrors:
        log.warning("could not keep a dead letter from %s", buffer, exc_info=True)


def entries() -> list[dict]:
    """The kept dead letters, oldest first: ``{"buffer", "reason", "at" (Unix time), "item"}`` each."""
    cache = store()
    if getattr(cache, "supports_lists", False):
        return cache.list_head(DEAD_LETTERS, KEEP)
    return list(cache.get_many([DEAD_LETTERS]).get(DEAD_LETTERS) or [])


def clear() -> None:
    """Forget the kept dead letters."""
    store().delete_many([DEAD_LETTERS])
