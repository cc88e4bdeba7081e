"""Session events from the streaming server's ``event_sink`` (streaming.md §2).

A batch is validated event by event (a bad event is skipped and counted, the rest applied), resolved to
subscribers and channels with one query each, merged per session in memory, and written in one short
transaction: the touched rows are locked, new ones inserted and changed ones updated in bulk.

Merging is idempotent and monotonic, so duplicates, late and out-of-order deliveries converge on the same
row: ``openedAt`` only moves earlier, ``updatedAt``, ``bytes`` and ``duration`` only grow, address and user
agent come from the newest event, and a closed session is never reopened by an event.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field

import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from catena_site.access_events import enqueue
from catena_site.ids import new_id
from catena_site.shared_store import CacheErrors, store
from content.models import Channel
from subscribers.models import Subscriber

from .. import archive, dead_letters, metrics, sessions, sharing
from ..models import CloseReason, PlaySession
from .decision import device_id_from
from .values import (
    COUNTRY_LENGTH,
    IP_LENGTH,
    MAX_BYTES,
    MAX_DURATION,
    PROTO_LENGTH,
    SESSION_ID_LENGTH,
    TOKEN_LENGTH,
    USER_AGENT_LENGTH,
    clean,
    is_clean,
)

log = logging.getLogger(__name__)

PLAY_OPENED, PLAY_STARTED, PLAY_UPDATED, PLAY_CLOSED = "play_opened", "play_started", "play_updated", "play_closed"
ORDER = {PLAY_OPENED: 0, PLAY_STARTED: 1, PLAY_UPDATED: 2, PLAY_CLOSED: 3}
MILLISECONDS_ABOVE = 10**12  # the schema says milliseconds, its examples are seconds
LATEST_TIMESTAMP = 32503680000  # year 3000, in seconds
EVENTS_BUFFER = "pb:events"  # Redis list of validated event batches, drained by apply_buffered_events
APPLY_TASK = "monitoring.tasks.apply_buffered_events"
DRAIN_DELAY = 0.5  # seconds a drain waits for more batches to arrive (bigger transactions)
UPDATED_FIELDS = ["opened_at", "updated_at", "closed_at", "active", "close_reason", "bytes", "duration", "ip",
                  "user_agent", "proto", "country", "device_id", "program_id"]


class Skip(Exception):
    """An event that is not applied; ``args[0]`` names the counter."""


@dataclass
class Event:
    kind: str
    session_id: str
    media: str | None
    token: str | None
    at: dt.datetime
    opened_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    bytes: int | None = None
    duration: int | None = None
    ip: str | None = None
    user_agent: str | None = None
    proto: str | None = None
    country: str | None = None
    dvr: bool = False
    device_id: str | None = None
    archive_at: dt.datetime | None = None  # the archive position the client asked for (``monitoring.archive``)
    server_id: int | None = None  # the streaming server that sent it: only its portals' sessions are touched


def _timestamp(value) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise Skip("events_invalid")
    seconds = value / 1000 if value > MILLISECONDS_ABOVE else value
    if seconds > LATEST_TIMESTAMP:
        raise Skip("events_invalid")
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def _count(value, limit: int = MAX_BYTES) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise Skip("events_invalid")
    return min(value, limit)


def _text(value, limit: int) -> str | None:
    """A text field, cleaned (``values.clean``); None when absent, not a string or empty once cleaned."""
    return (clean(value, limit) or None) if isinstance(value, str) and value else None


def _identifier(value, limit: int) -> str | None:
    """A token or stream name: as sent when it is a clean string, else None (it cannot match anything of ours)."""
    return value if isinstance(value, str) and is_clean(value, limit) else None


def parse_event(raw, received_at: dt.datetime) -> Event:
    """One validated event; raises :class:`Skip` naming why it is not applied."""
    if not isinstance(raw, dict):
        raise Skip("events_invalid")
    kind = raw.get("event")
    if kind not in ORDER:
        raise Skip("events_unsupported")
    session_id = raw.get("id")
    if not isinstance(session_id, str) or not 0 < len(session_id) <= SESSION_ID_LENGTH:
        raise Skip("events_invalid")
    session_id = clean(session_id, SESSION_ID_LENGTH)
    if not session_id:
        raise Skip("events_invalid")
    opened_at, updated_at, closed_at = (_timestamp(raw.get(k)) for k in ("opened_at", "updated_at", "closed_at"))
    return Event(
        kind=kind, session_id=session_id, media=_identifier(raw.get("media"), 64),
        token=_identifier(raw.get("token"), TOKEN_LENGTH),
        at=(closed_at if kind == PLAY_CLOSED and closed_at else None) or updated_at or opened_at or closed_at
        or received_at,
        opened_at=opened_at, updated_at=updated_at, closed_at=closed_at,
        bytes=_count(raw.get("bytes")), duration=_count(raw.get("duration"), MAX_DURATION),
        ip=_text(raw.get("ip"), IP_LENGTH), user_agent=_text(raw.get("user_agent"), USER_AGENT_LENGTH),
        proto=_text(raw.get("proto"), PROTO_LENGTH), country=_text(raw.get("country"), COUNTRY_LENGTH),
        dvr=raw.get("dvr") is True,
        device_id=device_id_from(_text(raw.get("query_string") or raw.get("qs"), 4000)),
        archive_at=archive.position(_text(raw.get("query_string") or raw.get("qs"), 4000), _text(raw.get("url"), 4000)),
    )


def merge(session, event: Event) -> None:
    """Fold one event into a session row (in memory: a model or a :class:`SessionState`), idempotently and
    monotonically."""
    newest = session.updated_at is None or event.at >= session.updated_at
    if event.opened_at is not None and (session.opened_at is None or event.opened_at < session.opened_at):
        session.opened_at = event.opened_at
    if newest:
        for name in ("ip", "user_agent", "proto", "country", "device_id"):
            value = getattr(event, name)
            if value:
                setattr(session, name, value)
    heard = max(t for t in (event.updated_at, event.closed_at, event.at) if t is not None)
    session.updated_at = heard if session.updated_at is None else max(session.updated_at, heard)
    if event.bytes is not None:
        session.bytes = max(session.bytes or 0, event.bytes)
    if event.duration is not None:
        session.duration = max(session.duration or 0, event.duration)
    if event.kind == PLAY_CLOSED and session.close_reason != CloseReason.STREAMER:
        # The streaming server's close is the truth, also over our own guess (stale cleanup, access change).
        session.active = False
        session.closed_at = event.closed_at or event.at
        session.close_reason = CloseReason.STREAMER


@dataclass
class BatchResult:
    applied: int = 0
    created: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, counter: str, amount: int = 1) -> None:
        self.skipped[counter] = self.skipped.get(counter, 0) + amount

    def add(self, other: BatchResult) -> None:
        """Count ``other``'s events here too."""
        self.applied += other.applied
        self.created += other.created
        for counter, amount in other.skipped.items():
            self.skip(counter, amount)


def parse_batch(items: list, received_at: dt.datetime, result: BatchResult,
                server_id: int | None = None) -> list[Event]:
    """The valid events of a raw batch (sent by streaming server ``server_id``); the others are counted in
    ``result.skipped``."""
    events: list[Event] = []
    for raw in items:
        try:
            event = parse_event(raw, received_at)
            event.server_id = server_id
            events.append(event)
        except Skip as skip:
            result.skip(skip.args[0])
    return events


def receive_batch(items: list, raw: bytes | None = None, received_at: dt.datetime | None = None, *,
                  server_id: int | None = None) -> BatchResult:
    """What the events endpoint does with a batch: validate it, then apply it now or hand it to the buffer.

    On Redis (and with ``STREAMER_BUFFER_EVENTS``) a batch with valid events is appended to a buffer as it
    came (``raw``, the request body; one round trip) and applied in bulk by :func:`apply_buffered_events`
    (a Celery task started when the buffer was empty, and a beat job as a safety net): the acknowledgement
    does not wait for the database. Elsewhere the batch is applied in its own short transaction (an event
    the database refuses goes to the dead-letter list, the others are applied). Invalid events are counted
    here, once.
    """
    received_at = received_at or timezone.now()
    result = BatchResult()
    events = parse_batch(items, received_at, result, server_id)
    metrics.count_many(result.skipped)
    cache = store()
    if events and getattr(settings, "STREAMER_BUFFER_EVENTS", True) and getattr(cache, "supports_lists", False):
        try:
            body = raw if raw is not None else json.dumps(items).encode()
            if cache.push(EVENTS_BUFFER, (received_at.timestamp(), body, server_id)) == 1:  # it was empty: start a drain
                enqueue(APPLY_TASK, countdown=DRAIN_DELAY)
            return result
        except CacheErrors:
            log.warning("event buffer unavailable; applying the batch directly", exc_info=True)
    if events:
        result.add(apply_each(events, received_at))
    return result


def apply_each(events: list[Event], received_at: dt.datetime) -> BatchResult:
    """:func:`apply_events` in one transaction; if the database refuses the events' data, one event at a time,
    each refused one moved to the dead-letter list (``monitoring.dead_letters``). An outage propagates."""
    result = BatchResult()
    for part in dead_letters.write_each(events, lambda chunk: [apply_events(chunk, received_at, BatchResult())],
                                        EVENTS_BUFFER):
        result.add(part)
    return result


def _buffered_events(item: tuple) -> list[Event]:
    """The valid events of a buffered batch (its invalid ones were counted when it was received); raises
    ``ValueError``/``TypeError``/``RecursionError`` for an item that is no batch."""
    received, body, server_id = item if len(item) == 3 else (*item, None)  # buffered before servers: no check
    items = json.loads(body)
    return parse_batch(items if isinstance(items, list) else [items], dt.datetime.fromtimestamp(received, dt.UTC),
                       BatchResult(), server_id)


def apply_buffered_events(chunk: int = 50) -> int:
    """Apply the buffered event batches, ``chunk`` batches per transaction; return how many events were taken.

    One drainer at a time (a lock in Redis); batches leave the buffer only after their transaction committed
    (applying one twice is harmless: merging is idempotent). When the database refuses the data of a chunk,
    each batch is applied alone and a refused batch event by event: each refused event (or an item that is no
    batch at all) goes to the dead-letter list, so it cannot block the buffer and the good events around it
    are applied; a database that is down stops the drain (the next one resumes).
    """
    cache = store()
    if not getattr(cache, "supports_lists", False):
        return 0
    taken = 0
    while True:
        lock = cache.lock(EVENTS_BUFFER + ":lock", 300)
        if lock is None:
            return taken  # another drainer is at work; it looks again after releasing the lock
        try:
            while batches := cache.list_head(EVENTS_BUFFER, chunk):
                taken += _apply_buffered(batches)
                cache.list_drop_head(EVENTS_BUFFER, len(batches))
        finally:
            cache.unlock(EVENTS_BUFFER + ":lock", lock)
        if not cache.list_length(EVENTS_BUFFER):  # nothing arrived while the lock was held
            return taken


def _apply_buffered(items: list[tuple]) -> int:
    batches = []
    for item in items:
        try:
            batches.append(_buffered_events(item))
        except (*dead_letters.POISON, RecursionError) as exc:
            dead_letters.record(EVENTS_BUFFER, item, exc)
    try:
        dead_letters.attempt(apply_events, [event for batch in batches for event in batch], timezone.now(),
                             BatchResult())
    except dead_letters.POISON:
        log.warning("the database refused a chunk of %d buffered batches; applying them one by one", len(batches),
                    exc_info=True)
        for batch in batches:
            apply_each(batch, timezone.now())
    return sum(len(batch) for batch in batches)


def _token_owners(events: list[Event]) -> tuple[dict, dict]:
    """For each known token of ``events``: its ``(subscriber ID, portal ID)``, and its portal's streaming server
    (one query)."""
    tokens = {e.token for e in events if e.token}
    if not tokens:
        return {}, {}
    found = list(Subscriber.objects.filter(playback_token__in=tokens).values_list(
        "playback_token", "id", "portal_id", "portal__streaming_server_id"))
    return ({token: (sid, pid) for token, sid, pid, _ in found},
            {token: server_id for token, _, _, server_id in found})


def _sent_by_its_server(events: list[Event], servers: dict, result: BatchResult) -> list[Event]:
    """The events whose token belongs to a portal of the streaming server that sent them (or is unknown); the
    others are counted as unknown tokens: a token of a portal on another server is unknown to the sender."""
    mine = []
    for event in events:
        if event.server_id is not None and event.token in servers and servers[event.token] != event.server_id:
            result.skip("events_unknown_token")
        else:
            mine.append(event)
    return mine


def _stream_channels(events: list[Event], owners: dict) -> dict:
    """``(portal ID, stream name) → channel ID`` for the streams ``events`` name (one query)."""
    wanted = {(owners[e.token][1], e.media) for e in events if e.token in owners and e.media}
    if not wanted:
        return {}
    portal_ids, names = {p for p, _ in wanted}, {n for _, n in wanted}
    return {(pid, name): cid for cid, pid, name in
            Channel.objects.filter(portal_id__in=portal_ids, name__in=names).values_list("id", "portal_id", "name")}


def _anonymous_sessions(events: list[Event]) -> dict[str, tuple[int | None, str]]:
    """For the events without a token: the anonymous viewers' play sessions they name (opened by the auth
    check, lifecycle.md §3), as ``session ID → (streaming server, stream name)`` (one query; buffered session
    starts are written first when one is missing, so an early ``play_closed`` is not lost)."""
    wanted = {e.session_id for e in events if not e.token}
    if not wanted:
        return {}

    def found() -> dict[str, tuple[int | None, str]]:
        return {sid: (server_id, name) for sid, server_id, name in PlaySession.objects.filter(
            streamer_session_id__in=wanted, subscriber_id__isnull=True).values_list(
            "streamer_session_id", "portal__streaming_server_id", "channel_name")}

    sessions_found = found()
    if len(sessions_found) < len(wanted) and sessions.write_opened_sessions():
        sessions_found = found()
    return sessions_found


def _anonymous_event_applies(event: Event, anonymous: dict) -> bool:
    """Whether a token-less event belongs to an anonymous session of a portal of the server that sent it."""
    session = anonymous.get(event.session_id)
    if session is None or (event.server_id is not None and session[0] != event.server_id):
        return False
    return event.media is None or event.media == session[1]


def _by_session(events: list[Event], owners: dict, channels: dict, result: BatchResult,
                anonymous: dict | None = None) -> dict[str, list[Event]]:
    """The events of known tokens and streams (and of anonymous viewers' sessions), grouped by session ID; the
    others are counted."""
    by_session: dict[str, list[Event]] = {}
    for event in events:
        if not event.token and _anonymous_event_applies(event, anonymous or {}):
            by_session.setdefault(event.session_id, []).append(event)
            continue
        owner = owners.get(event.token) if event.token else None
        if owner is None:
            result.skip("events_unknown_token")
            continue
        if (owner[1], event.media) not in channels:
            result.skip("events_unknown_stream")
            continue
        by_session.setdefault(event.session_id, []).append(event)
    return by_session


def apply_events(events: list[Event], received_at: dt.datetime, result: BatchResult) -> BatchResult:
    """Resolve valid events to subscribers and channels (one query each) and write them in one transaction."""
    owners, servers = _token_owners(events)
    events = _sent_by_its_server(events, servers, result)
    channels = _stream_channels(events, owners)
    by_session = _by_session(events, owners, channels, result, _anonymous_sessions(events))
    if by_session:
        closed, opened = sessions.retry_on_conflict(lambda: _write(by_session, owners, channels, result))
        sessions.forget(closed)
        sharing.note_addresses([(s.subscriber_id, s.portal_id, s.token, s.ip) for s in opened], received_at)
    metrics.count_many({**result.skipped, "events_applied": result.applied})
    if result.skipped:
        log.info("streaming events: %d applied, skipped %s", result.applied, result.skipped)
    return result


STATE_FIELDS = ("streamer_session_id", "portal_id", "subscriber_id", "channel_id", "channel_name", "program_id",
                "token", "opened_at", "updated_at", "closed_at", "active", "close_reason", "bytes", "duration", "ip",
                "user_agent", "device_id", "proto", "dvr", "country")
_SQL_TYPES = {"BigIntegerField": "bigint", "IntegerField": "integer", "CharField": "text", "DateTimeField": "timestamptz",
              "BooleanField": "boolean", "ForeignKey": "bigint"}


class SessionState:
    """A play session's row while a batch is merged: plain attributes, cheaper than model instances."""

    __slots__ = STATE_FIELDS

    def __init__(self, **values):
        for name in STATE_FIELDS:
            setattr(self, name, values.get(name))


def _write(by_session: dict[str, list[Event]], owners: dict, channels: dict, result: BatchResult):
    """One transaction: lock the touched sessions, merge, insert the new ones and update the changed ones."""
    result.applied = result.created = 0
    closed: list[str] = []
    opened: list[SessionState] = []
    with transaction.atomic():
        sessions.relaxed_durability()
        sessions.lock_session_ids(by_session)  # the session IDs that may be inserted below (partitioned table)
        # Locks (and writes, below) in session-ID order: two overlapping batches cannot deadlock.
        existing = {row["streamer_session_id"]: SessionState(**row) for row in
                    PlaySession.objects.select_for_update().filter(streamer_session_id__in=list(by_session))
                    .order_by("streamer_session_id").values(*STATE_FIELDS)}
        new, changed = [], []
        for session_id, session_events in by_session.items():
            session_events.sort(key=lambda e: (e.at, ORDER[e.kind]))
            session = existing.get(session_id)
            if session is None and not session_events[0].token:  # an anonymous session gone meanwhile
                continue
            if session is None:
                session = _new_session(session_id, session_events[0], owners, channels)
                new.append(session)
            before = tuple(getattr(session, name) for name in UPDATED_FIELDS)
            was_active = session.active
            for event in session_events:
                merge(session, event)
                result.applied += 1
            if session.opened_at is None or session.opened_at > session.updated_at:
                session.opened_at = min(t for t in (session.opened_at, session.updated_at) if t is not None)
            if was_active and not session.active:
                closed.append(session_id)
            if session_id in existing and tuple(getattr(session, name) for name in UPDATED_FIELDS) != before:
                changed.append(session)
        _fill_archive_programs(by_session, new, existing, changed)
        opened.extend(new)
        rows = sorted(new + changed, key=lambda session: session.streamer_session_id)
        if rows:
            _upsert(rows)
            result.created = len(new)
    return closed, opened


def _new_session(session_id: str, first: Event, owners: dict, channels: dict) -> SessionState:
    """A session row opened by its first event (merged into it next, with the others)."""
    subscriber_id, portal_id = owners[first.token]
    return SessionState(
        portal_id=portal_id, subscriber_id=subscriber_id, channel_id=channels[(portal_id, first.media)],
        channel_name=first.media, streamer_session_id=session_id, token=first.token[:64], active=True,
        bytes=0, dvr=first.dvr, close_reason="", ip="", user_agent="", proto="", country="")


def _fill_archive_programs(by_session: dict[str, list[Event]], new: list[SessionState],
                           existing: dict[str, SessionState], changed: list[SessionState]) -> None:
    """``programId`` of the batch's archive sessions that have none yet: the programme at the first archive
    position their events name (``monitoring.archive``); an existing row that got one is written too."""
    touched = [*new, *existing.values()]
    positions = [(session, next((e.archive_at for e in by_session[session.streamer_session_id] if e.archive_at),
                                None)) for session in touched]
    changed_ids = {id(session) for session in changed}
    for session in archive.fill_program_ids(positions):
        if session.streamer_session_id in existing and id(session) not in changed_ids:
            changed.append(session)


def _upsert(rows: list[SessionState]) -> None:
    """Write merged rows, new and changed alike (the caller holds the session IDs' locks).

    On PostgreSQL one statement over ``unnest`` of one array per column (no per-row ORM cost): an ``UPDATE`` of
    the rows that exist and an ``INSERT`` of the others (the partitioned table has no unique index on the
    session ID for ``ON CONFLICT``, monitoring/partitions.py); elsewhere ``bulk_create`` with ``ON CONFLICT
    (streamer_session_id) DO UPDATE``. A changed row is offered under a fresh primary key that is never used.
    """
    if connection.vendor != "postgresql":
        PlaySession.objects.bulk_create(
            [PlaySession(id=new_id(), **{name: getattr(row, name) for name in STATE_FIELDS}) for row in rows],
            update_conflicts=True, unique_fields=["streamer_session_id"], update_fields=UPDATED_FIELDS)
        return
    quote = connection.ops.quote_name
    fields = [PlaySession._meta.get_field("id")] + [PlaySession._meta.get_field(name) for name in STATE_FIELDS]
    columns = ", ".join(quote(f.column) for f in fields)
    arrays = ", ".join(f"%s::{_SQL_TYPES[f.get_internal_type()]}[]" for f in fields)
    updates = ", ".join(f"{quote(c)} = i.{quote(c)}"
                        for c in (PlaySession._meta.get_field(name).column for name in UPDATED_FIELDS))
    values = [[new_id() for _ in rows]] + [[getattr(row, name) for row in rows] for name in STATE_FIELDS]
    connection.ensure_connection()
    # Server-side parameters: Django's cursors would quote the 21 arrays into the SQL text, in Python.
    with psycopg.Cursor(connection.connection) as cursor:
        table, session_id = quote(PlaySession._meta.db_table), quote("streamer_session_id")
        cursor.execute(f"WITH i ({columns}) AS (SELECT * FROM unnest({arrays})), "
                       f"updated AS (UPDATE {table} p SET {updates} FROM i WHERE p.{session_id} = i.{session_id} "
                       f"RETURNING p.{session_id}) "
                       f"INSERT INTO {table} ({columns}) SELECT * FROM i "
                       f"WHERE i.{session_id} NOT IN (SELECT {session_id} FROM updated)", values)
