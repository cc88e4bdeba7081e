"""The Grafana dashboard (deploy/grafana/catena.json) is valid JSON and queries only metrics Catena exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from catena_site import prometheus
from tests.metrics import TOKEN

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "catena.json"
METRIC = re.compile(r"\bcatena_[a-z_]+")


def exported_names(client) -> set[str]:
    """Every sample name ``/metrics`` can show, once each counter has counted (a histogram's ``_bucket``, ``_sum``
    and ``_count`` included)."""
    prometheus.count_auth_check(None, "refused", "unknown_token", 0.001)
    prometheus.count_events("applied")
    prometheus.count_epg_fetch(None, "success", 1.0)
    prometheus.count_sms(None, "sent")
    prometheus.count_webhook_delivery(None, "delivered")
    client.get("/healthz")
    text = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()
    names = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE):
        names |= {name + suffix for suffix in ("_bucket", "_sum", "_count")} if kind == "histogram" else {name}
    return names


def expressions(dashboard: dict) -> list[str]:
    found = []
    for panel in dashboard["panels"]:
        found += [target["expr"] for target in panel.get("targets", [])]
    found += [variable["definition"] for variable in dashboard["templating"]["list"] if "definition" in variable]
    return found


def test_the_dashboard_queries_only_exported_metrics(client, settings, db):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS, settings.METRICS_DATABASE_CACHE = TOKEN, [], 0
    dashboard = json.loads(DASHBOARD.read_text())
    queried = {name for expression in expressions(dashboard) for name in METRIC.findall(expression)}
    exported = exported_names(client)
    assert queried and not queried - exported, f"not exported: {sorted(queried - exported)}"
    families = {re.sub(r"_(bucket|sum|count|total)$", "", name) for name in exported}
    shown = {re.sub(r"_(bucket|sum|count|total)$", "", name) for name in queried}
    assert families <= shown, f"exported but on no panel: {sorted(families - shown)}"


def test_every_panel_has_a_unique_id_and_a_place(db):
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert all({"h", "w", "x", "y"} <= set(panel["gridPos"]) for panel in dashboard["panels"])
    assert dashboard["uid"] and dashboard["title"] == "Catena"
