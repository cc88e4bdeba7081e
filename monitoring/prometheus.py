"""``GET /metrics``: the counters of every process of this host (``catena_site.prometheus``) and the gauges read
from the database and the broker when scraped — never counted on a request's path.

The database figures are grouped counts on indexed columns (active play sessions by the partial index of active
sessions, subscribers by ``(portal, disabled)``, programmes by source); they are kept ``METRICS_DATABASE_CACHE``
seconds in the shared cache, so several scrapers (or web processes) do not repeat them.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.views.decorators.http import require_safe
from prometheus_client.core import GaugeMetricFamily

from catena_site import health, prometheus
from content.models import Program
from subscribers.models import Subscriber

from .models import PlaySession

log = logging.getLogger(__name__)

CACHE_KEY = "metrics:database"


def database_figures() -> dict:
    """``{"sessions": {portal: n}, "subscribers": {(portal, state): n}, "programmes": {portal: n}, "queue": {queue:
    length}}`` (portals by public ID); a family the database or broker could not give is left out."""
    figures: dict = {}
    try:
        figures["sessions"] = {
            prometheus.portal_label(row["portal_id"]): row["n"]
            for row in PlaySession.objects.filter(active=True).values("portal_id").annotate(n=Count("id")).order_by()}
        figures["subscribers"] = {
            (prometheus.portal_label(row["portal_id"]), "disabled" if row["disabled"] else "active"): row["n"]
            for row in Subscriber.objects.values("portal_id", "disabled").annotate(n=Count("id")).order_by()}
        figures["programmes"] = {
            prometheus.portal_label(row["portal_id"]): row["n"]
            for row in Program.objects.values("portal_id").annotate(n=Count("id")).order_by()}
    except DatabaseError:
        log.exception("metrics: could not read the database figures")
    from catena_site.celery import app

    ok, length = health.broker_queue()
    if ok and length is not None:
        figures["queue"] = {app.conf.task_default_queue: length}
    return figures


class DatabaseCollector:
    """The gauges of :func:`database_figures`, for one scrape."""

    def collect(self):
        figures = cache.get(CACHE_KEY) if settings.METRICS_DATABASE_CACHE > 0 else None
        if figures is None:
            figures = database_figures()
            if settings.METRICS_DATABASE_CACHE > 0:
                cache.set(CACHE_KEY, figures, settings.METRICS_DATABASE_CACHE)
        if "sessions" in figures:
            family = GaugeMetricFamily("catena_play_sessions_active", "Play sessions now active, by portal.",
                                       labels=["portal_id"])
            for portal, n in sorted(figures["sessions"].items()):
                family.add_metric([portal], n)
            yield family
        if "subscribers" in figures:
            family = GaugeMetricFamily("catena_subscribers", "Subscribers, by portal and state (active, disabled).",
                                       labels=["portal_id", "state"])
            for (portal, state), n in sorted(figures["subscribers"].items()):
                family.add_metric([portal, state], n)
            yield family
        if "programmes" in figures:
            family = GaugeMetricFamily("catena_epg_programmes", "EPG programmes stored, by portal.",
                                       labels=["portal_id"])
            for portal, n in sorted(figures["programmes"].items()):
                family.add_metric([portal], n)
            yield family
        if "queue" in figures:
            family = GaugeMetricFamily("catena_celery_queue_length", "Background jobs waiting in the Celery queue.",
                                       labels=["queue"])
            for queue, n in sorted(figures["queue"].items()):
                family.add_metric([queue], n)
            yield family


@require_safe
def metrics(request):
    """The Prometheus text; 404 while metrics are off, 401 without the token (403 outside the allowed
    addresses when no token is configured)."""
    status = prometheus.access(request)
    if status == 404:
        raise Http404("Metrics are off.")
    if status != 200:
        response = HttpResponse(f"{status} {'Unauthorized' if status == 401 else 'Forbidden'}\n", status=status,
                                content_type="text/plain")
        if status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body, content_type = prometheus.exposition(DatabaseCollector())
    return HttpResponse(body, content_type=content_type)
