"""Prometheus metrics (operations.md §1): the counters and histograms every process counts into, and the text
``GET /metrics`` serves.

Multiprocess mode, always: each process (gunicorn worker, Celery worker and its pool processes, runserver) writes
its values to memory-mapped files in ``PROMETHEUS_MULTIPROC_DIR`` (the settings point it at
``$CATENA_VAR_DIR/prometheus`` unless the operator set it), and a scrape adds up the files of every process of the
host. So the web's ``/metrics`` also shows what the worker counted (EPG fetches, SMS, applied events). The
directory is emptied when the processes start (``dev.py run``; ``catena_site/gunicorn_conf.py``), keeping the
files of processes still running.

Counting costs nothing while metrics are off (neither ``METRICS_TOKEN`` nor ``METRICS_ALLOWED_IPS`` set): nobody
could read them. The gauges that need the database (active play sessions, subscribers, programmes, the Celery queue)
are not counted at all but computed when scraped (``monitoring.prometheus``).

Labels: ``portal_id`` is the portal's 12-character public ID (empty when no portal is known, e.g. an unknown
token); every other label has a small fixed set of values.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import re
import struct
import threading
import time
from bisect import bisect_left
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.core.signals import setting_changed

# Loading the settings points prometheus_client at the directory (PROMETHEUS_MULTIPROC_DIR in the environment),
# which it reads once, when imported: so before the import.
settings.PROMETHEUS_MULTIPROC_DIR  # noqa: B018

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest  # noqa: E402
from prometheus_client.multiprocess import MultiProcessCollector  # noqa: E402

from catena_site.http import client_ip  # noqa: E402
from catena_site.ids import encode_id  # noqa: E402

log = logging.getLogger(__name__)

# Seconds: an auth check takes about a millisecond; an EPG fetch up to EPG_FETCH_TIMEOUT (600 s by default).
FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
SLOW_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200)

AUTH_CHECKS = Counter("catena_auth_checks", "Auth checks of the streaming server, by portal, result "
                      "(allowed, refused, error) and reason (ok or the refusal's code).",
                      ["portal_id", "result", "reason"])
# Labelled, like every metric here: a metric without labels writes its file in every process that imports this
# module, counting or not.
AUTH_CHECK_SECONDS = Histogram("catena_auth_check_seconds", "Time to answer one auth check, in the view, by result.",
                               ["result"], buckets=FAST_BUCKETS)
EVENTS = Counter("catena_events", "Streaming-server session events, by result (applied, or why skipped).",
                 ["result"])
EPG_FETCHES = Counter("catena_epg_fetches", "Finished EPG fetches, by portal and status (success, error, timeout).",
                      ["portal_id", "status"])
EPG_FETCH_SECONDS = Histogram("catena_epg_fetch_seconds", "Duration of a finished EPG fetch (download and import), "
                              "by status.", ["status"], buckets=SLOW_BUCKETS)
SMS_SENT = Counter("catena_sms_sent", "SMS handed to the gateway, by portal and result (sent; error: an attempt "
                   "failed and is retried; failed: given up).", ["portal_id", "result"])
WEBHOOK_DELIVERIES = Counter("catena_webhook_deliveries", "Webhook delivery attempts, by portal and result.",
                             ["portal_id", "result"])
HTTP_REQUESTS = Counter("catena_http_requests", "HTTP requests, by view (URL pattern name), method and status.",
                        ["view", "method", "status"])
HTTP_REQUEST_SECONDS = Histogram("catena_http_request_seconds", "Time to answer an HTTP request, by view.", ["view"],
                                 buckets=FAST_BUCKETS)
# The classic text format, which every Prometheus (2.x and 3.x) reads; our names need none of 1.0.0's escaping.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNRESOLVED_VIEW = "<unresolved>"  # a request no URL pattern matched (404)
STATIC_VIEW = "<static>"  # a static file, answered by WhiteNoise before any URL pattern is tried

# Children of the labelled metrics, by label values: ``labels()`` takes a lock and builds a key on every call,
# which the auth check (thousands per second) should not pay for.
_children: dict[tuple, object] = {}
_enabled: bool | None = None  # enabled(), kept until the settings change


def enabled() -> bool:
    """Whether anybody may read the metrics (``METRICS_TOKEN`` or ``METRICS_ALLOWED_IPS`` set)."""
    global _enabled
    found = _enabled
    if found is None:
        found = _enabled = bool(settings.METRICS_TOKEN or settings.METRICS_ALLOWED_IPS)
    return found


def _settings_changed(setting=None, **kwargs) -> None:
    global _enabled
    if setting in ("METRICS_TOKEN", "METRICS_ALLOWED_IPS"):
        _enabled = None


setting_changed.connect(_settings_changed, dispatch_uid="prometheus.settings_changed")


def _child(metric, *values: str):
    key = (metric, *values)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*values)
    return child


# --- Writing a value the cheap way ------------------------------------------------------------------------------
# prometheus_client's multiprocess value takes a lock, asks the kernel for the process ID (a fork moves its files)
# and looks its position up on every increment, and a histogram walks its buckets: most of what counting cost the
# auth check. Here the hot paths add to the value and write its 16 bytes into the mapped file directly, under a
# lock of this module (threaded workers); the process ID is checked once after a fork (os.register_at_fork), by
# letting prometheus_client's own increment run once, which reopens every value's file for the new process. Where
# a value is not a multiprocess one (no PROMETHEUS_MULTIPROC_DIR: tests of the library itself), its own ``inc``.

_PACK = struct.Struct("dd").pack
_lock = threading.Lock()
_forked = False  # a forked child that has not written yet


def _after_fork() -> None:
    global _forked
    _forked = True


os.register_at_fork(after_in_child=_after_fork)


def _write(value, amount: float) -> None:
    """Add ``amount`` to one value (a counter's, a histogram's sum or bucket); the caller holds ``_lock``."""
    try:
        file = value._file
        position = file._positions[value._key]
    except AttributeError:  # not a multiprocess value
        value.inc(amount)
        return
    value._value += amount
    file._m[position:position + 16] = _PACK(value._value, 0.0)


def _tally(counter, histogram, seconds: float) -> None:
    """``counter.inc()`` and ``histogram.observe(seconds)`` (labelled children) the cheap way: the counter, the
    histogram's sum and the one bucket ``seconds`` falls in (the first bound ≥ it; stored buckets are not
    cumulative)."""
    global _forked
    with _lock:
        if _forked:
            counter._value.inc(0)  # prometheus_client's own pid check: the files of this process from now on
            _forked = False
        _write(counter._value, 1.0)
        _write(histogram._sum, seconds)
        _write(histogram._buckets[bisect_left(histogram._upper_bounds, seconds)], 1.0)


@lru_cache(maxsize=10_000)
def portal_label(portal_id: int | str | None) -> str:
    """The ``portal_id`` label of a portal: its public ID ('' when unknown). Accepts the integer or public ID."""
    if portal_id is None or portal_id == "":
        return ""
    return portal_id if isinstance(portal_id, str) else encode_id(portal_id)


# --- Counting (each never fails its caller) ---------------------------------------------------------------


def count_auth_check(portal_id: int | None, result: str, reason: str, seconds: float) -> None:
    """One answered auth check: ``result`` allowed/refused/error, ``reason`` ok or the refusal's code."""
    if not enabled():
        return
    try:
        _tally(_child(AUTH_CHECKS, portal_label(portal_id), result, reason), _child(AUTH_CHECK_SECONDS, result),
               seconds)
    except Exception:  # a metric is not worth a failed request
        log.warning("could not count an auth check", exc_info=True)


def count_events(result: str, amount: int = 1) -> None:
    """``amount`` streaming events with this ``result`` (applied, or the reason they were skipped)."""
    if amount <= 0 or not enabled():
        return
    try:
        _child(EVENTS, result).inc(amount)
    except Exception:
        log.warning("could not count events", exc_info=True)


def count_epg_fetch(portal_id: int | None, status: str, seconds: float | None) -> None:
    """A finished EPG fetch: its status and, when it ran, how long it took."""
    if not enabled():
        return
    try:
        _child(EPG_FETCHES, portal_label(portal_id), status).inc()
        if seconds is not None:
            _child(EPG_FETCH_SECONDS, status).observe(seconds)
    except Exception:
        log.warning("could not count an EPG fetch", exc_info=True)


def _count_by_portal(metric, what: str, portal_id: int | str | None, result: str) -> None:
    """One more of ``metric`` for the portal and ``result``; never raises, nothing while metrics are off."""
    if not enabled():
        return
    try:
        _child(metric, portal_label(portal_id), result).inc()
    except Exception:
        log.warning("could not count %s", what, exc_info=True)


def count_sms(portal_id: int | str | None, result: str) -> None:
    """One SMS: ``sent`` (accepted), ``error`` (an attempt failed, retried) or ``failed`` (given up)."""
    _count_by_portal(SMS_SENT, "an SMS", portal_id, result)


def count_webhook_delivery(portal_id: int | str | None, result: str) -> None:
    """One webhook delivery attempt and its ``result`` (``delivered``, ``retrying`` or ``failed``)."""
    _count_by_portal(WEBHOOK_DELIVERIES, "a webhook delivery", portal_id, result)


class HttpMetricsMiddleware:
    """Counts every request by view, method and status, and times it by view (from the outermost middleware)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not enabled():
            return self.get_response(request)
        started = time.perf_counter()
        response = self.get_response(request)
        try:
            match = getattr(request, "resolver_match", None)
            if match is not None:
                view = match.view_name
            else:
                view = STATIC_VIEW if request.path.startswith(settings.STATIC_URL) else UNRESOLVED_VIEW
            _tally(_child(HTTP_REQUESTS, view, request.method, str(response.status_code)),
                   _child(HTTP_REQUEST_SECONDS, view), time.perf_counter() - started)
        except Exception:
            log.warning("could not count a request", exc_info=True)
        return response


# --- The multiprocess directory ------------------------------------------------------------------------------

_FILE = re.compile(r"^[a-z_]+_(\d+)\.db$")  # counter_1234.db, histogram_1234.db, gauge_livesum_1234.db…


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def clean_directory(path: str | Path, *, keep_running: bool = True) -> int:
    """Delete the value files in ``path`` (created if missing), but those of processes still running when
    ``keep_running``; returns how many were deleted. The values of processes that ended start again from zero,
    which Prometheus takes for a counter reset."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    deleted = 0
    for file in path.iterdir():
        match = _FILE.match(file.name)
        if match is None or (keep_running and _alive(int(match.group(1)))):
            continue
        file.unlink(missing_ok=True)
        deleted += 1
    return deleted


# --- Reading: who may, and the text ---------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def access(request) -> int:
    """The status ``/metrics`` answers ``request`` with before any work: 404 while metrics are off, 200 for the
    right ``Authorization: Bearer <METRICS_TOKEN>`` or a client address in ``METRICS_ALLOWED_IPS`` (either is
    enough), 401 otherwise when a token is configured, else 403."""
    if not enabled():
        return 404
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return 200
    networks = _networks(tuple(settings.METRICS_ALLOWED_IPS))
    if networks:
        try:
            address = ipaddress.ip_address(client_ip(request) or "")
        except ValueError:
            address = None
        if address is not None and any(address in network for network in networks):
            return 200
    return 401 if token else 403


def exposition(*collectors) -> tuple[bytes, str]:
    """The text of every process's values (this host's ``PROMETHEUS_MULTIPROC_DIR``) plus ``collectors``, and
    its content type."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE
