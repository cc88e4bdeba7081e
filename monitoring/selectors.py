"""Reads of play sessions shared by the API and the screens: live sessions, history, dashboard numbers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import TruncDate
from django.utils import timezone

from content.models import Channel, Program
from subscribers.models import Subscriber
from subscribers.selectors import suspicion_holds

from . import metrics
from .filters import PlaySessionFilter
from .models import PlaySession, TokenSharingSuspicion
from .sessions import cached_heartbeats

LIST_ORDER = ("-opened_at", "-id")


def with_fresh_heartbeats(sessions: list[PlaySession]) -> list[PlaySession]:
    """Overlay the newest cached heartbeat (``updatedAt``, ``bytes``) on active sessions; one cache read."""
    active = [s for s in sessions if s.active]
    beats = cached_heartbeats(s.streamer_session_id for s in active)
    for session in active:
        beat = beats.get(session.streamer_session_id)
        if beat is not None:
            session.updated_at = max(session.updated_at, beat[0])
            session.bytes = max(session.bytes, beat[1])
            if beat[2] is not None:
                session.duration = max(session.duration or 0, beat[2])
    return sessions


def _described(queryset):
    """Sessions with ``subscriber_name``, ``channel_title``, and ``program_title`` and ``program_start`` of an
    archive session's programme (None once deleted)."""
    program = Program.objects.filter(pk=OuterRef("program_id"))
    return queryset.annotate(
        subscriber_name=Subquery(Subscriber.objects.filter(pk=OuterRef("subscriber_id")).values("name")[:1]),
        channel_title=Subquery(Channel.objects.filter(pk=OuterRef("channel_id")).values("title")[:1]),
        program_title=Subquery(program.values("title")[:1]),
        program_start=Subquery(program.values("start")[:1]),
    )


def active_sessions(portal):
    """Who is watching now: the portal's active sessions, newest first, with subscriber, channel, programme."""
    return _described(PlaySession.objects.for_portal(portal).filter(active=True)).order_by(*LIST_ORDER)


def session_history(portal, params=None) -> PlaySessionFilter:
    """The portal's sessions filtered like ``GET /play-sessions`` (same FilterSet); ``.qs`` is ordered."""
    queryset = _described(PlaySession.objects.for_portal(portal)).order_by(*LIST_ORDER)
    return PlaySessionFilter(params or {}, queryset=queryset)


@dataclass
class ChannelViewers:
    channel_id: int
    name: str
    title: str | None
    viewers: int


@dataclass
class Dashboard:
    """The numbers of the monitoring dashboard at ``now``."""

    now: dt.datetime
    active_sessions: int
    active_subscribers: int
    top_channels: list[ChannelViewers]
    viewers_per_hour: list[tuple[dt.datetime, int]]  # 24 hours, oldest first; sessions overlapping each hour
    sessions_per_day: list[tuple[dt.date, int]]  # 30 UTC days, oldest first; sessions opened that day
    suspected_sharing: list[dict] = field(default_factory=list)
    event_counters: dict[str, int] = field(default_factory=dict)


def top_channels(portal, limit: int = 10) -> list[ChannelViewers]:
    """Channels with the most active sessions now."""
    rows = list(PlaySession.objects.for_portal(portal).filter(active=True).values("channel_id", "channel_name")
                .annotate(viewers=Count("id")).order_by("-viewers", "channel_name")[:limit])
    titles = dict(Channel.objects.filter(id__in=[r["channel_id"] for r in rows]).values_list("id", "title"))
    return [ChannelViewers(r["channel_id"], r["channel_name"], titles.get(r["channel_id"]), r["viewers"]) for r in rows]


def viewers_per_hour(portal, now: dt.datetime, hours: int = 24) -> list[tuple[dt.datetime, int]]:
    """For each of the last ``hours`` hours (the current one last): sessions open at some time in that hour.

    Closed sessions longer than a day that ended within the period are not counted.
    """
    current = now.replace(minute=0, second=0, microsecond=0)
    starts = [current - dt.timedelta(hours=hours - 1 - i) for i in range(hours)]
    # Closed sessions that reach into the period: those opened up to a day before it (longer ones are rare and
    # left out, so that the indexes on opened_at serve the query).
    sessions = PlaySession.objects.for_portal(portal).filter(opened_at__lt=now).filter(
        Q(active=True) | Q(opened_at__gte=starts[0] - dt.timedelta(days=1), closed_at__gte=starts[0]))
    aggregates = {
        f"h{i}": Count("id", filter=Q(opened_at__lt=start + dt.timedelta(hours=1))
                       & (Q(active=True) | Q(closed_at__gte=start)))
        for i, start in enumerate(starts)
    }
    counts = sessions.aggregate(**aggregates)
    return [(start, counts[f"h{i}"] or 0) for i, start in enumerate(starts)]


def sessions_per_day(portal, now: dt.datetime, days: int = 30) -> list[tuple[dt.date, int]]:
    """Sessions opened on each of the last ``days`` UTC days (today last)."""
    today = now.astimezone(dt.UTC).date()
    first = today - dt.timedelta(days=days - 1)
    start = dt.datetime.combine(first, dt.time.min, tzinfo=dt.UTC)
    counts = dict(PlaySession.objects.for_portal(portal).filter(opened_at__gte=start, opened_at__lt=now)
                  .annotate(day=TruncDate("opened_at", tzinfo=dt.UTC)).values("day").annotate(n=Count("id"))
                  .values_list("day", "n"))
    return [(first + dt.timedelta(days=i), counts.get(first + dt.timedelta(days=i), 0)) for i in range(days)]


def suspected_sharing(portal) -> list[dict]:
    """Subscribers suspected of sharing their token (current token only), newest detection first."""
    rows = (TokenSharingSuspicion.objects.for_portal(portal).select_related("subscriber")
            .order_by("-last_detected_at"))
    return [
        {"subscriber_id": row.subscriber_id, "name": row.subscriber.name, "ips": row.ips,
         "detected_at": row.detected_at, "last_detected_at": row.last_detected_at}
        for row in rows if suspicion_holds(row, row.subscriber)
    ]


def dashboard(portal, now: dt.datetime | None = None) -> Dashboard:
    """Every number of the dashboard, in a handful of queries."""
    now = now or timezone.now()
    live = PlaySession.objects.for_portal(portal).filter(active=True).aggregate(
        sessions=Count("id"), subscribers=Count("subscriber_id", distinct=True))
    return Dashboard(
        now=now,
        active_sessions=live["sessions"],
        active_subscribers=live["subscribers"],
        top_channels=top_channels(portal),
        viewers_per_hour=viewers_per_hour(portal, now),
        sessions_per_day=sessions_per_day(portal, now),
        suspected_sharing=suspected_sharing(portal),
        event_counters=metrics.counters(),
    )
