"""Screens of monitoring: the dashboard and the operations log."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass

from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.views.generic import TemplateView

from catena_site.ids import encode_id
from catena_site.web import PortalMixin, keyset_page
from content.models import Channel, Package
from portals.models import Manager, Portal
from subscribers.models import Subscriber

from .filters import OperationFilter
from .operations import Actor, Operation, OperationType

RECENT_OPERATIONS = 10
OPERATION_COLUMNS = ["Time (UTC)", "Type", "Actor", "Subscriber", "Package", "Details"]
ACTOR_LABELS = {Actor.API_KEY: "API key", Actor.SYSTEM: "System", Actor.SUBSCRIBER: "Subscriber",
                Actor.MANAGER: "Manager"}
TYPE_LABELS = dict(OperationType.choices)


# --- Dashboard --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DashboardCount:
    """One figure of the dashboard: a label, how to count it for a portal, and the screen listing it."""

    label: str
    count: Callable[[Portal], int]
    url_name: str = ""


def _operations_last_day(portal: Portal) -> int:
    since = timezone.now() - dt.timedelta(hours=24)
    return Operation.objects.for_portal(portal).filter(created_at__gte=since).count()


# Later apps add their figures here (channels, packages, subscribers, active play sessions…).
DASHBOARD_COUNTS: list[DashboardCount] = [
    DashboardCount("Channels", lambda portal: Channel.objects.for_portal(portal).count(), "content:channel-list"),
    DashboardCount("Packages", lambda portal: Package.objects.for_portal(portal).count(), "content:package-list"),
    DashboardCount("Active subscribers",
                   lambda portal: Subscriber.objects.for_portal(portal).filter(disabled=False).count(),
                   "subscribers:list"),
    DashboardCount("Blocked subscribers",
                   lambda portal: Subscriber.objects.for_portal(portal).filter(disabled=True).count(),
                   "subscribers:list"),
    DashboardCount("Managers", lambda portal: Manager.objects.for_portal(portal).count(), "web:manager-list"),
    DashboardCount("Operations in the last 24 hours", _operations_last_day, "monitoring:operation-list"),
]


class DashboardView(PortalMixin, TemplateView):
    """The portal at a glance: its counts and the most recent operations."""

    template_name = "monitoring/dashboard.html"
    section = "dashboard"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["counts"] = [
            {"label": item.label, "value": item.count(self.portal),
             "url": reverse(item.url_name) if item.url_name else ""}
            for item in DASHBOARD_COUNTS
        ]
        recent = Operation.objects.for_portal(self.portal).order_by("-id")[:RECENT_OPERATIONS]
        context["operations"] = [OperationRow(op) for op in recent]
        context["columns"] = OPERATION_COLUMNS
        return context


# --- Operations log ---------------------------------------------------------------------------------------


def _short(value, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summarize_payload(payload: dict, limit: int = 160) -> str:
    """A one-line reading of an operation's payload: ``key: value`` and ``field: old → new`` parts."""
    parts: list[str] = []

    def add(part: str) -> None:
        if part not in parts:  # e.g. a created manager's email, both at the top and in its changes
            parts.append(part)

    def walk(key: str, value) -> None:
        if isinstance(value, dict) and set(value) == {"old", "new"}:
            if value["old"] is None:
                add(f"{key}: {_short(value['new'])}")
            else:
                add(f"{key}: {_short(value['old'])} → {_short(value['new'])}")
        elif isinstance(value, dict) and value and key in ("", "changes"):
            for inner_key, inner_value in value.items():
                walk(inner_key, inner_value)
        elif key:
            add(f"{key}: {_short(value)}")

    walk("", payload or {})
    text = "; ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class OperationRow:
    """An operation as a table row shows it."""

    def __init__(self, operation: Operation):
        self.operation = operation
        self.created_at = operation.created_at
        self.type = operation.type
        self.type_label = TYPE_LABELS.get(operation.type, operation.type)
        self.actor_email = operation.actor_email
        self.actor_label = ACTOR_LABELS.get(operation.actor_type, operation.actor_type)
        self.subscriber_id = encode_id(operation.subscriber_id) if operation.subscriber_id else ""
        self.package_id = encode_id(operation.package_id) if operation.package_id else ""
        self.summary = summarize_payload(operation.payload)
        self.payload_json = json.dumps(operation.payload, ensure_ascii=False, indent=2, sort_keys=True)


# The screen's query parameters are the API's, except the date range: ``from`` and ``to`` are days
# picked in date inputs, ``to`` included.
SCREEN_FILTERS = ("type", "subscriberId", "packageId", "actorId")
FILTER_LABELS = {"type": "Type", "subscriberId": "Subscriber ID", "packageId": "Package ID",
                 "actorId": "Actor", "created_at_gte": "From", "created_at_lt": "To"}


def operation_filter_data(query: QueryDict) -> QueryDict:
    """The screen's query string as OperationFilter parameters."""
    data = QueryDict(mutable=True)
    for name in SCREEN_FILTERS:
        data.setlist(name, [value.strip() for value in query.getlist(name) if value.strip()])
    if query.get("from", "").strip():
        data["created_at_gte"] = query["from"].strip()
    to = query.get("to", "").strip()
    if to:
        try:
            day = parse_date(to)
        except ValueError:
            day = None
        # An unreadable day goes through as typed, so that the filter reports it like the API does.
        data["created_at_lt"] = (day + dt.timedelta(days=1)).isoformat() if day else to
    return data


class OperationListView(PortalMixin, TemplateView):
    """The operations log, newest first, filtered by type, subscriber, package, actor and days."""

    template_name = "monitoring/operation_list.html"
    section = "operations"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET
        filterset = OperationFilter(operation_filter_data(query), queryset=Operation.objects.for_portal(self.portal))
        if filterset.is_valid():
            page = keyset_page(self.request, filterset.qs, ("-id",))
            page.rows = [OperationRow(op) for op in page.rows]
            errors = []
        else:
            page, errors = None, [
                f"{FILTER_LABELS.get(name, name)}: {' '.join(reasons)}" for name, reasons in filterset.errors.items()
            ]
        context.update(
            page=page,
            filter_errors=errors,
            columns=OPERATION_COLUMNS,
            type_choices=OperationType.choices,
            actor_choices=[(m.public_id, m.email) for m in Manager.objects.for_portal(self.portal).order_by("email")],
            selected={
                "type": query.get("type", ""),
                "subscriberId": query.get("subscriberId", ""),
                "packageId": query.get("packageId", ""),
                "actorId": query.get("actorId", ""),
                "from": query.get("from", ""),
                "to": query.get("to", ""),
            },
            filtered=any(query.get(name) for name in (*SCREEN_FILTERS, "from", "to")),
        )
        return context
