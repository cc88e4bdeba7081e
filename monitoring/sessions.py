"""Every change of play sessions: opening (auth ``new_session``), heartbeats, closing, limits and cleanup.

Heartbeats (``update_session``) are the bulk of the streaming server's traffic; they are written to the
shared cache (one key per session, no database query) and flushed to the database in bulk every 30 seconds
(beat) and before the stale-session cleanup. Readers that need the newest values of active sessions (the
API, the cleanup) merge the cached heartbeat over the row. With Redis, session starts of portals without a
session limit are buffered too (a Redis list) and written in bulk every 5 seconds; with a limit, or on the
embedded file-based cache, a start is written at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from catena_site.shared_store import CacheErrors, store
from content import restrictions
from subscribers import devices, playback_cache
from subscribers.models import Subscriber
from subscribers.playback_cache import Beat, BeatProbe

from . import archive, dead_letters, sharing
from .models import CloseReason, PlaySession

log = logging.getLogger(__name__)

ACTIVITY_TOUCH_SECONDS = 300  # lastActivityAt of a subscriber playing is written at most this often
_SAFE_SESSION_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
RETRYABLE = {"40P01", "40001"}  # PostgreSQL: deadlock detected, serialization failure
OPENING = "pb:opening"  # the buffer of session starts (Redis list), drained by write_opened_sessions
HEARTBEATS = "pb:hb"  # the cached heartbeats (one key per session), flushed by flush_heartbeats
SESSION_LOCK_CLASS = 7301  # PostgreSQL advisory locks of session IDs: (this, hashtext(session ID))


@dataclass(frozen=True)
class PlayRequest:
    """What the streaming server tells us about one session in an auth request."""

    session_id: str
    name: str
    token: str
    ip: str = ""
    proto: str = ""
    user_agent: str = ""
    bytes: int | None = None
    duration: int | None = None
    dvr: bool = False
    device_id: str | None = None
    archive_at: dt.datetime | None = None  # the archive position of a dvr session, when the client says it
    country: str = ""  # the streaming server's GeoIP country, when it sends one (location restrictions)


# --- Cached heartbeats --------------------------------------------------------------------------------------


def session_key(streamer_session_id: str) -> str:
    """Cache key of a session's heartbeat: ``(subscriber_id, channel_id, unix time, bytes, duration)``."""
    if not _SAFE_SESSION_ID.match(streamer_session_id):
        streamer_session_id = hashlib.sha256(streamer_session_id.encode("utf-8", "surrogatepass")).hexdigest()
    return f"pb:hb:{streamer_session_id}"


def _heartbeat_ttl() -> int:
    return settings.SESSION_STALE_SECONDS * 2


def remember(streamer_session_id: str, subscriber_id: int, channel_id: int, at: dt.datetime, bytes_: int,
             duration: int | None) -> None:
    """Store a session's newest heartbeat in the shared cache (what ``update_session`` does on a warm hit)."""
    try:
        playback_cache.set_heartbeat(session_key(streamer_session_id),
                                     Beat(subscriber_id, channel_id, at.timestamp(), bytes_, duration), _heartbeat_ttl())
    except Exception:
        log.warning("could not cache the heartbeat of %s", streamer_session_id, exc_info=True)


def probe(session_id: str, name: str, update: bool, now: dt.datetime, bytes_: int | None,
          duration: int | None, *, dvr: bool = False) -> BeatProbe:
    """What the auth check asks of the session's heartbeat while it reads the token's facts (``dvr``: an archive
    request, whose heartbeat is refreshed only when the channel keeps an archive)."""
    return BeatProbe(session_key(session_id), name, update, now.timestamp(), bytes_, duration, _heartbeat_ttl(), dvr)


def heartbeat(cached: Beat, request: PlayRequest, now: dt.datetime) -> None:
    """A warm ``update_session``: the newest values go to the cache, monotonic in bytes and duration."""
    beat = cached.advanced(now.timestamp(), request.bytes, request.duration)
    try:
        playback_cache.set_heartbeat(session_key(request.session_id), beat, _heartbeat_ttl())
    except Exception:
        log.warning("could not cache the heartbeat of %s", request.session_id, exc_info=True)


def forget(streamer_session_ids: Iterable[str]) -> None:
    """Drop the cached heartbeats of sessions that were closed."""
    keys = [session_key(s) for s in streamer_session_ids]
    if keys:
        try:
            store().delete_many(keys)
        except Exception:
            log.warning("could not drop cached heartbeats", exc_info=True)


def cached_heartbeats(streamer_session_ids: Iterable[str]) -> dict[str, tuple[dt.datetime, int, int | None]]:
    """``{session id: (updated_at, bytes, duration)}`` from the cache, for the given sessions that have one."""
    ids = list(streamer_session_ids)
    if not ids:
        return {}
    try:
        found = playback_cache.get_heartbeats([session_key(s) for s in ids])
    except Exception:
        log.warning("could not read cached heartbeats", exc_info=True)
        return {}
    result = {}
    for sid in ids:
        beat = found.get(session_key(sid))
        if beat is not None:
            result[sid] = (dt.datetime.fromtimestamp(beat.at, dt.UTC), beat.bytes or 0, beat.duration)
    return result


# --- Opening and refreshing (auth requests) -------------------------------------------------------------------


def _live_count(subscriber_id: int, portal_id: int, except_session: str, now: dt.datetime) -> int:
    """How many of the subscriber's other sessions are alive: active and heard of within the stale period."""
    cutoff = now - dt.timedelta(seconds=settings.SESSION_STALE_SECONDS)
    rows = list(PlaySession.objects.filter(portal_id=portal_id, subscriber_id=subscriber_id, active=True)
                .exclude(streamer_session_id=except_session).values_list("streamer_session_id", "updated_at"))
    cached = cached_heartbeats(sid for sid, _ in rows)
    return sum(1 for sid, updated in rows if max(updated, cached.get(sid, (updated,))[0]) >= cutoff)


def lock_session_ids(streamer_session_ids: Iterable[str]) -> None:
    """Inside a transaction, on PostgreSQL: hold each session ID's lock until commit, in one order for everyone.

    The partitioned ``play_sessions`` table cannot have a unique index on ``streamer_session_id`` alone
    (``monitoring.partitions``): every writer that may insert a session takes its ID's lock first, then looks
    for the row, so one session ID never gets two rows. Sorted locking order: no deadlock between two writers.
    """
    if connection.vendor != "postgresql":
        return  # elsewhere the unique index on streamer_session_id holds
    ids = sorted(set(streamer_session_ids))
    if ids:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, k) FROM (SELECT DISTINCT hashtext(s) AS k "
                           "FROM unnest(%s::text[]) s) keys ORDER BY k", [SESSION_LOCK_CLASS, ids])


def _upsert(facts, channel_id: int, request: PlayRequest, now: dt.datetime) -> None:
    """Create the session, or revive it if the streaming server reuses its ID (keeps ``opened_at``)."""
    session = PlaySession(
        portal_id=facts.portal_id, subscriber_id=facts.subscriber_id, channel_id=channel_id,
        channel_name=request.name, streamer_session_id=request.session_id, token=request.token[:64],
        opened_at=now, updated_at=now, active=True, bytes=max(request.bytes or 0, 0), duration=request.duration,
        ip=request.ip[:45], user_agent=request.user_agent[:500], device_id=request.device_id, proto=request.proto[:16],
        dvr=request.dvr, program_id=archive.program_id(channel_id, request.archive_at) if request.dvr else None,
        country=request.country,
    )
    revived = ["updated_at", "closed_at", "active", "close_reason", "ip", "user_agent", "token", "device_id", "proto",
               "country"]
    if connection.vendor != "postgresql":
        PlaySession.objects.bulk_create([session], update_conflicts=True, unique_fields=["streamer_session_id"],
                                        update_fields=revived)
        return
    # The caller holds the session ID's lock (relaxed_durability): one statement updates the row or inserts it.
    quote, fields = connection.ops.quote_name, PlaySession._meta.concrete_fields
    table, session_id = quote(PlaySession._meta.db_table), quote("streamer_session_id")
    values = [field.get_db_prep_save(getattr(session, field.attname), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH updated AS (UPDATE {table} SET {', '.join(f'{quote(name)} = %s' for name in revived)} "
            f"WHERE {session_id} = %s RETURNING 1) "
            f"INSERT INTO {table} ({', '.join(quote(field.column) for field in fields)}) "
            f"SELECT {', '.join(['%s'] * len(fields))} WHERE NOT EXISTS (SELECT 1 FROM updated)",
            [*(getattr(session, name) for name in revived), request.session_id, *values])


def relaxed_durability(lock_session_id: str | None = None) -> None:
    """Inside a transaction: on PostgreSQL, commit without waiting for the WAL flush (``synchronous_commit``);
    with ``lock_session_id``, the same statement takes that session ID's lock (:func:`lock_session_ids`).

    Used for play-session writes only. A database crash may lose the last fraction of a second of them; the
    streaming server's next ``update_session`` recreates a missing session and the stale cleanup closes one
    whose close was lost, so nothing a playback decision depends on is at stake, and neither the auth answer
    nor an event batch's acknowledgement waits for a disk flush.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            if lock_session_id is None:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
            else:
                cursor.execute("SELECT set_config('synchronous_commit', 'off', true), "
                               "pg_advisory_xact_lock(%s, hashtext(%s))", [SESSION_LOCK_CLASS, lock_session_id])


def buffered() -> bool:
    """Whether session starts go through the Redis buffer (Redis cache and ``STREAMER_BUFFER_SESSIONS``)."""
    return getattr(settings, "STREAMER_BUFFER_SESSIONS", True) and getattr(store(), "supports_lists", False)


def open_session(facts, channel_id: int, request: PlayRequest, now: dt.datetime | None = None) -> bool:
    """An allowed ``new_session``: create (or revive) the play session unless the limit forbids it.

    With ``maxSessionsPerSubscriber`` set, the subscriber's row is locked while counting, so two devices
    starting at once cannot both take the last place. The same session ID again is never refused.
    Returns False (nothing written) when the limit is reached.

    Without a limit, and on Redis, the start is appended to a buffer together with its first heartbeat (one
    round trip, no database query) and written in bulk by :func:`write_opened_sessions` within seconds. With the
    push watch on, that round trip is not waited for: a start Redis refuses after the answer is written to the
    database then (``playback_cache.push_and_set_heartbeat``).
    """
    now = now or timezone.now()
    if not facts.max_sessions and buffered():
        opened = (request.session_id, facts.portal_id, facts.subscriber_id, channel_id, request.name,
                  request.token[:64], now.timestamp(), request.ip[:45], request.user_agent[:500], request.device_id,
                  request.proto[:16], request.dvr, max(request.bytes or 0, 0), request.duration,
                  request.archive_at.timestamp() if request.archive_at else None, request.country)
        first_beat = Beat(facts.subscriber_id, channel_id, now.timestamp(), max(request.bytes or 0, 0),
                          request.duration)
        try:
            playback_cache.push_and_set_heartbeat(OPENING, opened, session_key(request.session_id), first_beat,
                                                  _heartbeat_ttl(),
                                                  fallback=lambda: _open_directly(facts, channel_id, request, now))
            return True
        except CacheErrors:
            log.warning("session buffer unavailable; writing the session start directly", exc_info=True)
    return _open_directly(facts, channel_id, request, now)


def _open_directly(facts, channel_id: int, request: PlayRequest, now: dt.datetime) -> bool:
    """:func:`open_session` in the database: the row written (under the subscriber's lock with a limit) at once."""
    with transaction.atomic():
        relaxed_durability(lock_session_id=request.session_id)
        if facts.max_sessions:
            list(Subscriber.objects.select_for_update().filter(pk=facts.subscriber_id).values_list("id"))
            if _live_count(facts.subscriber_id, facts.portal_id, request.session_id, now) >= facts.max_sessions:
                return False
        _upsert(facts, channel_id, request, now)
    remember(request.session_id, facts.subscriber_id, channel_id, now, max(request.bytes or 0, 0), request.duration)
    _after_open(facts, request, now)
    return True


def refresh_session(facts, channel_id: int, request: PlayRequest, cached: Beat | None,
                    now: dt.datetime | None = None) -> None:
    """An allowed ``update_session``: a heartbeat in the cache when the session is known there (no query).

    Otherwise (first update after a restart, or the session was closed meanwhile) the row is read: an
    active one is refreshed, one closed by the stale cleanup, reconciliation or an access change is revived
    (the streaming server still plays it and we just allowed it), one closed by the streaming server stays
    closed, and a missing one is created.
    """
    now = now or timezone.now()
    if cached is not None and cached.subscriber_id == facts.subscriber_id and cached.channel_id == channel_id:
        heartbeat(cached, request, now)
        return
    row = (PlaySession.objects.filter(streamer_session_id=request.session_id)
           .values_list("subscriber_id", "channel_id", "active", "close_reason", "bytes", "duration").first())
    if row is None:
        with transaction.atomic():
            relaxed_durability(lock_session_id=request.session_id)
            _upsert(facts, channel_id, request, now)
        remember(request.session_id, facts.subscriber_id, channel_id, now, max(request.bytes or 0, 0),
                 request.duration)
        _after_open(facts, request, now)
        return
    subscriber_id, row_channel_id, active, close_reason, old_bytes, old_duration = row
    if not active and close_reason == CloseReason.STREAMER:
        return
    new_bytes = max(old_bytes, request.bytes or 0)
    duration = max(d for d in (old_duration, request.duration, -1) if d is not None)
    PlaySession.objects.filter(streamer_session_id=request.session_id).update(
        active=True, closed_at=None, close_reason="", updated_at=Greatest(F("updated_at"), Value(now)),
        bytes=new_bytes, duration=None if duration < 0 else duration)
    remember(request.session_id, subscriber_id, row_channel_id, now, new_bytes, None if duration < 0 else duration)


def _after_open(facts, request: PlayRequest, now: dt.datetime) -> None:
    """Side effects of a session start: the token-sharing watch (a query only for an address new in the window)
    and the device's ``lastSeenAt`` (a query only when the start names a device).

    ``lastActivityAt`` is not written here but by the heartbeat flush, in bulk, for everyone playing.
    """
    sharing.note_address(facts.subscriber_id, facts.portal_id, request.token, request.ip, now)
    if request.device_id and facts.subscriber_id is not None:  # an anonymous viewer has no devices
        devices.note_seen([(facts.subscriber_id, request.device_id, now, request.ip, request.user_agent)])


# --- Writing buffered session starts ---------------------------------------------------------------------------


def write_opened_sessions(batch: int = 2000) -> int:
    """Write the buffered ``new_session`` starts to the database; return how many were taken from the buffer.

    One drainer at a time (a lock in Redis). Items leave the buffer only after their transaction committed
    or, when the database refuses an item's data, after it was moved to the dead-letter list
    (``monitoring.dead_letters``); writing one twice is harmless (a session that exists is left alone, or
    revived as below).
    """
    cache = store()
    if not getattr(cache, "supports_lists", False):
        return 0
    lock = cache.lock(OPENING + ":lock", 120)
    if lock is None:
        return 0
    taken = 0
    try:
        while True:
            items = cache.list_head(OPENING, batch)
            if not items:
                return taken
            # A start the database refuses (a value it cannot store) goes to the dead-letter list, so it can
            # never hold up the starts behind it; an outage propagates and the next drain resumes here.
            opened = dead_letters.write_each(items, lambda chunk: retry_on_conflict(lambda: _write_opened(chunk)),
                                             OPENING)
            cache.list_drop_head(OPENING, len(items))
            taken += len(items)
            sharing.note_addresses([(s.subscriber_id, s.portal_id, s.token, s.ip) for s in opened], timezone.now())
            devices.note_seen((s.subscriber_id, s.device_id, s.updated_at, s.ip, s.user_agent)
                              for s in opened if s.device_id and s.subscriber_id is not None)
    finally:
        cache.unlock(OPENING + ":lock", lock)


def _write_opened(items: list[tuple]) -> list[PlaySession]:
    """Insert the buffered starts; revive a session we closed (stale, access, reconciliation) before the start."""
    starts: dict[str, tuple] = {}
    for item in items:
        # the first start of a session ID counts; one buffered before archive positions or countries has none
        starts.setdefault(item[0], (*item, *(None, "")[len(item) - 14:]) if len(item) < 16 else item)
    created, changed, positions = [], [], []
    with transaction.atomic():
        lock_session_ids(starts)
        existing = {s.streamer_session_id: s for s in PlaySession.objects.select_for_update()
                    .filter(streamer_session_id__in=list(starts)).order_by("streamer_session_id")}
        for session_id in sorted(starts):
            (_, portal_id, subscriber_id, channel_id, name, token, ts, ip, user_agent, device_id, proto, dvr,
             bytes_, duration, archive_ts, country) = starts[session_id]
            at = dt.datetime.fromtimestamp(ts, dt.UTC)
            session = existing.get(session_id)
            if session is None:
                created.append(PlaySession(
                    portal_id=portal_id, subscriber_id=subscriber_id, channel_id=channel_id, channel_name=name,
                    streamer_session_id=session_id, token=token, opened_at=at, updated_at=at, active=True,
                    bytes=bytes_, duration=duration, ip=ip, user_agent=user_agent, device_id=device_id, proto=proto,
                    dvr=dvr, country=country or ""))
                positions.append((created[-1], dt.datetime.fromtimestamp(archive_ts, dt.UTC) if archive_ts else None))
            elif (not session.active and session.close_reason != CloseReason.STREAMER
                  and (session.closed_at is None or session.closed_at <= at)):
                session.active, session.closed_at, session.close_reason = True, None, ""
                session.updated_at = max(session.updated_at, at)
                session.ip, session.user_agent, session.token, session.device_id = ip, user_agent, token, device_id
                session.country = country or session.country
                changed.append(session)
        archive.fill_program_ids(positions)
        if created:
            PlaySession.objects.bulk_create(created)
        if changed:
            PlaySession.objects.bulk_update(changed, ["active", "closed_at", "close_reason", "updated_at", "ip",
                                                      "user_agent", "token", "device_id", "country"])
    return created + changed


# --- Flushing heartbeats ----------------------------------------------------------------------------------------


def flush_heartbeats(chunk: int = 1000) -> int:
    """Write the cached heartbeats of active sessions to the database; return how many rows changed.

    Monotonic: ``updated_at``, ``bytes`` and ``duration`` only grow (``GREATEST`` in SQL), so a concurrent
    event batch is never undone.
    """
    write_opened_sessions()
    changed = 0
    playing: set[int] = set()
    rows = (PlaySession.objects.filter(active=True)
            .values_list("id", "streamer_session_id", "updated_at", "bytes", "duration", "subscriber_id")
            .iterator(chunk_size=chunk))
    batch: list[tuple] = []
    for row in rows:
        batch.append(row[:5])
        if row[5] is not None:  # None: an anonymous viewer
            playing.add(row[5])
        if len(batch) >= chunk:
            changed += _flush_each(batch)
            batch = []
    if batch:
        changed += _flush_each(batch)
    mark_playing(playing)
    return changed


def _flush_each(rows: list[tuple]) -> int:
    """:func:`_flush` of these rows; when the database refuses a cached heartbeat's values, row by row: each
    refused heartbeat goes to the dead-letter list and leaves the cache, the others are written."""
    return sum(dead_letters.write_each(rows, lambda chunk: [_flush(chunk)], HEARTBEATS,
                                       discard=lambda row: forget([row[1]])))


def mark_playing(subscriber_ids: set[int], now: dt.datetime | None = None) -> int:
    """``lastActivityAt = now`` for subscribers playing, at most every ``ACTIVITY_TOUCH_SECONDS`` each."""
    now = now or timezone.now()
    recent = now - dt.timedelta(seconds=ACTIVITY_TOUCH_SECONDS)
    ids, touched = sorted(subscriber_ids), 0
    for start in range(0, len(ids), 1000):
        touched += (Subscriber.objects.filter(id__in=ids[start:start + 1000])
                    .filter(Q(last_activity_at__isnull=True) | Q(last_activity_at__lt=recent))
                    .update(last_activity_at=now))
    return touched


def _flush(rows: list[tuple]) -> int:
    """Write the cached heartbeats of these ``(id, session id, updated_at, bytes, duration)`` rows."""
    cached = cached_heartbeats(sid for _, sid, *_ in rows)
    changes = []
    for pk, sid, updated_at, bytes_, duration in rows:
        beat = cached.get(sid)
        if beat is None:
            continue
        beat_at, beat_bytes, beat_duration = beat
        if beat_at <= updated_at and beat_bytes <= bytes_ and (beat_duration or 0) <= (duration or 0):
            continue
        changes.append((pk, beat_at, beat_bytes, beat_duration))
    if not changes:
        return 0
    if connection.vendor == "postgresql":
        # One UPDATE … FROM unnest(…): bulk_update's CASE expressions cost seconds per thousand rows.
        table = connection.ops.quote_name(PlaySession._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS s SET updated_at = GREATEST(s.updated_at, v.updated_at), "
                "bytes = GREATEST(s.bytes, v.bytes), duration = GREATEST(s.duration, v.duration) "
                "FROM unnest(%s::bigint[], %s::timestamptz[], %s::bigint[], %s::integer[]) "
                "AS v(id, updated_at, bytes, duration) WHERE s.id = v.id",
                [list(column) for column in zip(*changes)])
        return len(changes)
    updates = []
    for pk, beat_at, beat_bytes, beat_duration in changes:
        session = PlaySession(id=pk)
        session.updated_at = Greatest(F("updated_at"), Value(beat_at))
        session.bytes = Greatest(F("bytes"), Value(beat_bytes))
        session.duration = (F("duration") if beat_duration is None
                            else Greatest(Coalesce(F("duration"), Value(-1)), Value(beat_duration)))
        updates.append(session)
    PlaySession.objects.bulk_update(updates, ["updated_at", "bytes", "duration"], batch_size=500)
    return len(updates)


# --- Closing ----------------------------------------------------------------------------------------------------


def close_stale_sessions(now: dt.datetime | None = None, chunk: int = 1000) -> int:
    """Close active sessions not heard of for ``SESSION_STALE_SECONDS``, with ``closedAt = updatedAt``.

    Heartbeats still in the cache count: a session whose cached heartbeat is fresh gets it written instead
    of being closed, and a stale one is closed at its last heartbeat.
    """
    write_opened_sessions()
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.SESSION_STALE_SECONDS)
    closed = 0
    last_id = 0
    while True:
        rows = list(PlaySession.objects.filter(active=True, updated_at__lt=cutoff, id__gt=last_id).order_by("id")
                    .values_list("id", "streamer_session_id", "updated_at", "bytes", "duration")[:chunk])
        if not rows:
            return closed
        last_id = rows[-1][0]
        _flush_each(rows)  # fresh heartbeats move updated_at past the cutoff; old ones still count for closedAt
        stale = list(PlaySession.objects.filter(id__in=[row[0] for row in rows], active=True, updated_at__lt=cutoff)
                     .values_list("id", "streamer_session_id"))
        if stale:
            closed += (PlaySession.objects.filter(id__in=[pk for pk, _ in stale], active=True, updated_at__lt=cutoff)
                       .update(active=False, closed_at=F("updated_at"), close_reason=CloseReason.STALE))
            forget(sid for _, sid in stale)


def close_sessions(session_ids: list[int], reason: str, at: dt.datetime | None = None) -> int:
    """Close these sessions (if still active) now, for ``reason``; return how many were closed."""
    if not session_ids:
        return 0
    at = at or timezone.now()
    rows = list(PlaySession.objects.filter(id__in=session_ids, active=True).values_list("id", "streamer_session_id"))
    closed = PlaySession.objects.filter(id__in=[r[0] for r in rows], active=True).update(
        active=False, closed_at=at, updated_at=Greatest(F("updated_at"), Value(at)), close_reason=reason)
    forget(r[1] for r in rows)
    return closed


def _anonymous_allowed(found, channel_id: int, dvr: bool, ip: str | None, country: str | None) -> bool:
    """Whether an anonymous session may go on: its channel still free under the same ID (``found``, from
    ``playback_cache.anonymous_channels``), an archive for an archive session, and a viewer inside its locations."""
    return (found is not None and found.channel_id == channel_id and (not dvr or found.archive)
            and restrictions.allows(found.restriction, restrictions.viewer_key(ip, country)))


def _subscriber_allowed(facts, subscriber_id: int, channel_id: int, channel_name: str, dvr: bool, ip: str | None,
                        country: str | None) -> bool:
    """Whether a subscriber's session may go on, judged from its token's current facts (None: unknown token)."""
    return (facts is not None and not facts.disabled and facts.subscriber_id == subscriber_id
            and facts.channels.get(channel_name) == channel_id
            and (not dvr or channel_name in facts.archive)
            and facts.allows_location(channel_name, ip, country))


def recheck_sessions(portal_id: int, subscriber_ids: Iterable[int] = (), channel_ids: Iterable[int] = (),
                     now: dt.datetime | None = None) -> list[str]:
    """After an access change: close the scope's active sessions the access rule no longer allows.

    Each session is judged like a new auth request with its own token and stream name (through the
    playback cache, which the change has already invalidated); an archive session also needs the channel to keep
    an archive (players.md §1). Returns the stream names of the closed sessions, for the streaming server's
    re-authorization.
    """
    write_opened_sessions()  # sessions started just before the change are judged too
    scope = Q()
    if subscriber_ids:
        scope |= Q(subscriber_id__in=list(subscriber_ids))
    if channel_ids:
        scope |= Q(channel_id__in=list(channel_ids))
    if not scope:
        return []
    rows = list(PlaySession.objects.filter(scope, portal_id=portal_id, active=True)
                .values_list("id", "token", "subscriber_id", "channel_id", "channel_name", "ip", "country", "dvr"))
    facts_by_token: dict[str, object] = {}
    denied, names = [], set()
    anonymous = None
    for pk, token, subscriber_id, channel_id, channel_name, ip, country, dvr in rows:
        if subscriber_id is None:  # an anonymous viewer: the portal's free channels, if it still allows them
            if anonymous is None:
                anonymous = playback_cache.anonymous_channels(portal_id)
            allowed = _anonymous_allowed(anonymous.get(channel_name), channel_id, dvr, ip, country)
        else:
            if token not in facts_by_token:
                facts_by_token[token] = playback_cache.lookup(token) if token else None
            allowed = _subscriber_allowed(facts_by_token[token], subscriber_id, channel_id, channel_name, dvr, ip,
                                          country)
        if not allowed:
            denied.append(pk)
            names.add(channel_name)
    close_sessions(denied, CloseReason.ACCESS, now)
    return sorted(names)


def reconcile(streamer_session_ids: set[str], listed_at: dt.datetime, grace_seconds: int = 60, *,
              server_id: int | None = None) -> int:
    """Close our active sessions the streaming server no longer has (it listed its sessions at ``listed_at``);
    with ``server_id``, only sessions of the portals bound to that server (the others are not on its list).

    Sessions opened shortly before the listing are left alone: the list may have been taken before them.
    Closed with ``closedAt = updatedAt`` (the last sign of life), after flushing cached heartbeats.
    """
    flush_heartbeats()
    cutoff = listed_at - dt.timedelta(seconds=grace_seconds)
    active = PlaySession.objects.filter(active=True, opened_at__lt=cutoff)
    if server_id is not None:
        active = active.filter(portal__streaming_server_id=server_id)
    rows = list(active.values_list("id", "streamer_session_id"))
    gone = [(pk, sid) for pk, sid in rows if sid not in streamer_session_ids]
    if not gone:
        return 0
    with transaction.atomic():
        closed = PlaySession.objects.filter(id__in=[pk for pk, _ in gone], active=True).update(
            active=False, closed_at=F("updated_at"), close_reason=CloseReason.RECONCILED)
    forget(sid for _, sid in gone)
    return closed


def retry_on_conflict(function, attempts: int = 3):
    """Run ``function`` (one transaction) again when a concurrent writer of the same sessions won a race:
    a duplicate insert of a session ID, or a deadlock/serialization failure reported by PostgreSQL."""
    for attempt in range(attempts):
        try:
            return function()
        except (IntegrityError, OperationalError) as exc:
            transient = isinstance(exc, IntegrityError) or getattr(exc.__cause__, "sqlstate", None) in RETRYABLE
            if not transient or attempt == attempts - 1:
                raise
    return None
