"""Screens of monitoring: the dashboard, play sessions (live and history) and the operations log.

Everyone reads them. Play sessions come from ``monitoring.selectors`` (the same FilterSet as the API's
``GET /play-sessions``), with cached heartbeats merged so bytes and times are current.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext, gettext_noop, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.generic import TemplateView

from catena_site import heartbeat
from catena_site.api.pagination import BoundedKeyset
from catena_site.ids import InvalidId, decode_id, encode_id
from catena_site.lists import Column, PortalListView
from catena_site.text import text_problem
from catena_site.web import PortalMixin, filter_params, live_block_response
from content.models import Channel, EpgSource, FetchStatus, Package
from content.selectors import channels_named, packages_named
from portals import streaming_servers
from portals.models import Manager, Portal
from subscribers.models import Subscriber
from subscribers.selectors import subscribers_named

from . import selectors
from .filters import OperationFilter, PlaySessionFilter
from .models import CloseReason, PlaySession
from .on_air import titles_on_air
from .operations import Actor, Operation, OperationType

RECENT_OPERATIONS = 10  # operations the dashboard lists
CARD_OPERATIONS = 20  # operations the subscriber card lists
OPERATION_COLUMNS = [_("Time (UTC)"), _("Type"), _("Actor"), _("Subscriber"), _("Package"), _("Details")]
SUBSCRIBER_ACCEPTED = "a subscriber's name, phone number or ID"
ACTOR_LABELS = {Actor.API_KEY: _("API key"), Actor.SYSTEM: _("System"), Actor.SUBSCRIBER: _("Subscriber"),
                Actor.MANAGER: _("Manager")}
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


# Figures counted one query each. Play session figures come together from ``selectors.dashboard`` (the
# "Watching now" block), so they are not listed here.
DASHBOARD_COUNTS: list[DashboardCount] = [
    DashboardCount(_("Channels"), lambda portal: Channel.objects.for_portal(portal).count(), "content:channel-list"),
    DashboardCount(_("Packages"), lambda portal: Package.objects.for_portal(portal).count(), "content:package-list"),
    DashboardCount(_("Active subscribers"),
                   lambda portal: Subscriber.objects.for_portal(portal).filter(disabled=False).count(),
                   "subscribers:list"),
    DashboardCount(_("Blocked subscribers"),
                   lambda portal: Subscriber.objects.for_portal(portal).filter(disabled=True).count(),
                   "subscribers:list"),
    DashboardCount(_("Managers"), lambda portal: Manager.objects.for_portal(portal).count(), "web:manager-list"),
    DashboardCount(_("Operations in the last 24 hours"), _operations_last_day, "monitoring:operation-list"),
]


class DashboardView(PortalMixin, TemplateView):
    """The portal at a glance: its counts, who is watching now, viewing charts, warnings and recent operations."""

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
        context["operations"] = operation_rows(self.portal, recent)
        context["columns"] = OPERATION_COLUMNS
        numbers = selectors.dashboard(self.portal)
        context.update(
            numbers=numbers,
            top_channels=[TopChannelRow(row) for row in numbers.top_channels],
            viewers_chart=viewers_per_hour_chart(numbers.viewers_per_hour),
            sessions_chart=sessions_per_day_chart(numbers.sessions_per_day),
            failing_sources=failing_epg_sources(self.portal),
            sharing=[SharingRow(row) for row in numbers.suspected_sharing],
            sharing_ips=settings.TOKEN_SHARING_IPS,
            sharing_window=human_period(settings.TOKEN_SHARING_WINDOW),
            sessions_today=numbers.sessions_per_day[-1][1] if numbers.sessions_per_day else 0,
            background_jobs_stopped=not heartbeat.worker_alive(),
        )
        return context


def human_period(seconds: int) -> str:
    """``1 hour``, ``2 hours``, ``30 minutes``, ``90 seconds``."""
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' * (count != 1)}"
    return f"{seconds} second{'s' * (seconds != 1)}"


class TopChannelRow:
    """A channel of "top channels now": its page (unless deleted), viewers, and its live sessions in history."""

    def __init__(self, row: selectors.ChannelViewers):
        self.public_id = encode_id(row.channel_id)
        self.name = row.name
        self.title = row.title
        self.viewers = row.viewers
        self.sessions_url = history_url(channelId=self.public_id, active="true")


class SharingRow:
    """A subscriber suspected of sharing their playback token, with the addresses it was used from."""

    def __init__(self, row: dict):
        self.public_id = encode_id(row["subscriber_id"])
        self.name = row["name"]
        self.ips = list(row["ips"] or [])
        self.detected_at = row["detected_at"]
        self.last_detected_at = row["last_detected_at"]
        self.sessions_url = history_url(subscriberId=self.public_id)


FAILING_SOURCES_SHOWN = 20


def failing_epg_sources(portal) -> list[EpgSource]:
    """The portal's EPG sources whose last fetches failed (``failures`` > 0, or the last one ended in error)."""
    failed = [FetchStatus.ERROR, FetchStatus.TIMEOUT]
    return list(EpgSource.objects.for_portal(portal).filter(Q(failures__gt=0) | Q(last_fetch__status__in=failed))
                .select_related("last_fetch").order_by("name", "id")[:FAILING_SOURCES_SHOWN])


# --- Charts (server-side inline SVG) ----------------------------------------------------------------------


def _nice_step(raw: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50… that is at least ``raw``."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            if factor * magnitude >= raw:
                return factor * magnitude
        magnitude *= 10


def chart(values: list[int], labels: list[str], tooltips: list[str], *, kind: str, label_every: int,
          width: int = 600, height: int = 180) -> dict:
    """SVG geometry (viewBox units) of a bar or line chart of whole numbers, with y ticks and x labels.

    ``labels`` are the x-axis texts, shown every ``label_every`` points counting back from the newest, so
    the current hour or day is always labelled; ``tooltips`` name each point in full.
    """
    left, right, top, bottom = 44, 8, 12, 26
    plot_width, plot_height = width - left - right, height - top - bottom
    baseline = top + plot_height
    step = _nice_step(max(max(values, default=0), 1) / 4)
    ceiling = step * max(1, -(-max(values, default=0) // step))
    slot = plot_width / max(len(values), 1)
    points = []
    for index, (value, label, tooltip) in enumerate(zip(values, labels, tooltips, strict=True)):
        bar_height = value / ceiling * plot_height
        centre = left + index * slot + slot / 2
        points.append({
            "value": value, "tooltip": tooltip,
            "x": round(left + index * slot + slot * 0.15, 1), "width": round(slot * 0.7, 1),
            "y": round(baseline - bar_height, 1), "height": round(bar_height, 1), "cx": round(centre, 1),
            "label": label if (len(values) - 1 - index) % label_every == 0 else "",
        })
    ticks = [{"value": v, "y": round(baseline - v / ceiling * plot_height, 1)} for v in range(0, ceiling + 1, step)]
    return {
        "kind": kind, "width": width, "height": height, "left": left, "top": top, "right": width - right,
        "baseline": baseline, "label_y": baseline + 16, "points": points, "ticks": ticks,
        "line": " ".join(f"{p['cx']},{p['y']}" for p in points), "total": sum(values),
        "peak": max(values, default=0),
    }


def viewers_per_hour_chart(hours: list[tuple[dt.datetime, int]]) -> dict:
    """Bars of concurrent viewers in each of the last 24 hours (UTC), the current hour last."""
    return chart(
        [count for _, count in hours],
        [f"{start:%H}:00" for start, _ in hours],
        [f"{start:%Y-%m-%d %H}:00–{start + dt.timedelta(hours=1):%H}:00 UTC: "
         + ngettext("%(count)d viewer", "%(count)d viewers", count) % {"count": count} for start, count in hours],
        kind="bars", label_every=3)


def sessions_per_day_chart(days: list[tuple[dt.date, int]]) -> dict:
    """A line of the play sessions opened on each of the last 30 days (UTC), today last."""
    return chart(
        [count for _, count in days],
        [f"{day:%m-%d}" for day, _ in days],
        [f"{day:%Y-%m-%d}: " + ngettext("%(count)d session opened", "%(count)d sessions opened", count)
         % {"count": count} for day, count in days],
        kind="line", label_every=3, width=1100, height=200)  # drawn across the whole page


# --- Play sessions ----------------------------------------------------------------------------------------

LIVE_ROWS = 200  # active sessions the live view lists; the rest are counted and found in the history
LIVE_POLL_MS = 5000  # how often the live view asks for fresh rows
CARD_SESSIONS = 10  # sessions the subscriber card lists
LIVE_COLUMNS = ["Subscriber", "Channel", "Programme now", "Since (UTC)", "Duration", "Data", "IP address",
                "Player", "Device"]
HISTORY_COLUMNS = ["Subscriber", "Channel", "Programme at start", "Opened (UTC)", "Ended (UTC)", "Duration",
                   "Data", "IP address", "Player", "Device"]
CLOSE_REASONS = dict(CloseReason.choices)


def history_url(**params) -> str:
    """The play session history filtered by ``params`` (screen parameters: subscriberId, channelId, active…)."""
    query = QueryDict(mutable=True)
    query.update({name: value for name, value in params.items() if value})
    return reverse("monitoring:play-session-history") + ("?" + query.urlencode() if query else "")


def human_bytes(value: int | None) -> str:
    """``0 bytes``, ``512 bytes``, ``1.5 KB``, ``117.7 MB``, ``2.3 GB`` (powers of 1024)."""
    value = max(int(value or 0), 0)
    if value < 1024:
        return ngettext("%(count)d byte", "%(count)d bytes", value) % {"count": value}
    amount = float(value)
    for unit in (gettext_noop("KB"), gettext_noop("MB"), gettext_noop("GB"), gettext_noop("TB")):
        amount /= 1024
        if amount < 1024 or unit == "TB":
            return f"{amount:.1f} {gettext(unit)}"
    return f"{value} bytes"  # unreachable


def human_duration(seconds: float | None) -> str:
    """``45 s``, ``12 min 05 s``, ``2 h 03 min``, ``3 d 04 h``."""
    seconds = max(int(seconds or 0), 0)
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return gettext("%(days)d d %(hours)02d h") % {"days": days, "hours": hours}
    if hours:
        return gettext("%(hours)d h %(minutes)02d min") % {"hours": hours, "minutes": minutes}
    if minutes:
        return gettext("%(minutes)d min %(seconds)02d s") % {"minutes": minutes, "seconds": secs}
    return gettext("%(seconds)d s") % {"seconds": secs}


class PlaySessionRow:
    """A play session as the screens show it: names with links (while they exist), times, duration, data.

    ``program``: an archive session's programme (its ``programId``), or for a live one the programme on air
    when it started (computed, ``program_at_start``); ``program_now``: for a live session the programme on air
    now, for an archive one again the archive programme; ``program_start``: when an archive session's programme
    was on air (None for a live one).
    """

    def __init__(self, session: PlaySession, now: dt.datetime, program_now: str | None = None,
                 program_at_start: str | None = None):
        self.session = session
        self.public_id = session.public_id
        self.anonymous = session.subscriber_id is None  # a free channel watched without a token
        self.subscriber_id = "" if self.anonymous else encode_id(session.subscriber_id)
        self.subscriber_name = getattr(session, "subscriber_name", None)
        self.channel_id = encode_id(session.channel_id)
        self.channel_title = getattr(session, "channel_title", None)
        self.channel_name = session.channel_name
        archive_program = getattr(session, "program_title", None) if session.dvr else None
        self.program = archive_program if session.dvr else program_at_start
        self.program_now = archive_program if session.dvr else program_now
        self.program_start = getattr(session, "program_start", None) if session.dvr and archive_program else None
        self.opened_at = session.opened_at
        self.closed_at = session.closed_at
        self.updated_at = session.updated_at
        self.active = session.active
        self.close_reason = CLOSE_REASONS.get(session.close_reason, session.close_reason)
        # Today in the zone the screen shows times in (the portal's timeZone).
        self.opened_today = timezone.localtime(session.opened_at).date() == timezone.localtime(now).date()
        end = now if session.active or session.closed_at is None else session.closed_at
        self.duration = human_duration((end - session.opened_at).total_seconds())
        self.bytes = session.bytes
        self.bytes_label = human_bytes(session.bytes)
        self.ip = session.ip
        self.user_agent = session.user_agent
        self.device_id = session.device_id
        self.proto = session.proto
        self.dvr = session.dvr


def play_session_rows(sessions: list[PlaySession], now: dt.datetime, *, programs_now: bool = False) -> list:
    """Rows of ``sessions`` with their newest cached heartbeat, and for live sessions the programme on air now
    (``programs_now``, one query) or else the one on air at their start (computed: ``programId`` is only an
    archive session's)."""
    sessions = selectors.with_fresh_heartbeats(list(sessions))
    live = [s for s in sessions if not s.dvr]
    if programs_now:
        # Every source of each channel's guide, its offset applied (content.epg.selectors.ChannelGuides).
        channel_ids = list(dict.fromkeys(s.channel_id for s in live))
        titles_now = dict(zip(channel_ids, titles_on_air([(channel_id, now) for channel_id in channel_ids])))
        return [PlaySessionRow(s, now, titles_now.get(s.channel_id)) for s in sessions]
    at_start = dict(zip((s.id for s in live), titles_on_air([(s.channel_id, s.opened_at) for s in live])))
    return [PlaySessionRow(s, now, program_at_start=at_start.get(s.id)) for s in sessions]


def recent_play_sessions(portal, subscriber, limit: int = CARD_SESSIONS) -> list[PlaySessionRow]:
    """The subscriber's most recent play sessions, newest first (for the subscriber card)."""
    sessions = selectors.session_history(portal, {"subscriberId": subscriber.public_id}).qs[:limit]
    return play_session_rows(sessions, timezone.now())


def streaming_setup(request, portal) -> dict:
    """What the empty states say about connecting the portal's streaming server (never the key itself)."""
    server = streaming_servers.by_id(portal.streaming_server_id)
    return {
        "auth_url": request.build_absolute_uri(reverse("streaming:flussonic-auth")),
        "events_url": request.build_absolute_uri(reverse("streaming:flussonic-events")),
        "streamer_key_set": bool(server is not None and server.key),
    }


def live_context(request, portal) -> dict:
    """The live block: the active sessions (at most ``LIVE_ROWS``), how many there are, and when this was read."""
    now = timezone.now()
    sessions = selectors.active_sessions(portal)
    shown = list(sessions[:LIVE_ROWS])
    total = len(shown) if len(shown) < LIVE_ROWS else sessions.count()
    return {
        "rows": play_session_rows(shown, now, programs_now=True),
        "total": total,
        "hidden": total - len(shown),
        "subscribers_watching": len({s.subscriber_id for s in shown if s.subscriber_id is not None})
        if total == len(shown) else None,
        "updated_at": now,
        "poll_seconds": LIVE_POLL_MS // 1000,
        "columns": LIVE_COLUMNS,
        "active_history_url": history_url(active="true"),
        **streaming_setup(request, portal),
    }


class PlaySessionLiveView(PortalMixin, TemplateView):
    """Who is watching now. The block polls this same page with htmx every few seconds; an htmx request
    (``HX-Request``) gets only the block (``monitoring/_live_sessions.html``), anyone else the whole page."""

    template_name = "monitoring/play_sessions_live.html"
    block_template_name = "monitoring/_live_sessions.html"
    section = "play-sessions"

    def get_template_names(self):
        return [self.block_template_name if self.request.htmx else self.template_name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(live_context(self.request, self.portal), tab="live")
        return context

    def render_to_response(self, context, **response_kwargs):
        return live_block_response(self.request, super().render_to_response(context, **response_kwargs))


# The screen's query parameters are the API's (subscriberId, channelId, active=true|false), except the date
# range: ``from`` and ``to`` are UTC days picked in date inputs, ``to`` included.
SESSION_FILTERS = ("subscriberId", "channelId", "active")
SESSION_FILTER_LABELS = {"subscriberId": "Subscriber", "channelId": "Channel", "active": "Status",
                         "opened_at_gte": "From", "opened_at_lt": "To"}


def _midnight_unix(day: dt.date) -> str:
    return str(int(dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC).timestamp()))


def session_filter_data(query: QueryDict) -> tuple[QueryDict, list[str]]:
    """The screen's query string as PlaySessionFilter parameters, and the errors of unreadable days."""
    data, errors = filter_params(query, SESSION_FILTERS), []
    for name, label, key, days_after in (("from", "From", "opened_at_gte", 0), ("to", "To", "opened_at_lt", 1)):
        raw = query.get(name, "").strip()
        if not raw:
            continue
        try:
            day = parse_date(raw)
        except ValueError:
            day = None
        if day is None:
            errors.append(f"{label}: Enter a valid date (YYYY-MM-DD).")
        elif days_after and day == dt.date.max:
            continue  # "to 9999-12-31" has no day after it: no upper bound (was a 500)
        else:
            data[key] = _midnight_unix(day + dt.timedelta(days=days_after))
    return data, errors




class PlaySessionHistoryView(PortalListView):
    """Every play session, newest first, filtered by subscriber (ID, name or phone), channel (ID, technical name
    or title), status and opening days."""

    template_name = "monitoring/play_sessions_history.html"
    section = "play-sessions"
    filterset_class = PlaySessionFilter
    filter_labels = SESSION_FILTER_LABELS
    name_filters = {"subscriberId": (subscribers_named, SUBSCRIBER_ACCEPTED),
                    "channelId": (channels_named, "a channel's technical name, title or ID")}
    # The API's BoundedKeyset: every page of a long history costs the same. Only the opening time sorts: it is
    # the column every index of PlaySession ends in.
    keyset_class = BoundedKeyset
    columns = [
        Column(_("Subscriber"), csv=lambda row: "anonymous" if row.anonymous else row.subscriber_name or row.subscriber_id),
        Column(_("Channel"), csv=lambda row: row.channel_name),
        Column(_("Programme at start"), csv=lambda row: row.program),
        Column(_("Opened (UTC)"), sort="opened_at", csv=lambda row: row.opened_at.isoformat()),
        Column(_("Ended (UTC)"), csv=lambda row: row.closed_at.isoformat() if row.closed_at else ""),
        Column(_("Duration"), csv=lambda row: row.duration),
        Column(_("Data"), csv=lambda row: row.bytes),
        Column(_("IP address"), csv=lambda row: row.ip),
        Column(_("Player"), csv=lambda row: row.user_agent),
        Column(_("Device"), csv=lambda row: row.device_id),
    ]
    default_sort = "-opened_at"
    row_template = "monitoring/_play_session_row.html"
    csv_filename = "play-sessions.csv"

    def get_queryset(self):
        return selectors.session_history(self.portal).queryset

    def filter_data(self):
        return session_filter_data(self.request.GET)

    def decorate_rows(self, rows: list) -> list:
        return play_session_rows(rows, timezone.now())

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET
        selected = {name: query.get(name, "").strip() for name in (*SESSION_FILTERS, "from", "to")}
        context.update(
            tab="history",
            selected=selected,
            filtered=any(selected.values()),
            channel_choices=self.channel_choices(selected["channelId"]),
            filtered_subscriber=self.filtered_subscriber(selected["subscriberId"]),
            **streaming_setup(self.request, self.portal),
        )
        return context

    def channel_choices(self, selected: str) -> list[tuple[str, str]]:
        """The portal's channels for the filter; a deleted channel's ID from a link stays selectable."""
        choices = [(encode_id(pk), f"{title} ({name})") for pk, title, name in
                   Channel.objects.for_portal(self.portal).order_by("title", "id").values_list("id", "title", "name")]
        if selected and selected not in {value for value, _ in choices}:
            choices.append((selected, f"Channel {selected}"))
        return choices

    def filtered_subscriber(self, text: str) -> Subscriber | None:
        """The subscriber the list is narrowed to, when the filter (an ID, a name or a phone) stands for exactly
        one of this portal's."""
        if not text:
            return None
        try:
            ids = [decode_id(text)]
        except InvalidId:
            ids = [] if text_problem(text) else subscribers_named(self.portal, text)  # no NUL into a query
        if len(ids) != 1:
            return None
        return Subscriber.objects.for_portal(self.portal).filter(pk=ids[0]).only("id", "name").first()


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

    # managerEmail repeats the "By" column (it is in the payload for integrations, as the manual shows it)
    walk("", {key: value for key, value in (payload or {}).items() if key != "managerEmail"})
    text = "; ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class OperationRow:
    """An operation as a table row shows it: the subscriber's and package's names (None once deleted)."""

    def __init__(self, operation: Operation, subscriber_names: dict[int, str] | None = None,
                 package_names: dict[int, str] | None = None):
        self.operation = operation
        self.created_at = operation.created_at
        self.type = operation.type
        self.type_label = TYPE_LABELS.get(operation.type, operation.type)
        self.actor_email = operation.actor_email
        self.actor_label = ACTOR_LABELS.get(operation.actor_type, operation.actor_type)
        self.subscriber_id = encode_id(operation.subscriber_id) if operation.subscriber_id else ""
        self.package_id = encode_id(operation.package_id) if operation.package_id else ""
        self.subscriber_name = (subscriber_names or {}).get(operation.subscriber_id)
        self.package_name = (package_names or {}).get(operation.package_id)
        self.summary = summarize_payload(operation.payload)
        self.payload_json = json.dumps(operation.payload, ensure_ascii=False, indent=2, sort_keys=True)


def operation_rows(portal, operations) -> list[OperationRow]:
    """Rows of ``operations`` with the names of the subscribers and packages they name: one query each for
    the whole page (an operation stores only IDs; a deleted subscriber or package has no name)."""
    operations = list(operations)
    subscriber_ids = {op.subscriber_id for op in operations if op.subscriber_id}
    package_ids = {op.package_id for op in operations if op.package_id}
    subscribers = dict(Subscriber.objects.for_portal(portal).filter(pk__in=subscriber_ids)
                       .values_list("id", "name")) if subscriber_ids else {}
    packages = dict(Package.objects.for_portal(portal).filter(pk__in=package_ids)
                    .values_list("id", "name")) if package_ids else {}
    return [OperationRow(operation, subscribers, packages) for operation in operations]


def recent_operations(portal, subscriber, limit: int = CARD_OPERATIONS) -> list[OperationRow]:
    """The operations about the subscriber, newest first (for the subscriber card)."""
    operations = Operation.objects.for_portal(portal).filter(subscriber_id=subscriber.id).order_by("-id")[:limit]
    return operation_rows(portal, operations)


# The screen's query parameters are the API's, except the date range: ``from`` and ``to`` are days
# picked in date inputs, ``to`` included.
SCREEN_FILTERS = ("type", "subscriberId", "packageId", "actorId")
FILTER_LABELS = {"type": "Type", "subscriberId": "Subscriber", "packageId": "Package",
                 "actorId": "Actor", "created_at_gte": "From", "created_at_lt": "To"}


def operation_filter_data(query: QueryDict) -> QueryDict:
    """The screen's query string as OperationFilter parameters."""
    data = filter_params(query, SCREEN_FILTERS)
    if query.get("from", "").strip():
        data["created_at_gte"] = query["from"].strip()
    to = query.get("to", "").strip()
    if to:
        try:
            day = parse_date(to)
        except ValueError:
            day = None
        # An unreadable day goes through as typed, so that the filter reports it like the API does;
        # "to 9999-12-31" has no day after it: no upper bound (was a 500).
        if day is None:
            data["created_at_lt"] = to
        elif day < dt.date.max:
            data["created_at_lt"] = (day + dt.timedelta(days=1)).isoformat()
    return data


def _actor(row: OperationRow) -> str:
    return f"{row.actor_email} ({row.actor_label})" if row.actor_email else row.actor_label


class OperationListView(PortalListView):
    """The operations log, newest first, filtered by type, subscriber and package (ID, name or phone), actor
    and days."""

    template_name = "monitoring/operation_list.html"
    section = "operations"
    filterset_class = OperationFilter
    filter_labels = FILTER_LABELS
    name_filters = {"subscriberId": (subscribers_named, SUBSCRIBER_ACCEPTED),
                    "packageId": (packages_named, "a package name or ID")}
    columns = [
        Column(_("Time (UTC)"), sort="id", csv=lambda row: row.created_at.isoformat()),
        Column(_("Type"), csv=lambda row: row.type),
        Column(_("Actor"), csv=_actor),
        Column(_("Subscriber"), csv=lambda row: row.subscriber_name or row.subscriber_id),
        Column(_("Package"), csv=lambda row: row.package_name or row.package_id),
        Column(_("Details"), csv=lambda row: json.dumps(row.operation.payload, ensure_ascii=False, sort_keys=True)),
    ]
    default_sort = "-id"
    row_template = "monitoring/_operation_row.html"
    csv_filename = "operations.csv"

    def get_queryset(self):
        return Operation.objects.for_portal(self.portal)

    def filter_data(self):
        return operation_filter_data(self.request.GET), []

    def decorate_rows(self, rows: list) -> list:
        return operation_rows(self.portal, rows)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET
        context.update(
            type_choices=OperationType.choices,
            actor_choices=[(m.public_id, m.email) for m in Manager.objects.for_portal(self.portal).order_by("email")],
            selected={name: query.get(name, "") for name in (*SCREEN_FILTERS, "from", "to")},
            filtered=any(query.get(name) for name in (*SCREEN_FILTERS, "from", "to")),
        )
        return context
