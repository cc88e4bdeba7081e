"""The Xtream Codes API (players.md §3) as plain Django views: players ask it often (``get_live_streams`` of
hundreds of channels), and DRF's request and renderer machinery would cost more than the answer (performance.md).

Every request names the portal (``Host``, or ``?portalId=`` on a shared host; 404 unless its ``xtreamApi`` is on)
and carries the subscriber's login and player password (``credentials``). What the subscriber may watch comes
from its playback facts (``subscribers.playback_cache``), so a block, an expiry, an unsubscription or a token reset
shows on the next request; a login is kept per process only while the stamps of the subscriber's token and portal
hold (``credentials.log_in``), so a password reset, a login change or a block does too.

Answers: ``player_api.php`` with wrong or missing credentials → 200 ``{"user_info": {"auth": 0}}`` (what players
expect); ``get.php`` and ``xmltv.php`` → 401; ``live/`` and ``timeshift/`` → 403, never a redirect. 20 wrong
passwords from one address within a minute → 429 for that address. Other errors are the Management API's JSON
body (``message``, ``errors``).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from typing import NamedTuple
from urllib.parse import quote, urlencode

from django.conf import settings
from django.http import HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.http.request import split_domain_port
from django.utils import timezone
from django.views.decorators.http import require_safe

from catena_site.api.errors import error_body
from catena_site.errors import Forbidden, Invalid, NotFound, RateLimited, ServiceError, Unauthorized
from catena_site.http import client_ip
from catena_site.ids import MAX_ID, InvalidId, decode_id
from content.epg.selectors import GUIDE_FIELDS
from content.models import Channel
from monitoring.models import PlaySession
from portals.models import Portal
from subscribers import playback_cache
from subscribers.access import in_force_filter
from subscribers.client_api import playlists, selectors
from subscribers.client_api.views import archive_url, playlist_entries, stream_base, stream_url
from subscribers.models import Subscription

from . import catalog
from .credentials import NO_API, Player, log_in

AUTH_FAILED = {"user_info": {"auth": 0}}
OUTPUTS = {"m3u8": "m3u8", "ts": "ts", "hls": "m3u8", "mpegts": "ts"}  # get.php's ``output`` → the URLs' extension
EXTENSIONS = ("m3u8", "ts")
MAX_SHIFT_MINUTES = 24 * 60  # a timeshift plays at most a day from its start
MAX_EPG_LIMIT = 1000
_STREAM_ID = re.compile(r"[0-9]{1,19}")
_DATETIME = "%Y-%m-%d %H:%M:%S"


# --- Answers ---------------------------------------------------------------------------------------------------


def _json(body, status: int = 200) -> HttpResponse:
    """A JSON answer: ``body`` serialized, or as is when it is already (bytes: ``catalog.live_streams_json``)."""
    content = body if isinstance(body, bytes) else catalog.dumps(body)
    response = HttpResponse(content, status=status, content_type="application/json")
    response["Cache-Control"] = "private, no-store"  # answers name the subscriber (and carry its password)
    return response


def xtream_view(view: Callable) -> Callable:
    """GET/HEAD only; a refusal (``ServiceError``) becomes its status with the documented JSON error body."""

    @functools.wraps(view)
    def answer(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except ServiceError as exc:
            response = _json(error_body(exc.message, exc.errors or None), exc.status)
            if isinstance(exc, RateLimited):
                response["Retry-After"] = str(exc.retry_after)
            response._has_been_logged = True  # an ordinary answer for players (a wrong password, a refused channel)
            return response

    return require_safe(answer)


# --- Who is asking -----------------------------------------------------------------------------------------------


def portal_filter(request) -> dict:
    """How the request names its portal: ``?portalId=``, else the Host's domain (a filter of ``Portal``); 404 for a
    ``portalId`` that is no ID."""
    portal_id = request.GET.get("portalId")
    if not portal_id:
        return {"domain": request.get_host().split(":")[0].lower()}
    try:
        return {"id": decode_id(portal_id)}
    except InvalidId:
        raise NotFound(NO_API) from None


def _login(request, username: str | None, password: str | None) -> tuple[Portal, Player | None]:
    return log_in(portal_filter(request), username, password, client_ip(request))


def _facts(player: Player) -> playback_cache.PlaybackFacts:
    """The player's playback facts (the access rule, cached); 403 for a blocked subscriber."""
    facts = playback_cache.lookup(player.playback_token)
    if facts is None or facts.disabled:
        raise Forbidden("This subscriber is blocked.")
    return facts


def stream_id_of(text: str | None) -> int:
    """A ``stream_id``: the integer behind a channel's ID; anything else is no stream (404)."""
    if not text or not _STREAM_ID.fullmatch(text) or int(text) > MAX_ID:
        raise NotFound("stream_id: no such stream.")
    return int(text)


class _Stream(NamedTuple):
    """What the stream URLs read of a channel (``client_api.views.stream_url``)."""

    name: str


def watchable_name(portal: Portal, facts: playback_cache.PlaybackFacts, channel_id: int) -> str:
    """The stream name of a channel the subscriber may watch now; 403 for one of the portal's other channels
    (expired or not in the subscriber's packages), 404 for no channel of the portal."""
    for name, pk in facts.channels.items():
        if pk == channel_id:
            return name
    if not Channel.objects.filter(portal_id=portal.id, pk=channel_id).exists():
        raise NotFound("stream_id: no such stream.")
    if channel_id in (facts.expired or {}).values():
        raise Forbidden("The subscription to this channel has expired.")
    raise Forbidden("This channel is not in the subscriber's packages.")


def _extension(ext: str) -> str:
    if ext not in EXTENSIONS:
        raise Invalid.field("extension", "Use .m3u8 or .ts.")
    return ext


# --- player_api.php ----------------------------------------------------------------------------------------------


def expiry_date(subscriber_id: int, now: dt.datetime) -> str | None:
    """``exp_date``: the Unix seconds of the latest end among the subscriptions in force now; None when one of them
    has no end, or none is in force (access without an end date: free packages only, or nothing)."""
    ends = list(Subscription.objects.filter(in_force_filter(now), subscriber_id=subscriber_id)
                .values_list("expires_at", flat=True))
    if not ends or any(end is None for end in ends):
        return None
    return str(int(max(ends).timestamp()))


def status_of(facts: playback_cache.PlaybackFacts) -> str:
    """``Disabled`` (blocked), ``Expired`` (nothing to watch because subscriptions ended) or ``Active``."""
    if facts.disabled:
        return "Disabled"
    if not facts.channels and facts.expired:
        return "Expired"
    return "Active"


def user_info(player: Player, facts: playback_cache.PlaybackFacts, now: dt.datetime) -> dict:
    """The ``user_info`` of a logged-in player (players.md §3)."""
    active = PlaySession.objects.filter(portal_id=player.portal_id, subscriber_id=player.id, active=True).count()
    return {
        "username": player.login, "password": player.player_password, "auth": 1, "status": status_of(facts),
        "exp_date": expiry_date(player.id, now), "is_trial": "0", "active_cons": str(active),
        # The portal's maxSessionsPerSubscriber; "0": no limit.
        "max_connections": str(facts.max_sessions or 0),
        "created_at": str(int(player.created_at.timestamp())), "allowed_output_formats": list(EXTENSIONS),
    }


def server_info(request, now: dt.datetime) -> dict:
    """Where players reach this server, and its clock (UTC: every time of the API is UTC)."""
    domain, port = split_domain_port(request.get_host())
    secure = request.is_secure()
    return {
        "url": domain or request.get_host(), "port": port if port and not secure else "80",
        "https_port": port if port and secure else "443", "server_protocol": "https" if secure else "http",
        "timezone": "UTC", "timestamp_now": int(now.timestamp()), "time_now": now.astimezone(dt.UTC).strftime(_DATETIME),
    }


def _logo_base(request) -> str:
    return request.build_absolute_uri("/tv/api/v1/logos/")


def _watchable_id(facts, stream_id: str | None) -> int:
    """The channel ID of a ``stream_id`` among the subscriber's channels (404 otherwise)."""
    channel_id = stream_id_of(stream_id)
    if channel_id not in set(facts.channels.values()):
        raise NotFound("stream_id: no such stream among the subscriber's channels.")
    return channel_id


def _guide_channel(portal: Portal, facts, stream_id: str | None) -> Channel:
    channel = (Channel.objects.filter(portal_id=portal.id, pk=_watchable_id(facts, stream_id))
               .only("id", "name", "archive_days", *GUIDE_FIELDS).first())
    if channel is None:
        raise NotFound("stream_id: no such stream.")
    return channel


def _limit(text: str | None) -> int:
    if text is None or text == "":
        return catalog.SHORT_EPG_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_EPG_LIMIT:
        raise Invalid.field("limit", f"Must be a whole number from 1 to {MAX_EPG_LIMIT}.")
    return int(text)


def _category(text: str | None) -> int | None:
    if text is None or text == "":
        return None
    if not _STREAM_ID.fullmatch(text):
        raise Invalid.field("category_id", "Must be a category_id of get_live_categories.")
    return int(text)


def _action(request, portal: Portal, facts, action: str, now: dt.datetime):
    params = request.GET
    watchable = set(facts.channels.values())
    if action == "get_live_categories":
        return catalog.live_categories(portal.id, watchable)
    if action == "get_live_streams":
        return catalog.live_streams_json(portal.id, watchable, logo_base=_logo_base(request),
                                         category_id=_category(params.get("category_id")))
    if action == "get_short_epg":
        limit = _limit(params.get("limit"))
        found = catalog.short_epg(portal.id, _watchable_id(facts, params.get("stream_id")), limit, now)
        if found is None:
            raise NotFound("stream_id: no such stream.")
        return found
    if action == "get_simple_data_table":
        return catalog.simple_data_table(_guide_channel(portal, facts, params.get("stream_id")), now)
    if action in ("get_vod_categories", "get_vod_streams", "get_series_categories", "get_series"):
        return []  # live TV only
    raise Invalid.field("action", "Unknown action: use get_live_categories, get_live_streams, get_short_epg, "
                                  "get_simple_data_table, get_vod_categories, get_vod_streams, "
                                  "get_series_categories or get_series.")


@xtream_view
def player_api(request):
    """``GET /player_api.php?username=&password=[&action=…]``: without an action the login answer (``user_info``
    and ``server_info``), else the action's list or object."""
    portal, player = _login(request, request.GET.get("username"), request.GET.get("password"))
    facts = playback_cache.lookup(player.playback_token) if player is not None else None
    if facts is None:
        return _json(AUTH_FAILED)
    now = timezone.now()
    action = request.GET.get("action")
    if not action:
        return _json({"user_info": user_info(player, facts, now), "server_info": server_info(request, now)})
    return _json(_action(request, portal, facts, action, now))


# --- get.php and xmltv.php ---------------------------------------------------------------------------------------


def _logged_in(request) -> Player:
    """The player of a playlist or guide URL; 401 for wrong credentials, 403 for a blocked subscriber."""
    _, player = _login(request, request.GET.get("username"), request.GET.get("password"))
    if player is None:
        raise Unauthorized("Wrong username or password.")
    if player.disabled:
        raise Forbidden("This subscriber is blocked.")
    return player


def _portal_query(request) -> str:
    """``?portalId=…`` when the request named its portal so (a shared host), so that the URLs given keep doing."""
    portal_id = request.GET.get("portalId")
    return f"?{urlencode({'portalId': portal_id})}" if portal_id else ""


def live_url(request, player: Player, channel_id: int, ext: str) -> str:
    """The Xtream live URL of a channel for this player: ``{server}/live/{username}/{password}/{id}.{ext}``."""
    login, password = quote(player.login, safe=""), quote(player.player_password, safe="")
    return request.build_absolute_uri(f"/live/{login}/{password}/{channel_id}.{ext}") + _portal_query(request)


@xtream_view
def get_php(request):
    """``GET /get.php?username=&password=&type=m3u_plus&output=m3u8|ts``: the subscriber's ``playlist.m3u`` with
    Xtream live URLs; channels with an archive carry ``catchup="xc" catchup-days``, so Kodi and TiviMate build
    the ``timeshift/`` URL of a past programme from the live URL."""
    player = _logged_in(request)
    if request.GET.get("type", "m3u_plus") != "m3u_plus":
        raise Invalid.field("type", "Use m3u_plus.")
    ext = OUTPUTS.get(request.GET.get("output", "ts"))
    if ext is None:
        raise Invalid.field("output", "Use m3u8 or ts.")
    channels = list(selectors.catalog_of(player))
    entries = playlist_entries(request, player, channels)
    for channel, entry in zip(channels, entries):
        entry["url"] = live_url(request, player, channel.id, ext)
        entry["catchup"] = "xc"  # for the channels with an archive: timeshift/ URLs built from the live one
    credentials = urlencode({"username": player.login, "password": player.player_password,
                             **({"portalId": request.GET["portalId"]} if request.GET.get("portalId") else {})})
    guide = request.build_absolute_uri(f"/xmltv.php?{credentials}")
    response = HttpResponse(playlists.m3u(guide_url=guide, entries=entries), content_type="audio/x-mpegurl; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="playlist.m3u"'
    response["Cache-Control"] = "private, no-store"
    return response


@xtream_view
def xmltv_php(request):
    """``GET /xmltv.php?username=&password=``: the subscriber's XMLTV (``epg.xml.gz``'s content, uncompressed),
    streamed while it is generated."""
    player = _logged_in(request)
    channels = list(selectors.channels_of(player))
    now = timezone.now()
    logo_base = _logo_base(request)
    pieces = playlists.xmltv(channels, now - dt.timedelta(days=settings.EPG_RETENTION_DAYS), now + catalog.GUIDE_AHEAD,
                             logo=lambda c: f"{logo_base}{c.public_id}" if c.logo_etag else None)
    response = StreamingHttpResponse(pieces, content_type="application/xml; charset=utf-8")
    response["Cache-Control"] = "private, no-store"
    return response


# --- live/ and timeshift/ ----------------------------------------------------------------------------------------


def _refusing(request, username: str, password: str) -> tuple[Portal, Player]:
    portal, player = _login(request, username, password)
    if player is None:
        raise Forbidden("Wrong username or password.")
    return portal, player


def _redirect(url: str) -> HttpResponse:
    response = HttpResponseRedirect(url)
    response["Cache-Control"] = "private, no-store"  # decided afresh on every request (blocking, resets)
    return response


@xtream_view
def live(request, username: str, password: str, stream: str, ext: str):
    """``GET /live/{username}/{password}/{stream_id}.{m3u8|ts}`` → 302 to the channel's stream on the streaming
    server with the subscriber's playback token (HLS ``index.m3u8``, or Flussonic's ``mpegts``); 403 when refused."""
    portal, player = _refusing(request, username, password)
    channel_id = stream_id_of(stream)
    ext = _extension(ext)
    name = watchable_name(portal, _facts(player), channel_id)
    if ext == "m3u8":
        return _redirect(stream_url(player, _Stream(name)))
    return _redirect(f"{stream_base(portal)}/{name}/mpegts?token={player.playback_token}")


def _minutes(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_SHIFT_MINUTES:
        raise Invalid.field("duration", f"Must be whole minutes from 1 to {MAX_SHIFT_MINUTES}.")
    return int(text)


def _start(text: str) -> dt.datetime:
    try:
        return dt.datetime.strptime(text, "%Y-%m-%d:%H-%M").replace(tzinfo=dt.UTC)
    except ValueError:
        raise Invalid.field("start", "Use YYYY-MM-DD:HH-MM (UTC).") from None


@xtream_view
def timeshift(request, username: str, password: str, minutes: str, start: str, stream: str, ext: str):
    """``GET /timeshift/{username}/{password}/{minutes}/{YYYY-MM-DD:HH-MM}/{stream_id}.{m3u8|ts}`` → 302 to the
    channel's archive from ``start`` (UTC, as ``server_info.timezone``) for ``minutes``: Flussonic's
    ``index-{from}-{duration}.m3u8`` or ``archive-{from}-{duration}.ts`` with the playback token. 403 when refused
    or the channel keeps no archive; 400 for a start outside its archive (or in the future) or malformed."""
    portal, player = _refusing(request, username, password)
    channel_id = stream_id_of(stream)
    ext = _extension(ext)
    duration, begin = _minutes(minutes) * 60, _start(start)
    name = watchable_name(portal, _facts(player), channel_id)
    days = Channel.objects.filter(portal_id=portal.id, pk=channel_id).values_list("archive_days", flat=True).first()
    if not days:
        raise Forbidden("This channel keeps no archive.")
    now = timezone.now()
    if not now - dt.timedelta(days=days) <= begin < now:
        raise Invalid.field("start", f"Must be within the channel's archive: the last {days} days, before now.")
    begin_seconds = int(begin.timestamp())
    if ext == "m3u8":
        return _redirect(archive_url(player, _Stream(name), begin_seconds, duration))
    return _redirect(f"{stream_base(portal)}/{name}/archive-{begin_seconds}-{duration}.ts?token={player.playback_token}")
