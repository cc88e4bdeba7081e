"""The facts behind playback decisions, cached in the shared cache and never stale.

The streaming server asks on every play whether a token may play a stream name. The answer depends on facts
about the token's subscriber (who, which portal, disabled?, the session limit, the names of the channels it
may watch, the location restrictions of those that have any, ``content.restrictions``, which of them keep an
archive for ``dvr`` requests, players.md §1, and its devices with the rules for a new one, lifecycle.md §2). They are cached per token in the cache every process shares (Redis
in production, a file-based cache in the embedded default — never per-process memory), so a warm check reads
the cache only.

Exactness: each entry stores the *stamps* (see ``catena_site.access_events``) of the facts it was computed
from — the token's, the subscriber's subscriptions', the subscriber's devices' (and its own device limit), the
portal's (free packages, settings) and one per granting package (which also protects its channels' location
restrictions). A check compares them with the current stamps (on Redis in the same round trip, by a small Lua
script); a change deletes the stamp key after commit, so the next check recomputes. Stamps are read before the
database, so a change committed while an entry is being computed leaves that entry invalid rather than stale.
The same store keeps the play sessions' heartbeats (``monitoring.sessions``): the auth check refreshes one in
the round trip that validates the facts.

Subscription periods (``starts_at`` ≤ now < ``expires_at``) are decided to the second without any job: an entry
carries ``valid_until``, the first instant after its computation at which one of the subscriber's subscriptions
starts or ends, and a check at or after that instant recomputes (the warm check compares it with the clock, in
the same round trip). An entry also names the channels only an expired subscription granted, so their refusal
says ``subscription_expired``.

On a miss, every fact costs one indexed query (``subscribers.access``); an unknown token is remembered for a
minute (tokens are 192-bit random strings: a new token can never have been looked up before).
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import NamedTuple

from django.conf import settings
from django.core.signals import request_started
from django.db import connections

from catena_site import access_events as keys
from catena_site import shared_store
from catena_site.shared_store import CacheErrors, Script, store
from content import restrictions
from content.models import TECHNICAL_NAME_PATTERN
from content.restrictions import Viewer

from . import access

log = logging.getLogger(__name__)

UNKNOWN_TOKEN_TTL = 60  # seconds
NOWHERE = Viewer()  # a viewer without address or country: outside every location
_NAME = re.compile(TECHNICAL_NAME_PATTERN)


# --- Heartbeats and verdicts -------------------------------------------------------------------------------------


class Beat(NamedTuple):
    """A play session's newest heartbeat, as the auth check caches it."""

    subscriber_id: int | None  # None: an anonymous viewer
    channel_id: int
    at: float  # Unix time
    bytes: int
    duration: int | None

    def advanced(self, at: float, bytes_: int | None, duration: int | None) -> Beat:
        """This heartbeat moved to ``at``; bytes and duration never go down (``_CHECK`` mirrors this in Lua)."""
        durations = [d for d in (self.duration, duration) if d is not None]
        return self._replace(at=at, bytes=max(self.bytes, bytes_ or 0), duration=max(durations) if durations else None)


@dataclass(frozen=True, slots=True)
class BeatProbe:
    """What an auth check wants done with a session's heartbeat while it reads the token's facts."""

    key: str
    name: str  # the stream name: the heartbeat is refreshed only if it matches the channel of that name
    update: bool  # an ``update_session``: refresh the heartbeat when the facts allow the stream
    at: float
    bytes: int | None
    duration: int | None
    timeout: int
    dvr: bool = False  # an archive request: refreshed only when the channel keeps an archive (players.md §1)


class DeviceRules(NamedTuple):
    """The device facts of a subscriber the auth check decides a first sight by (lifecycle.md §2)."""

    count: int  # devices known now
    limit: int | None  # the subscriber's own maxDevices, else the portal's maxDevicesPerSubscriber; None: no limit
    policy: str  # deviceLimitPolicy: "refuse" or "replace_oldest"
    registration: bool  # allowDeviceRegistration: an unknown device may register itself


class DeviceFacts(NamedTuple):
    """A subscriber's known device uids and the rules for a new one."""

    uids: frozenset[str]
    rules: DeviceRules


class Verdict(NamedTuple):
    """What the auth check needs of a token's facts for one stream name (see :func:`check`)."""

    subscriber_id: int | None  # None: no such token
    portal_id: int | None
    disabled: bool
    max_sessions: int | None
    channel_id: int | None  # the stream's channel, when the subscriber may watch it
    beat: Beat | None  # the session's heartbeat before this check (when a probe was given)
    written: bool  # the heartbeat was refreshed along the way
    server_id: int | None = None  # the streaming server of the subscriber's portal
    expired: bool = False  # not watchable, and an expired subscription is what granted it
    location_refused: bool = False  # the channel has location restrictions and the viewer is outside them
    device_known: bool = False  # the device asked about is one of the subscriber's (lifecycle.md §2)
    device_rules: DeviceRules | None = None  # how a device not known yet is decided
    archive: bool = False  # the stream's channel keeps an archive (``archive_days`` > 0): ``dvr`` may play


# A facts tuple: ``(subscriber, portal, disabled, max sessions, channels, server, valid until, expired channels,
# restricted channels, devices)``; ``valid until`` is a Unix time (None: no subscription starts or ends later),
# ``expired channels`` the ``{name: id}`` of the channels only an expired subscription granted, ``restricted
# channels`` the ``{name: location restriction text}`` (``content.restrictions``) of the watchable channels with
# restrictions, ``devices`` a :class:`DeviceFacts` (the known device uids and the rules for a new one), ``archive``
# the names of the watchable channels that keep an archive (``archive_days`` > 0; players.md §1).
VALID_UNTIL, EXPIRED, RESTRICTED, DEVICES, ARCHIVE = 6, 7, 8, 9, 10


def current(values: tuple | None, now: float | None = None) -> bool:
    """Whether a facts tuple still holds at ``now`` (Unix time): no subscription started or ended since."""
    if values is None or len(values) <= VALID_UNTIL or values[VALID_UNTIL] is None:
        return True
    return (time.time() if now is None else now) < values[VALID_UNTIL]


def verdict(values: tuple | None, name: str, beat: Beat | None, written: bool, viewer: Viewer = NOWHERE,
            device: str | None = None) -> Verdict:
    """The :class:`Verdict` for stream ``name`` watched by ``viewer`` (and ``device``, a device uid) from a facts
    tuple (None: an unknown token)."""
    if values is None:
        return Verdict(None, None, False, None, None, beat, written)
    subscriber_id, portal_id, disabled, max_sessions, channels, server_id = values[:6]
    channel_id = channels.get(name)
    refused = channel_id is not None and not restrictions.allows(values[RESTRICTED].get(name), viewer)
    devices = values[DEVICES]
    return Verdict(subscriber_id, portal_id, disabled, max_sessions, channel_id, beat, written, server_id,
                   name in values[EXPIRED], refused, device is not None and device in devices.uids, devices.rules,
                   channel_id is not None and name in values[ARCHIVE])


def refreshable(values: tuple | None, probe: BeatProbe | None, viewer: Viewer = NOWHERE) -> tuple[int, int] | None:
    """``(subscriber, channel)`` a heartbeat must name to be refreshed for ``probe`` given valid facts, or None
    when the facts refuse the stream (no heartbeat is written then)."""
    if probe is None or not probe.update or values is None:
        return None
    subscriber_id, _, disabled, _, channels, _ = values[:6]
    channel_id = channels.get(probe.name)
    if disabled or channel_id is None or not restrictions.allows(values[RESTRICTED].get(probe.name), viewer):
        return None
    if probe.dvr and probe.name not in values[ARCHIVE]:  # refused: no_archive
        return None
    return subscriber_id, channel_id


def next_beat(values: tuple | None, beat: Beat | None, probe: BeatProbe | None,
              viewer: Viewer = NOWHERE) -> Beat | None:
    """The refreshed heartbeat for ``probe`` given valid facts, or None when it must not be written here."""
    owner = refreshable(values, probe, viewer) if beat is not None else None
    if owner is None or (beat.subscriber_id, beat.channel_id) != owner:
        return None
    return beat.advanced(probe.at, probe.bytes, probe.duration)


# The warm auth check in one round trip: validate the entry's stamps, read the heartbeat and, for an
# update_session of a stream the facts allow, refresh it (the rules of next_beat). An entry is a hash: ``k``
# the names of its stamp keys (newline-separated), ``s:<key>`` each stamp's stored bytes, ``m`` the facts
# the decision needs as ``subscriber|portal|disabled|max sessions|streaming server`` (absent for an unknown
# token), ``c:<name>`` the ID of each watchable channel, ``r:<name>`` the location restriction text of each
# restricted one (``content.restrictions``, decided here for the viewer ARGV[8] (address key) and ARGV[9]
# (country) by ``located``) and ``f`` all the facts, pickled (returned only when ARGV[7] is '1'); ``u`` the Unix
# time from which the entry no longer holds (a subscription starts or ends: the script compares it with
# ARGV[10], the caller's clock) and ``x:<name>`` (1) each channel only an expired subscription granted;
# ``dv`` the device rules as ``count|limit|policy|registration`` and ``d:<uid>`` each known device (ARGV[11] the
# one asked about); ``a:<name>`` (1) each watchable channel that keeps an archive (a ``dvr`` request, ARGV[12]
# '1', is refused without it: its heartbeat is not refreshed).
# Only the fields asked for are read: the cost does not grow with the number of channels. A heartbeat is a
# ``subscriber|channel|time|bytes|duration`` string. The stamp keys are read from the entry, so this needs
# one Redis server (not a cluster), as Django's cache does. Every answer has ten items: status, meta, channel,
# beat, facts, expired, refused (0 or 1), device known, device rules, archive.
# ``refresh``: the heartbeat ``beat`` (of KEYS[2]) advanced to ARGV[3] (time), ARGV[4] (bytes) and ARGV[5]
# (duration), expiring after ARGV[6] seconds, when it names subscriber ``user`` and channel ``channel``; whether
# it was.
_REFRESH = """
local function refresh(beat, user, channel)
  local b_user, b_channel, b_at, b_bytes, b_duration =
    string.match(beat, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
  if b_user ~= user or b_channel ~= channel then return false end
  local bytes = math.max(tonumber(b_bytes) or 0, tonumber(ARGV[4]) or 0)
  local duration = math.max(tonumber(b_duration) or -1, tonumber(ARGV[5]) or -1)
  local text = ''
  if duration >= 0 then text = string.format('%.0f', duration) end
  redis.call('SET', KEYS[2], user .. '|' .. channel .. '|' .. ARGV[3] .. '|' .. string.format('%.0f', bytes) ..
             '|' .. text, 'EX', ARGV[6])
  return true
end
"""

_CHECK = restrictions.LUA + _REFRESH + """
if KEYS[3] and ARGV[14] and ARGV[14] ~= '' and redis.call('GET', KEYS[3]) == ARGV[14] then
  local beat = redis.call('GET', KEYS[2])
  if ARGV[2] == '1' and ARGV[15] ~= '' and beat and refresh(beat, ARGV[15], ARGV[16]) then return {4} end
  return {3, beat}
end
local head = redis.call('HMGET', KEYS[1], 'k', 'm', 'c:' .. ARGV[1], 'u', 'x:' .. ARGV[1], 'r:' .. ARGV[1],
                        'd:' .. ARGV[11], 'dv', 'a:' .. ARGV[1])
local beat = redis.call('GET', KEYS[2])
if not head[1] then return {0, false, false, beat, false, false, 0, false, false, false} end
if head[4] and tonumber(ARGV[10]) >= tonumber(head[4]) then
  return {0, false, false, beat, false, false, 0, false, false, false}
end
local names, fields = {}, {}
for name in string.gmatch(head[1], '[^\\n]+') do
  names[#names + 1] = name
  fields[#fields + 1] = 's:' .. name
end
if #names > 0 then
  local stored = redis.call('HMGET', KEYS[1], unpack(fields))
  local current = redis.call('MGET', unpack(names))
  for i = 1, #names do
    if not current[i] or stored[i] ~= current[i] then return {0, false, false, beat, false, false, 0, false, false, false} end
  end
end
local meta, channel, facts, status, refused = head[2], head[3], false, 1, 0
if channel and head[6] and not located(head[6], ARGV[8], ARGV[9]) then refused = 1 end
if ARGV[7] == '1' then facts = redis.call('HGET', KEYS[1], 'f') end
if ARGV[2] == '1' and beat and meta and channel and refused == 0 and (ARGV[12] ~= '1' or head[9]) then
  if refresh(beat, string.match(meta, '^([^|]*)'), channel) then status = 2 end
end
if KEYS[3] then
  local generation = redis.call('GET', KEYS[3])
  if not generation then
    generation = ARGV[13]
    redis.call('SET', KEYS[3], generation)
  end
  return {status, meta, channel, beat, facts, head[5], refused, head[7], head[8], head[9], generation, head[4]}
end
return {status, meta, channel, beat, facts, head[5], refused, head[7], head[8], head[9]}
"""


CHECK = Script(_CHECK)



# --- Heartbeats: a ``subscriber|channel|time|bytes|duration`` text, which _CHECK reads and refreshes ---------------


def _beat_text(beat: Beat) -> str:
    duration = "" if beat.duration is None else str(beat.duration)
    subscriber = "" if beat.subscriber_id is None else beat.subscriber_id  # None: an anonymous viewer
    return f"{subscriber}|{beat.channel_id}|{beat.at!r}|{beat.bytes}|{duration}"


def _beat(raw) -> Beat | None:
    if isinstance(raw, bytes):
        raw = raw.decode()
    if not isinstance(raw, str):
        return None
    try:
        subscriber_id, channel_id, at, bytes_, duration = raw.split("|")
        return Beat(int(subscriber_id) if subscriber_id else None, int(channel_id), float(at), int(bytes_),
                    int(duration) if duration else None)
    except ValueError:  # not a heartbeat (a foreign or older value): as if there were none
        return None


def set_heartbeat(key: str, beat: Beat, timeout: int) -> None:
    store().set_text(key, _beat_text(beat), timeout)


def get_heartbeats(beat_keys: list[str]) -> dict[str, Beat]:
    found = {k: _beat(v) for k, v in store().get_texts(beat_keys).items()}
    return {k: beat for k, beat in found.items() if beat is not None}


PUSH_AND_SET = Script("""
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
return 1
""", binary=True)


def push_and_set_heartbeat(list_key: str, item, key: str, beat: Beat, timeout: int, fallback=None) -> None:
    """Append ``item`` to a list of the shared store and store a heartbeat, in one round trip (Redis only).

    With ``fallback`` and the push watch on (the request thread of a sync worker: :func:`_watch_epoch`), the two
    are sent without waiting, like a held check's heartbeat (:func:`_answer_held`): the answer is read after the
    response went out (:func:`settle`). When Redis answers an error (a script lost in a restart, a dropped
    connection), they are sent again, waiting; when that fails too, ``fallback()`` does what a caller does when
    this raises (``monitoring.sessions`` writes the session start to the database)."""
    cache = store()
    if fallback is None or _watch_epoch(cache) is None:
        cache.push_and_set_text(list_key, item, key, _beat_text(beat), timeout)
        return
    call = ([list_key, key], (cache.dumps(item), _beat_text(beat), str(timeout)))

    def then(answer) -> None:
        if not isinstance(answer, BaseException):
            return
        try:
            try:
                cache.run(PUSH_AND_SET, *call)
            except CacheErrors:
                log.warning("could not buffer a session start after the answer; writing it directly", exc_info=True)
                fallback()
        except Exception:  # the response is out: log it, like a failed buffered write
            log.exception("could not record a session start after the answer")

    cache.run_deferred(PUSH_AND_SET, *call, then)


# --- Entries: a pickled ``(stamps, facts)`` in Django's cache; on Redis a hash _CHECK reads (see above) -------------


def _run_check(cache, key: str, name: str, probe: BeatProbe | None, full: bool, viewer: Viewer = NOWHERE,
               device: str | None = None, generation: bool = False, held: _ProcessEntry | None = None) -> list:
    """Run the ``_CHECK`` script: ``[status, meta, channel, heartbeat, facts, expired, location refused (0/1),
    device known, device rules, archive]`` and, with ``generation``, the generation key's value (created when
    missing) and the entry's ``valid until`` (``u``) as the eleventh and twelfth items. ``held``: this process's
    entry for the check; while the generation key still holds its value the answer is only ``[4]`` (the heartbeat
    refreshed) or ``[3, heartbeat]``."""
    return cache.run(CHECK, *_check_call(key, name, probe, full, viewer, device, generation, held))


def _check_call(key: str, name: str, probe: BeatProbe | None, full: bool, viewer: Viewer, device: str | None,
                generation: bool, held: _ProcessEntry | None) -> tuple[list[str], tuple[str, ...]]:
    """The keys and arguments of a ``_CHECK`` run (see :func:`_run_check`)."""
    if probe is not None:
        args = (name, "1" if probe.update else "0", repr(probe.at), str(probe.bytes or 0),
                "" if probe.duration is None else str(probe.duration), str(probe.timeout), "1" if full else "0",
                viewer.address, viewer.country)
        beat_key = probe.key
    else:
        args, beat_key = (name, "0", "0", "0", "", "1", "1" if full else "0", viewer.address, viewer.country), \
            key + ":none"
    dvr = "1" if probe is not None and probe.dvr else "0"
    if generation:
        tier = ("",)
        if held is not None:
            owner = _owner(held.verdict, dvr == "1")
            tier = (held.generation, *((str(owner[0]), str(owner[1])) if owner else ("", "")))
        return ([key, beat_key, keys.generation_key()],
                (*args, repr(time.time()), device or "", dvr, secrets.token_hex(8), *tier))
    return [key, beat_key], (*args, repr(time.time()), device or "", dvr)


def _owner(found: Verdict, dvr: bool) -> tuple[int, int] | None:
    """``(subscriber, channel)`` a heartbeat must name to be refreshed under this verdict, or None when the verdict
    refuses the stream (``refreshable``'s rule for a held verdict)."""
    if (found.subscriber_id is not None and not found.disabled and found.channel_id is not None
            and not found.location_refused and (found.archive or not dvr)):
        return found.subscriber_id, found.channel_id
    return None


def _device_rules(raw) -> DeviceRules | None:
    """The ``dv`` field of an entry (``count|limit|policy|registration``) as :class:`DeviceRules`."""
    if raw is None:
        return None
    count, limit, policy, registration = (raw.decode() if isinstance(raw, bytes) else raw).split("|")
    return DeviceRules(int(count), int(limit) if limit else None, policy, registration == "1")


def read_facts(cache, key: str) -> tuple[bool, tuple | None]:
    """``(valid, facts)``: whether the entry exists with all its stamps current, and its facts if so (on Redis
    in one round trip)."""
    if cache.supports_scripts:
        status, _, _, _, facts = _run_check(cache, key, "", None, True)[:5]
        return (True, cache.loads(facts)) if status else (False, None)
    entry = cache.get_many([key]).get(key)
    if entry is None or not _valid(cache, entry[0]) or not current(entry[1]):
        return False, None
    return True, entry[1]


def check_entry(cache, key: str, name: str, probe: BeatProbe | None, viewer: Viewer = NOWHERE,
                device: str | None = None, token: str | None = None,
                fallback=None) -> tuple[Verdict | None, Beat | None]:
    """The facts for one stream name watched by ``viewer`` (None: recompute) and the heartbeat, refreshed as
    ``next_beat`` says. On Redis in one round trip reading only what that needs (no unpickling); with ``token``,
    a valid answer also fills the process tier (see below) in that round trip, and an entry of the tier that the
    push watch vouches for answers without waiting for Redis (``fallback``: see :func:`check`)."""
    if not cache.supports_scripts:
        return _check_file_entry(cache, key, name, probe, viewer, device)
    tier_key = (token, name, viewer, device)
    held = _held(cache, tier_key) if token is not None else None
    epoch = _watch_epoch(cache) if token is not None else None
    if held is not None and epoch is not None and held.epoch == epoch:
        answered = _answer_held(cache, key, name, probe, viewer, held, fallback)
        if answered is not None:
            return answered, None
    # A false in the script's answer may come back as None; pad in case trailing items are left out.
    status, meta, channel, beat, _, expired, refused, known, rules, archive, generation, until = (
        *_run_check(cache, key, name, probe, False, viewer, device, token is not None, held),
        None, None, None, None, None, None, None, None, None, None, None)[:12]
    if status in (3, 4):  # this process's entry still holds (3: with the heartbeat, 4: refreshed)
        return _still_held(cache, tier_key, held, epoch, probe, _beat(meta) if status == 3 else None, status == 4)
    beat = _beat(beat) if probe is not None and status != 2 else None  # 2: refreshed, not needed
    if not status:
        if held is not None:
            cache.process_tier.pop(tier_key, None)
        return None, beat
    found = _answered(meta, channel, beat, status == 2, expired, refused, device is not None and known is not None,
                      rules, archive)
    if token is not None and generation is not None:
        _remember(cache, tier_key, generation.decode(), found,
                  UNKNOWN_TOKEN_TTL if meta is None else _ttl(), float(until) if until else None, epoch)
    return found, beat


def _watch_epoch(cache) -> int | None:
    """The push watch's number (``InvalidationWatch.epoch``), or None when this check cannot rely on it. The watch,
    its connection and the deferred answers belong to the process's request thread (a sync worker's main thread); in
    any other thread a check waits for Redis as before."""
    if getattr(cache, "watch", None) is None or threading.current_thread() is not threading.main_thread():
        return None
    return cache.watch.epoch()


def _still_held(cache, tier_key: tuple, held: _ProcessEntry, epoch: int | None, probe: BeatProbe | None,
                beat: Beat | None, written: bool) -> tuple[Verdict, Beat | None]:
    """The answer of this process's entry, which the script found still valid (the generation key unchanged)."""
    if epoch is not None and held.epoch != epoch:  # read under the watch now: the next check need not wait
        cache.process_tier[tier_key] = held._replace(epoch=epoch)
    if probe is None:
        return held.verdict, None
    return held.verdict._replace(beat=beat, written=written), beat


def _check_file_entry(cache, key: str, name: str, probe: BeatProbe | None, viewer: Viewer,
                      device: str | None) -> tuple[Verdict | None, Beat | None]:
    """:func:`check_entry` on Django's cache (the file-based one): the entry, its stamps and the heartbeat read."""
    found = cache.get_many([key])
    beat = get_heartbeats([probe.key]).get(probe.key) if probe else None
    entry = found.get(key)
    if entry is None or not _valid(cache, entry[0]) or not current(entry[1]):
        return None, beat
    refreshed = next_beat(entry[1], beat, probe, viewer)
    if refreshed is not None:
        cache.set_text(probe.key, _beat_text(refreshed), probe.timeout)
    return verdict(entry[1], name, beat, refreshed is not None, viewer, device), beat


def _answer_held(cache, key: str, name: str, probe: BeatProbe | None, viewer: Viewer, held: _ProcessEntry,
                 fallback) -> Verdict | None:
    """The verdict of this process's entry, which the push watch says is still valid, without waiting for Redis;
    None when it cannot be given so (a heartbeat to refresh and no ``fallback``, or Redis unreachable).

    Only an allowed ``update_session`` has anything to do in Redis: its heartbeat is refreshed by the same
    script as on the waiting path, sent without waiting (``run_deferred``); the answer is read after the response
    went out (``settle``), and when the heartbeat was not refreshed (none cached, or another channel's) the
    ``fallback`` does what the check would have done (``sessions.refresh_session``)."""
    found = held.verdict
    if probe is None or not probe.update or _owner(found, probe.dvr) is None:
        return found  # nothing to refresh: a new_session does not read the old heartbeat, a refusal writes none
    if fallback is None:
        return None
    call = _check_call(key, name, probe, False, viewer, None, True, held)

    def then(answer) -> None:
        _settle_heartbeat(cache, call, answer, found, fallback, probe.dvr)

    try:
        cache.run_deferred(CHECK, *call, then)
    except CacheErrors:
        return None
    return found._replace(written=True)


def _settle_heartbeat(cache, call, answer, found: Verdict, fallback, dvr: bool = False) -> None:
    """The deferred script's ``answer`` read: nothing more to do when it refreshed the heartbeat (4, or 2 when the
    generation moved meanwhile); else the session is written as the waiting check writes it —
    ``fallback(verdict, heartbeat)`` — with the held verdict when the generation still held (3), or with the facts
    the script read now when another change moved the generation but this token's entry still holds (1), and only
    when they allow the stream. An entry found stale (0: something this token depends on changed since the check
    read it) writes nothing with stale facts: the session's next check decides afresh. An error answer (a script
    lost in a Redis restart, a dropped connection) runs the script again, waiting."""
    try:
        if isinstance(answer, BaseException):
            answer = cache.run(CHECK, *call)
        status = answer[0]
        if status == 3:
            fallback(found, _beat(answer[1]))
        elif status == 1:
            meta, channel, beat, _, expired, refused, _, rules, archive = (*answer[1:10], *(None,) * 9)[:9]
            fresh = _answered(meta, channel, _beat(beat), False, expired, refused, False, rules, archive)
            if _owner(fresh, dvr) is not None:
                fallback(fresh, fresh.beat)
        elif status != 2 and status != 4:
            log.info("a heartbeat sent after the answer met a changed entry; the session's next check decides")
    except Exception:  # the response is out: log it, like a failed buffered write
        log.exception("could not refresh a heartbeat after the answer")


def _answered(meta, channel, beat: Beat | None, written: bool, expired, refused, known: bool, rules,
              archive) -> Verdict:
    """The :class:`Verdict` of a valid answer of the ``_CHECK`` script (``meta`` None: an unknown token)."""
    if meta is None:
        return Verdict(None, None, False, None, None, beat, False)
    subscriber_id, portal_id, disabled, max_sessions, server_id = meta.split(b"|")
    return Verdict(int(subscriber_id), int(portal_id), disabled == b"1", int(max_sessions) if max_sessions else None,
                   int(channel) if channel else None, beat, written, int(server_id) if server_id else None,
                   bool(expired), refused == 1, known, _device_rules(rules), channel is not None and archive is not None)


def write_entry(cache, key: str, stamps: dict[str, str], values: tuple | None, timeout: int) -> None:
    if not cache.supports_scripts:
        cache.set(key, (stamps, values), timeout)
        return
    stamp_keys = [cache.make_key(k) for k in stamps]
    fields = {"f": cache.dumps(values), "k": "\n".join(stamp_keys)}
    fields.update({f"s:{k}": cache.dumps(v) for k, v in zip(stamp_keys, stamps.values())})
    if values is not None:
        subscriber_id, portal_id, disabled, max_sessions, channels, server_id = values[:6]
        fields["m"] = f"{subscriber_id}|{portal_id}|{int(bool(disabled))}|{max_sessions or ''}|{server_id or ''}"
        fields.update({f"c:{name}": str(channel_id) for name, channel_id in channels.items()})
        if values[VALID_UNTIL] is not None:
            fields["u"] = repr(values[VALID_UNTIL])
        fields.update({f"x:{name}": "1" for name in values[EXPIRED]})
        fields.update({f"r:{name}": text for name, text in values[RESTRICTED].items()})
        rules = values[DEVICES].rules
        fields["dv"] = (f"{rules.count}|{'' if rules.limit is None else rules.limit}|{rules.policy}|"
                        f"{int(rules.registration)}")
        fields.update({f"d:{uid}": "1" for uid in values[DEVICES].uids})
        fields.update({f"a:{name}": "1" for name in values[ARCHIVE]})
    cache.replace_hash(key, fields, timeout)


@dataclass(frozen=True, slots=True)
class PlaybackFacts:
    """What a playback decision needs to know about a token's subscriber."""

    subscriber_id: int
    portal_id: int
    disabled: bool
    max_sessions: int | None
    channels: dict[str, int]  # name → ID of every channel the subscriber may watch (empty when disabled)
    server_id: int | None  # the streaming server of the portal: only its key may ask about this token
    valid_until: float | None = None  # Unix time when a subscription starts or ends (the facts change then)
    expired: dict[str, int] | None = None  # name → ID of the channels only an expired subscription granted
    restrictions: dict[str, str] = field(default_factory=dict)  # name → location restriction text (restricted only)
    devices: DeviceFacts | None = None  # the subscriber's known devices and the rules for a new one
    archive: frozenset[str] = frozenset()  # names of the watchable channels that keep an archive (players.md §1)

    def allows_location(self, name: str, ip: str | None, country: str | None) -> bool:
        """Whether channel ``name``'s location restrictions (if any) let a viewer at ``ip`` in ``country`` play."""
        return restrictions.allows(self.restrictions.get(name), restrictions.viewer_key(ip, country))


class _SubscriberRef(NamedTuple):
    """The attributes of a subscriber the access rule reads."""

    id: int
    portal_id: int
    disabled: bool


def entry_key(token: str) -> str:
    # "e2": the facts gained the portal's streaming server; "e4": the subscription periods (valid until, expired
    # channels) and the channels' location restrictions; "e5": the devices (known uids, the rules for a new one);
    # "e6": the channels that keep an archive. Entries of an older shape are never read.
    return f"pb:e6:{keys.token_digest(token)}"


def channel_key(portal_id: int, name: str) -> str:
    return f"pb:c:{portal_id}:{name}"


def valid_stream_name(name) -> bool:
    """Whether a stream name can be a channel's technical name at all (no query needed otherwise)."""
    return isinstance(name, str) and _NAME.match(name) is not None


def _ttl() -> int:
    return getattr(settings, "STREAMER_CACHE_TTL", 3600)


def _stamps(cache, stamp_keys: list[str]) -> dict[str, str]:
    """The current stamps under these keys, creating the missing ones."""
    found = cache.get_many(stamp_keys)
    for key in stamp_keys:
        if key not in found:
            fresh = secrets.token_hex(8)
            if cache.add(key, fresh, None):
                found[key] = fresh
            else:  # another process created it meanwhile (or it was evicted at once: never matches then)
                found[key] = cache.get_many([key]).get(key) or secrets.token_hex(8)
    return found


def _valid(cache, stamps: dict[str, str]) -> bool:
    return cache.get_many(list(stamps)) == stamps


def _channel_facts(subscriber, now: float, on_packages=None) -> tuple[dict[str, int], float | None, dict[str, int],
                                                                    dict[str, str], frozenset[str]]:
    """``(channels, valid until, expired channels, restricted channels, archive channels)`` of a subscriber at
    ``now`` (Unix time).
    ``on_packages`` is given the IDs of the packages they come from before their channels are read (to read their
    stamps)."""
    instant = dt.datetime.fromtimestamp(now, dt.UTC)
    next_change, any_ended = access.period_facts(subscriber.id, instant)
    packages = access.granting_package_ids(subscriber, instant)
    ended = access.expired_package_ids(subscriber.id, instant) if any_ended else []
    if on_packages is not None:
        on_packages(dict.fromkeys([*packages, *ended]))
    channels, restricted, archive = (access.watchable_channel_facts(subscriber, instant) if packages
                                     else ({}, {}, frozenset()))
    expired = {}
    if ended:
        expired = {name: pk for name, pk in access.package_channel_names(subscriber.portal_id, ended).items()
                   if name not in channels}
    return channels, (next_change.timestamp() if next_change else None), expired, restricted, archive


def _compute(cache, token: str) -> tuple[tuple, tuple | None]:
    """Read the facts from the database (stamps first); return ``(stamps, facts tuple or None)``."""
    now = time.time()
    stamps = _stamps(cache, [keys.token_stamp_key(token)])
    row = access.subscriber_for_token(token)
    if row is None:
        return stamps, None
    subscriber = _SubscriberRef(*row)
    stamps.update(_stamps(cache, [keys.subscriber_stamp_key(subscriber.id), keys.portal_stamp_key(subscriber.portal_id),
                                  keys.devices_stamp_key(subscriber.id)]))
    limit, server_id = access.portal_facts(subscriber.portal_id)
    channels, valid_until, expired, restricted, archive = {}, None, {}, {}, frozenset()
    if not subscriber.disabled:
        def read_stamps(package_ids):
            # A channel's restrictions (and its locations) are protected by the stamps of its packages.
            stamps.update(_stamps(cache, [keys.package_stamp_key(p) for p in package_ids]))

        channels, valid_until, expired, restricted, archive = _channel_facts(subscriber, now, read_stamps)
    return stamps, (subscriber.id, subscriber.portal_id, subscriber.disabled, limit, channels, server_id,
                    valid_until, expired, restricted, _device_facts(subscriber.id), archive)


def _device_facts(subscriber_id: int) -> DeviceFacts:
    uids, limit, policy, registration = access.device_facts(subscriber_id)
    return DeviceFacts(frozenset(uids), DeviceRules(len(uids), limit, policy, registration))


def _facts(values: tuple | None) -> PlaybackFacts | None:
    return None if values is None else PlaybackFacts(*values)


def _recompute(cache, key: str, token: str) -> tuple | None:
    """Read the token's facts from the database and cache them; the facts tuple (None: an unknown token)."""
    stamps, values = _compute(cache, token)
    write_entry(cache, key, stamps, values, _ttl() if values is not None else UNKNOWN_TOKEN_TTL)
    return values


def lookup(token: str) -> PlaybackFacts | None:
    """All the facts for a playback token (every watchable channel), or None for an unknown token.

    A warm lookup is one round trip on Redis (a Lua script validating the stamps), a few file reads on the
    file-based cache, and no database query. A cold one costs at most four indexed queries. Raises the
    database's errors; tolerates a failing cache by reading the database.
    """
    key = entry_key(token)
    try:
        cache = store()
        valid, values = read_facts(cache, key)
        if not valid:
            values = _recompute(cache, key, token)
    except CacheErrors as exc:
        log.warning("playback cache unavailable (%s); deciding from the database", exc)
        values = _uncached(token)
    return _facts(values)


# --- The process tier ----------------------------------------------------------------------------------------
# On Redis, each process also keeps the verdicts it read from the shared tier, by token, stream name, viewer and
# device, with the value the generation key (``access_events.generation_key``) had when they were read: the script
# that validated the shared entry's stamps read it in the same atomic step. Every invalidation gives that key a
# new random value in the same Redis transaction as it deletes the stamps, so a process entry is exactly as valid
# as the shared entry it came from while the key still holds its value. The check sends the entry's value with
# the usual script: when the key still holds it, the script only refreshes the heartbeat (one GET instead of the
# entry's fields and stamps); when not, the same script goes on to check the shared entry as without a process
# entry — still one round trip, however often things change. A process entry also ends at the shared entry's
# ``valid until`` (a subscription period starts or ends) and its lifetime. Any change anywhere drops every process
# entry (each is refilled by its next check), which keeps the rule simple: nothing but one compared value decides.
# With the push watch (``shared_store.InvalidationWatch``), an entry read after the watch's last message needs no
# round trip at all: the watch's number replaces the compared value, and an allowed update_session's heartbeat is
# sent without waiting for its answer (``_answer_held``; README, "Without waiting").

PROCESS_TIER_SIZE = 50_000  # entries per process; the tier starts again empty when full


class _ProcessEntry(NamedTuple):
    generation: str
    verdict: Verdict  # without a heartbeat
    expires: float  # monotonic time: the shared entry's lifetime
    valid_until: float | None  # Unix time: the shared entry's ``valid until``
    epoch: int | None = None  # the push watch's number before the entry was read (None: not watching)


def _remember(cache, key: tuple, generation: str, found: Verdict, ttl: int, valid_until: float | None,
              epoch: int | None = None) -> None:
    tier = cache.process_tier
    if len(tier) >= PROCESS_TIER_SIZE:
        tier.clear()
    tier[key] = _ProcessEntry(generation, found._replace(beat=None, written=False), time.monotonic() + ttl,
                              valid_until, epoch)


def _held(cache, key: tuple) -> _ProcessEntry | None:
    """This process's entry for a check, unless its time is over (dropped then)."""
    entry = cache.process_tier.get(key)
    if entry is None:
        return None
    if entry.expires < time.monotonic() or (entry.valid_until is not None and time.time() >= entry.valid_until):
        cache.process_tier.pop(key, None)  # another thread may have dropped it
        return None
    return entry


def check(token: str, name: str, *, probe: BeatProbe | None = None, viewer: Viewer = NOWHERE,
          device: str | None = None, fallback=None) -> Verdict:
    """:func:`lookup` for the auth check: the token's facts as they concern stream ``name`` watched by ``viewer``
    (whether a location restriction refuses it), and (with ``probe``) the session's heartbeat, read and
    refreshed (unless refused) in the same round trip.

    A warm check on Redis reads only the fields this needs (the meta facts, the one channel, the stamps), so
    its cost does not depend on how many channels the subscriber may watch (nor devices: ``device``, a device
    uid, is looked up as one field). Raises the database's errors (the caller answers 503).

    ``fallback(verdict, heartbeat)``: given, an allowed ``update_session`` answered by this process's entry may
    refresh its heartbeat after the answer (:func:`settle`), and calls it only when that heartbeat could not be
    refreshed (what the caller does for a verdict with ``written`` False); the verdict then says ``written``.
    """
    try:
        cache = store()
        key = entry_key(token)
        found, beat = check_entry(cache, key, name, probe, viewer, device,
                                  token if cache.supports_scripts else None, fallback)
        if found is not None:
            return found
        return verdict(_recompute(cache, key, token), name, beat, False, viewer, device)
    except CacheErrors as exc:
        log.warning("playback cache unavailable (%s); deciding from the database", exc)
        return verdict(_uncached(token), name, None, False, viewer, device)


def deferred() -> bool:
    """Whether a heartbeat was sent without waiting and its answer is still to be read (:func:`settle`)."""
    return bool(getattr(store(), "_deferred", None))


def settle() -> None:
    """Read the answers of heartbeats sent without waiting that have arrived, and run the fallback of any not
    refreshed: called once the answer to the streaming server is out (the auth view's response, when closed).
    An answer still on its way is read when the process's next request starts (:func:`settle_pending`), or
    before its next script (never waited for here: the wait, not the work, was what the check cost beyond a bare
    view)."""
    found = store()
    if getattr(found, "_deferred", None):
        found.settle(wait=False)


def settle_pending(**kwargs) -> None:
    """Read every deferred heartbeat answer, waiting for any still on its way (it has had a whole response's time):
    at the start of each request, so a fallback never runs inside another request's view or transaction, and when
    the process exits, so none is left unread."""
    found = shared_store._store
    if threading.current_thread() is not threading.main_thread():  # only the main thread defers (check_entry)
        return
    if found is not None and getattr(found, "_deferred", None):
        try:
            found.settle(wait=True)
        except Exception:  # noqa: BLE001 - the answers were for requests already answered
            log.exception("could not read the answers of heartbeats sent after their checks")
        for connection in connections.all(initialized_only=True):  # a failed write must not reach this request
            if connection.errors_occurred:
                connection.close_if_unusable_or_obsolete()


request_started.connect(settle_pending, dispatch_uid="playback_cache.settle_pending")
atexit.register(settle_pending)


def channel_id(portal_id: int, name: str) -> int | None:
    """The ID of the portal's channel with this stream name (cached like the facts), or None."""
    if not valid_stream_name(name):
        return None
    key = channel_key(portal_id, name)
    try:
        cache = store()
        entry = cache.get_many([key]).get(key)
        if entry is not None and _valid(cache, entry[0]):
            return entry[1] or None
        stamps = _stamps(cache, [keys.channels_stamp_key(portal_id)])
        found = access.channel_id_by_name(portal_id, name)
        cache.set(key, (stamps, found or 0), _ttl())
        return found
    except CacheErrors as exc:
        log.warning("playback cache unavailable (%s); reading the channel from the database", exc)
        return access.channel_id_by_name(portal_id, name)


def _uncached(token: str) -> tuple | None:
    row = access.subscriber_for_token(token)
    if row is None:
        return None
    subscriber = _SubscriberRef(*row)
    channels, valid_until, expired, restricted, archive = {}, None, {}, {}, frozenset()
    if not subscriber.disabled:
        channels, valid_until, expired, restricted, archive = _channel_facts(subscriber, time.time())
    limit, server_id = access.portal_facts(subscriber.portal_id)
    return (subscriber.id, subscriber.portal_id, subscriber.disabled, limit, channels, server_id, valid_until,
            expired, restricted, _device_facts(subscriber.id), archive)


# --- Anonymous viewing (lifecycle.md §3) ---------------------------------------------------------------------------
# A request without a token names a stream on the streaming server that asks. Channel names are unique per
# server (``content.services`` refuses a name another portal of the server uses), so the name finds at most one
# portal: the viewer may watch it iff that portal allows anonymous viewing and the channel is in one of its free
# packages. One entry per server holds every such channel as ``name → (portal, channel)``, with the stamps of
# the anonymous portals of all servers (``anonymous_stamp_key``: deleted with every portal's stamp, so a setting,
# a free package or a portal's server changed) and of each free package (its channels). On Redis it is a hash of
# the facts entries' shape (``c:<name>`` holds ``channel:portal``, ``r:<name>`` a restricted channel's locations,
# ``a:<name>`` marks a channel that keeps an archive), read by the same script in one round trip, which also decides the location restrictions for the viewer.


def anonymous_key(server_id: int) -> str:
    # "an2": the channels gained their location restrictions; "an3": whether they keep an archive. Entries of an
    # older shape are never read.
    return f"pb:an3:{server_id}"


class AnonymousChannel(NamedTuple):
    """A channel an anonymous viewer may watch, as the server's entry holds it."""

    portal_id: int
    channel_id: int
    restriction: str | None = None  # its location restriction text (``content.restrictions``), None: anywhere
    archive: bool = False  # it keeps an archive (``archive_days`` > 0): a ``dvr`` request may play it


def _write_anonymous(cache, key: str, stamps: dict[str, str], channels: dict[str, AnonymousChannel]) -> None:
    if not cache.supports_scripts:
        cache.set(key, (stamps, channels), _ttl())
        return
    stamp_keys = [cache.make_key(k) for k in stamps]
    fields = {"k": "\n".join(stamp_keys), "m": "anonymous"}
    fields.update({f"s:{k}": cache.dumps(v) for k, v in zip(stamp_keys, stamps.values())})
    fields.update({f"c:{name}": f"{found.channel_id}:{found.portal_id}" for name, found in channels.items()})
    fields.update({f"r:{name}": found.restriction for name, found in channels.items() if found.restriction})
    fields.update({f"a:{name}": "1" for name, found in channels.items() if found.archive})
    cache.replace_hash(key, fields, _ttl())


def _read_anonymous(cache, key: str, name: str, probe: BeatProbe | None, viewer: Viewer
                    ) -> tuple[bool, tuple[int, int] | None, bool, bool, Beat | None]:
    """``(valid, (portal, channel) or None, location refused, keeps an archive, the session's heartbeat)`` from
    the server's entry and the probe's heartbeat key (read only: the caller refreshes it); on Redis in one round
    trip."""
    if cache.supports_scripts:
        if probe is not None:
            probe = BeatProbe(probe.key, probe.name, False, probe.at, probe.bytes, probe.duration, probe.timeout,
                              probe.dvr)
        status, _, channel, beat, _, _, refused, _, _, archive = (
            *_run_check(cache, key, name, probe, False, viewer), None, None, None, None, None, None)[:10]
        beat = _beat(beat) if probe is not None else None
        if not status:
            return False, None, False, False, beat
        if not channel:
            return True, None, False, False, beat
        channel_id, portal_id = channel.split(b":")
        return True, (int(portal_id), int(channel_id)), refused == 1, archive is not None, beat
    entry = cache.get_many([key]).get(key)
    beat = get_heartbeats([probe.key]).get(probe.key) if probe is not None else None
    if entry is None or not _valid(cache, entry[0]):
        return False, None, False, False, beat
    found = entry[1].get(name)
    if found is None:
        return True, None, False, False, beat
    return True, found[:2], not restrictions.allows(found.restriction, viewer), found.archive, beat


def _free_channels(portal_ids: list[int]) -> dict[str, AnonymousChannel]:
    """The free channels of these portals by name, with their location restrictions (two queries at most)."""
    channels = access.free_channels_by_name(portal_ids)
    texts = access.channel_restrictions(found[1] for found in channels.values()) if channels else {}
    return {name: AnonymousChannel(portal, channel, texts.get(channel), archive)
            for name, (portal, channel, archive) in channels.items()}


def _anonymous_channels_of_server(cache, server_id: int) -> tuple[dict[str, str], dict[str, AnonymousChannel]]:
    """Read from the database (stamps first): ``(stamps, {name: channel})`` (at most four queries). A channel's
    restrictions are protected by its packages' stamps, as in the subscribers' entries."""
    stamps = _stamps(cache, [keys.anonymous_stamp_key()])
    portals = access.anonymous_portal_ids(server_id)
    packages = access.free_package_ids(portals) if portals else []
    stamps.update(_stamps(cache, [keys.package_stamp_key(p) for p in packages]))
    return stamps, (_free_channels(portals) if packages else {})


def anonymous_check(server_id: int, name: str, probe: BeatProbe | None = None, viewer: Viewer = NOWHERE
                    ) -> tuple[tuple[int, int] | None, bool, bool, Beat | None]:
    """``(portal id, channel id)`` of the channel named ``name`` that an anonymous viewer may watch through this
    streaming server (or None), whether its location restrictions refuse ``viewer``, whether it keeps an archive,
    and with ``probe`` the session's cached heartbeat. Warm: one round trip on Redis (a few file reads on the file-based cache), no
    query. Raises the database's errors; tolerates a failing cache by reading the database."""
    if not valid_stream_name(name):
        return None, False, False, None
    key = anonymous_key(server_id)
    try:
        cache = store()
        valid, found, refused, archive, beat = _read_anonymous(cache, key, name, probe, viewer)
        if valid:
            return found, refused, archive, beat
        stamps, channels = _anonymous_channels_of_server(cache, server_id)
        _write_anonymous(cache, key, stamps, channels)
    except CacheErrors as exc:
        log.warning("playback cache unavailable (%s); deciding the anonymous request from the database", exc)
        channels, beat = _free_channels(access.anonymous_portal_ids(server_id)), None
    found = channels.get(name)
    if found is None:
        return None, False, False, beat
    return found[:2], not restrictions.allows(found.restriction, viewer), found.archive, beat


def anonymous_channels(portal_id: int) -> dict[str, AnonymousChannel]:
    """``{name: channel}`` of what an anonymous viewer may watch in this portal (empty unless it allows
    anonymous viewing), from the database: for the background re-check of sessions, not the auth check."""
    if not access.anonymous_portal_ids(None, portal_id=portal_id):
        return {}
    return _free_channels([portal_id])
