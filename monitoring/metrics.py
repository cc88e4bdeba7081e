"""Counters of the streaming integration (ignored events and the like), kept in the shared cache.

Good enough for an operator's dashboard and for tests; they are totals since the cache was last cleared. The
``events_*`` counters are also Prometheus's ``catena_events_total{result}`` (``catena_site.prometheus``).
"""

from __future__ import annotations

import logging

from catena_site import prometheus
from catena_site.shared_store import store

log = logging.getLogger(__name__)

PREFIX = "mon:count:"
EVENTS_PREFIX = "events_"  # events_applied, events_invalid…: catena_events_total{result="applied"…}
EVENT_COUNTERS = ("events_applied", "events_unknown_token", "events_unknown_stream", "events_invalid",
                  "events_unsupported")


def count(name: str, amount: int = 1) -> None:
    """Add ``amount`` to a counter; never fails the caller."""
    count_many({name: amount})


def count_many(amounts: dict[str, int]) -> None:
    """Add to several counters at once (one round trip on Redis); never fails the caller."""
    for name, amount in amounts.items():
        if name.startswith(EVENTS_PREFIX):
            prometheus.count_events(name[len(EVENTS_PREFIX):], amount)
    amounts = {PREFIX + name: n for name, n in amounts.items() if n > 0}
    if not amounts:
        return
    try:
        store().incr_many(amounts)
    except Exception:  # a counter is not worth a failed request
        log.warning("could not count %s", list(amounts), exc_info=True)


def counters(names=EVENT_COUNTERS) -> dict[str, int]:
    """Current values of the named counters (0 when never counted)."""
    try:
        found = store().get_many([PREFIX + name for name in names])
    except Exception:
        found = {}
    return {name: int(found.get(PREFIX + name, 0)) for name in names}
