"""The playback decision (streaming.md §1): token → subscriber → portal → channel by name → access rule → for an
archive (``dvr``) request, whether the channel keeps an archive (players.md §1) → the channel's location
restrictions (the viewer's ``ip`` and ``country``) → the device (lifecycle.md §2) → limit.

The hot path: on a warm cache a decision costs one round trip to Redis (a script validating the token's
cached facts, reading the one channel asked for and refreshing the session's heartbeat) and no database query.
A ``new_session`` is buffered the same way on Redis, or written to the database at once when the portal has
a session limit (counted under a lock) or on the embedded file-based cache.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from urllib.parse import parse_qs

from django.utils import timezone

from content import restrictions
from subscribers import devices, playback_cache
from subscribers.models import Device

from .. import archive, sessions
from .values import (
    COUNTRY_LENGTH,
    DEVICE_ID_LENGTH,
    IP_LENGTH,
    MAX_BYTES,
    MAX_DURATION,
    PROTO_LENGTH,
    SESSION_ID_LENGTH,
    USER_AGENT_LENGTH,
    clean,
    is_clean,
)

UNKNOWN_TOKEN = "unknown_token"
SUBSCRIBER_DISABLED = "subscriber_disabled"
UNKNOWN_STREAM = "unknown_stream"
NOT_IN_PACKAGES = "not_in_packages"
SUBSCRIPTION_EXPIRED = "subscription_expired"
NO_ARCHIVE = "no_archive"
LOCATION_RESTRICTED = "location_restricted"
UNKNOWN_DEVICE = devices.UNKNOWN_DEVICE
TOO_MANY_DEVICES = devices.TOO_MANY_DEVICES
TOO_MANY_SESSIONS = "too_many_sessions"
BAD_KEY = "bad_key"

TITLES = {
    UNKNOWN_TOKEN: "The playback token is unknown.",
    SUBSCRIBER_DISABLED: "The subscriber is disabled.",
    UNKNOWN_STREAM: "There is no channel with this name in the subscriber's portal.",
    NOT_IN_PACKAGES: "The channel is not in any package the subscriber may watch.",
    SUBSCRIPTION_EXPIRED: "The subscription that gave this channel has expired.",
    NO_ARCHIVE: "The channel keeps no archive to play from.",
    LOCATION_RESTRICTED: "The channel may only be watched from certain places, and this viewer is in none of them.",
    UNKNOWN_DEVICE: "This device is not registered, and the portal registers no devices by itself.",
    TOO_MANY_DEVICES: "The subscriber already has as many devices as allowed.",
    TOO_MANY_SESSIONS: "The subscriber already watches on as many devices as the portal allows.",
    BAD_KEY: "Wrong or missing streaming-server key.",
}

MAX_TOKEN_LENGTH = 64  # longer than any playback token: refused without a lookup

# A viewer's address and country as restrictions compare them: parsing the address cost a tenth of a warm check,
# and a viewer asks again every X-AuthDuration from the same address. Viewers are immutable, so shared.
viewer_key = lru_cache(maxsize=16_384)(restrictions.viewer_key)


@dataclass(frozen=True, slots=True)
class Decision:
    """An answer: ``reason`` is None when allowed; ``portal_id`` is the portal the token or channel belongs to
    (None for an unknown token), for the metrics and the logs."""

    reason: str | None
    subscriber_id: int | None = None
    max_sessions: int | None = None
    portal_id: int | None = None

    @property
    def allowed(self) -> bool:
        return self.reason is None


def _int(value: str | None, limit: int = MAX_BYTES) -> int | None:
    """A count from the query string, capped at ``limit`` (None when absent, not a number or negative)."""
    try:
        number = int(value) if value not in (None, "") else None
    except ValueError:
        return None
    return min(number, limit) if number is not None and 0 <= number < 2**63 else None


def device_id_from(query_string: str | None) -> str | None:
    """``device_id`` from the client's original query string, when the app sends one (cleaned)."""
    if not query_string:
        return None
    values = parse_qs(query_string.lstrip("?")).get("device_id")
    return (clean(values[0], DEVICE_ID_LENGTH) or None) if values else None


def device_identity(query: Mapping[str, str]) -> str | None:
    """The device uid of an auth request: its own ``device_id`` parameter, else ``device_id`` inside ``qs``;
    a MAC address in its normal form (lifecycle.md §2). None: no identity (not counted against a limit)."""
    own = clean(query.get("device_id"), DEVICE_ID_LENGTH) or None
    return devices.device_uid(own or device_id_from(query.get("qs")))


def is_dvr(query: Mapping[str, str]) -> bool:
    """Whether the request plays from the archive (Flussonic's ``dvr=true``)."""
    return (query.get("dvr") or "").lower() in ("true", "1", "yes")


def play_request(query: Mapping[str, str], session_id: str, name: str, token: str) -> sessions.PlayRequest:
    dvr = is_dvr(query)
    return sessions.PlayRequest(
        session_id=session_id, name=name, token=token,
        ip=clean(query.get("ip"), IP_LENGTH), proto=clean(query.get("proto"), PROTO_LENGTH),
        country=clean(query.get("country"), COUNTRY_LENGTH),
        user_agent=clean(query.get("user_agent"), USER_AGENT_LENGTH),
        bytes=_int(query.get("bytes")), duration=_int(query.get("duration"), MAX_DURATION),
        dvr=dvr, device_id=device_identity(query),
        archive_at=archive.position(query.get("qs"), query.get("url")) if dvr else None,
    )


def _device_refusal(facts, device: str | None, query: Mapping[str, str]) -> str | None:
    """Why the request's device may not play (lifecycle.md §2), or None. A known device (or none at all) costs
    nothing; an unknown one is decided from the cached rules or, when it may register, by registering it."""
    if device is None or facts.device_known:
        return None
    return devices.admit(facts.subscriber_id, device, Device.Kind.PLAYER, rules=facts.device_rules,
                         ip=query.get("ip"), user_agent=clean(query.get("user_agent"), USER_AGENT_LENGTH))


def _refusal(facts, name: str, device: str | None, query: Mapping[str, str], server_id: int | None,
             dvr: bool = False) -> Decision | None:
    """The refusal the cached facts (and, for an unknown device, its admission) decide, in the order of the
    reasons (all but the session limit), or None when the stream may play. ``dvr``: an archive request, refused
    for a channel without an archive."""
    if facts.subscriber_id is None or (server_id is not None and facts.server_id != server_id):
        return Decision(UNKNOWN_TOKEN)
    if facts.disabled:
        return Decision(SUBSCRIBER_DISABLED, facts.subscriber_id)
    if facts.channel_id is None:
        if facts.expired:  # only an expired subscription granted it (so the channel exists)
            return Decision(SUBSCRIPTION_EXPIRED, facts.subscriber_id)
        if playback_cache.channel_id(facts.portal_id, name) is None:
            return Decision(UNKNOWN_STREAM, facts.subscriber_id)
        return Decision(NOT_IN_PACKAGES, facts.subscriber_id)
    if dvr and not facts.archive:
        return Decision(NO_ARCHIVE, facts.subscriber_id)
    if facts.location_refused:
        return Decision(LOCATION_RESTRICTED, facts.subscriber_id)
    refusal = _device_refusal(facts, device, query)
    return Decision(refusal, facts.subscriber_id) if refusal else None


def decide(query: Mapping[str, str], now: dt.datetime | None = None, *, server_id: int | None = None) -> Decision:
    """Answer one auth request given its query parameters. Database errors propagate (the view says 503).

    Without a token (absent or empty): :func:`decide_anonymous`.

    ``server_id``: the streaming server that asks (found by its key); a token of a portal bound to another
    server is unknown to it. None only where no server is involved (tests of the rule itself).
    A token with a control character or a lone surrogate is no token we issued: refused without a lookup.
    Every value that may be stored is cleaned first (``values.clean``).
    """
    token = query.get("token") or ""
    if not token:
        return decide_anonymous(query, now, server_id=server_id)
    if not is_clean(token, MAX_TOKEN_LENGTH):
        return Decision(UNKNOWN_TOKEN)
    now = now or timezone.now()
    name = query.get("name") or ""
    session_id = clean(query.get("session_id"), SESSION_ID_LENGTH)
    update = query.get("request_type") == "update_session"
    dvr = is_dvr(query)
    probe = (sessions.probe(session_id, name, update, now, _int(query.get("bytes")),
                            _int(query.get("duration"), MAX_DURATION), dvr=dvr)
             if session_id else None)
    device = None if update else device_identity(query)  # a running session's device was admitted at its start

    def refresh_later(verdict, beat) -> None:
        """After the answer: what an allowed check does when the heartbeat could not be refreshed."""
        if _refusal(verdict, name, None, query, server_id, dvr) is None:
            sessions.refresh_session(verdict, verdict.channel_id, play_request(query, session_id, name, token),
                                     beat, now)

    facts = playback_cache.check(token, name, probe=probe, device=device,
                                 viewer=viewer_key(query.get("ip"), query.get("country")),
                                 fallback=refresh_later if update and session_id else None)
    refusal = _refusal(facts, name, device, query, server_id, dvr)
    if refusal is not None:
        return refusal if refusal.reason == UNKNOWN_TOKEN else replace(refusal, portal_id=facts.portal_id)
    channel_id = facts.channel_id
    if session_id and not facts.written:  # else a warm update_session, already recorded by the check
        request = play_request(query, session_id, name, token)
        if update:
            sessions.refresh_session(facts, channel_id, request, facts.beat, now)
        elif not sessions.open_session(facts, channel_id, request, now):
            return Decision(TOO_MANY_SESSIONS, facts.subscriber_id, facts.max_sessions, facts.portal_id)
    return Decision(None, facts.subscriber_id, facts.max_sessions, facts.portal_id)


@dataclass(frozen=True, slots=True)
class AnonymousFacts:
    """What the session functions read of a decision's facts, for an anonymous viewer: no subscriber, no limit."""

    portal_id: int
    subscriber_id: None = None
    max_sessions: None = None


def decide_anonymous(query: Mapping[str, str], now: dt.datetime | None = None, *,
                     server_id: int | None = None) -> Decision:
    """A request without a token (lifecycle.md §3): allowed for a channel of a free package of the portal that
    has this stream name on the asking streaming server, when that portal allows anonymous viewing
    (``playback_cache.anonymous_check``); an archive (``dvr``) request for such a channel without an archive is
    refused (``no_archive``), and one with location restrictions outside them (``location_restricted``); anything
    else is ``unknown_token``. A refusal records nothing.

    The play session is recorded without a subscriber; the session limit does not apply (it is per subscriber).
    """
    if server_id is None:
        return Decision(UNKNOWN_TOKEN)
    now = now or timezone.now()
    name = query.get("name") or ""
    session_id = clean(query.get("session_id"), SESSION_ID_LENGTH)
    probe = sessions.probe(session_id, name, False, now, None, None) if session_id else None
    found, location_refused, archive, beat = playback_cache.anonymous_check(
        server_id, name, probe, viewer_key(query.get("ip"), query.get("country")))
    if found is None:
        return Decision(UNKNOWN_TOKEN)
    portal_id, channel_id = found
    if is_dvr(query) and not archive:
        return Decision(NO_ARCHIVE, portal_id=portal_id)
    if location_refused:
        return Decision(LOCATION_RESTRICTED, portal_id=portal_id)
    if session_id:
        facts = AnonymousFacts(portal_id)
        request = play_request(query, session_id, name, "")
        if query.get("request_type") == "update_session":
            sessions.refresh_session(facts, channel_id, request, beat, now)
        else:
            sessions.open_session(facts, channel_id, request, now)
    return Decision(None, portal_id=portal_id)
