"""Client API (``/tv/api/v1/``): SMS login, the subscriber's channels and guide, playlists for any player."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from catena_site.api.views import decode_path_id, json_object
from catena_site.errors import Forbidden, Invalid, NotFound, Unauthorized
from catena_site.http import client_ip
from catena_site.ids import encode_id
from catena_site.throttle import Counter, Limit, take
from content.api.views import logo_response
from content.epg.api.serializers import ProgramSerializer
from content.epg.selectors import channel_guides, day_error, guide_starting_on
from content.models import Channel, Program
from subscribers import devices, sms_login
from subscribers.inputs import DeviceLoginInput, SmsRequestInput, SmsVerifyInput
from subscribers.models import Device, Subscriber

from . import playlists, selectors
from .auth import BearerAppSession, HasAppSession, resolve_portal


class PublicView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]


class AppView(APIView):
    authentication_classes = [BearerAppSession]
    permission_classes = [HasAppSession]

    @property
    def subscriber(self) -> Subscriber:
        return self.request.auth.subscriber


def stream_base(portal) -> str:
    return (portal.effective_settings.get("streamBaseUrl") or settings.STREAM_BASE_URL).rstrip("/")


def stream_url(subscriber, channel) -> str:
    """The channel's stream URL with the viewer's playback token (none for an anonymous viewer)."""
    url = f"{stream_base(subscriber.portal)}/{channel.name}/index.m3u8"
    return f"{url}?token={subscriber.playback_token}" if subscriber.playback_token else url


def archive_url(subscriber, channel, start: int, duration: int) -> str:
    """A Flussonic DVR URL of ``duration`` seconds of the channel's archive from ``start`` (Unix seconds), with the
    viewer's playback token (players.md §1)."""
    url = f"{stream_base(subscriber.portal)}/{channel.name}/index-{start}-{duration}.m3u8"
    return f"{url}?token={subscriber.playback_token}" if subscriber.playback_token else url


class AnonymousViewer:
    """A viewer without credentials of a portal that allows anonymous viewing (lifecycle.md §3). It has no ID,
    hence no subscriptions: the access rule (``subscribers.access``) grants it exactly the portal's free
    packages, and its stream URLs carry no token."""

    id = None
    disabled = False
    playback_token = None

    def __init__(self, portal):
        self.portal = portal
        self.portal_id = portal.id


def anonymous_viewer(request) -> AnonymousViewer:
    """The anonymous viewer of the request's portal (by ``portalId`` or Host); 401, as without the feature,
    when the portal is unknown or does not allow anonymous viewing."""
    try:
        portal = resolve_portal(request)
    except NotFound:
        raise NotAuthenticated() from None
    if not portal.effective_settings.get("allowAnonymous"):
        raise NotAuthenticated()
    return AnonymousViewer(portal)


def logo_url(request, channel) -> str | None:
    return request.build_absolute_uri(f"/tv/api/v1/logos/{channel.public_id}") if channel.logo_etag else None


def program_json(program: Program | None) -> dict | None:
    return ProgramSerializer(program).data if program is not None else None


class SmsRequestView(PublicView):
    @extend_schema(operation_id="smsRequest", tags=["client"], request=SmsRequestInput)
    def post(self, request):
        portal = resolve_portal(request)
        body = json_object(request)
        answer = sms_login.request_code(portal, body.get("phoneCountryCode"), body.get("phone"), ip=client_ip(request))
        return Response(answer)


class SmsVerifyView(PublicView):
    @extend_schema(operation_id="smsVerify", tags=["client"], request=SmsVerifyInput)
    def post(self, request):
        portal = resolve_portal(request)
        body = json_object(request)
        login = sms_login.verify_code(portal, body.get("phoneCountryCode"), body.get("phone"), body.get("code"),
                                      ip=client_ip(request), device=request.META.get("HTTP_USER_AGENT", ""),
                                      device_id=body.get("deviceId", sms_login.NO_DEVICE))
        return Response(login_answer(login))


def login_answer(login: dict) -> dict:
    """The answer of a login (SMS verify, STB login by MAC): the app session and the playback token."""
    subscriber = login["subscriber"]
    return {"token": login["token"], "subscriberId": subscriber.public_id, "playback_token": subscriber.playback_token,
            "expiresAt": login["expires_at"].astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


# Failed STB logins per client address: MACs are guessable by vendor prefix, so guessing must be slow; a
# successful login is not counted (many boxes of one operator may share an address behind NAT).
DEVICE_LOGIN_LIMIT = Limit("device-login-ip", 20, 600, "Too many failed device logins from this address; try later.")
DEVICE_LOGIN_REFUSAL = "Unknown or disabled device."


class DeviceLoginView(PublicView):
    """``POST /auth/device {"mac"}``: a set-top box registered to an enabled subscriber logs in by its MAC
    (lifecycle.md §2) and gets the same answer as SMS verify; 401 otherwise, the same for unknown and disabled."""

    @extend_schema(operation_id="deviceLogin", tags=["client"], request=DeviceLoginInput)
    def post(self, request):
        portal = resolve_portal(request)
        mac = DeviceLoginInput.check(json_object(request))["mac"]
        ip = client_ip(request)
        counted = take(Counter.of(DEVICE_LOGIN_LIMIT, ip or "-"))  # RateLimited (429) once past the limit
        subscriber = devices.subscriber_for_mac(portal, mac)
        if subscriber is None or subscriber.disabled:
            raise Unauthorized(DEVICE_LOGIN_REFUSAL)
        for counter in counted:
            counter.undo()
        login = sms_login.start_app_session(subscriber, ip=ip, device=request.META.get("HTTP_USER_AGENT", ""))
        return Response(login_answer(login))


class LogoutView(AppView):
    @extend_schema(operation_id="appLogout", tags=["client"], request=None, responses={204: None})
    def post(self, request):
        sms_login.end_app_session(request.META["HTTP_AUTHORIZATION"].partition(" ")[2].strip())
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(AppView):
    @extend_schema(operation_id="me", tags=["client"])
    def get(self, request):
        subscriber = self.subscriber
        return Response({
            "subscriberId": subscriber.public_id,
            "name": subscriber.name,
            "phone": subscriber.international_phone,
            "packages": [{"packageId": item["package"].public_id, "name": item["package"].name, "free": item["free"]}
                         for item in selectors.packages_of(subscriber)],
        })


class DevicesView(AppView):
    """``GET /devices``: the subscriber's own devices."""

    @extend_schema(operation_id="appDevices", tags=["client"])
    def get(self, request):
        own = Device.objects.filter(subscriber_id=self.subscriber.id).order_by("id")
        return Response({"devices": [devices.device_json(device) for device in own]})


class DeviceView(AppView):
    """``DELETE /devices/{id}``: the subscriber removes one of their devices, when the portal allows it."""

    @extend_schema(operation_id="appDeviceDelete", tags=["client"], request=None,
                   responses={201: OpenApiResponse(description='{"deleted": "<deviceId>"}')})
    def delete(self, request, device_id):
        pk = decode_path_id(device_id)
        devices.unregister_own_device(self.subscriber, pk)
        return Response({"deleted": encode_id(pk)}, status=status.HTTP_201_CREATED)


def channel_categories(channel) -> list:
    """The channel's categories in the channel's order (``selectors.catalog_of`` loads them)."""
    return [link.category for link in channel.category_links.all()]


def channel_json(request, subscriber, channel, on_air) -> dict:
    """One item of ``GET /channels``; ``on_air`` is ``(now, next)`` of the channel."""
    return {
        "channelId": channel.public_id, "name": channel.name, "title": channel.title, "number": channel.number,
        "categories": [{"categoryId": category.public_id, "name": category.name, "title": category.title}
                       for category in channel_categories(channel)],
        "audioOnly": channel.audio_only, "quality": channel.quality, "archiveDays": channel.archive_days,
        "logo": logo_url(request, channel), "streamUrl": stream_url(subscriber, channel),
        "now": program_json(on_air[0]), "next": program_json(on_air[1]),
    }


class ChannelsView(AppView):
    """The subscriber's channels; without credentials, the free channels of a portal allowing anonymous viewing."""

    permission_classes = [AllowAny]

    @extend_schema(operation_id="appChannels", tags=["client"])
    def get(self, request):
        subscriber = self.subscriber if request.auth is not None else anonymous_viewer(request)
        channels = list(selectors.catalog_of(subscriber))
        on_air = selectors.now_and_next_for(channels)
        return Response({"channels": [channel_json(request, subscriber, channel, on_air[channel.id])
                                      for channel in channels]})


class CategoriesView(AppView):
    """The categories holding at least one channel the subscriber may watch, in display order (without
    credentials: of the free channels of a portal allowing anonymous viewing)."""

    permission_classes = [AllowAny]

    @extend_schema(operation_id="appCategories", tags=["client"])
    def get(self, request):
        viewer = self.subscriber if request.auth is not None else anonymous_viewer(request)
        return Response({"categories": [
            {"categoryId": category.public_id, "name": category.name, "title": category.title,
             "position": category.position}
            for category in selectors.categories_of(viewer)
        ]})


def archive_span(channel, program, now: dt.datetime) -> tuple[int, int] | None:
    """``(start, duration)`` in Unix seconds of a programme the channel's archive holds (players.md §1): one that
    has ended and started no longer than ``archive_days`` ago; None for a channel without an archive, a programme
    on air or to come, or one older than the archive."""
    if not channel.archive_days or program.end > now or program.start < now - dt.timedelta(days=channel.archive_days):
        return None
    start = int(program.start.timestamp())
    return start, max(int(program.end.timestamp()) - start, 0)


def archived_program_json(subscriber, channel, program: Program, now: dt.datetime) -> dict:
    """A programme of ``GET /channels/{id}/programs``: the Management API's fields and ``archiveUrl``, the URL
    that plays it from the channel's archive with the viewer's token (null when the archive does not hold it)."""
    span = archive_span(channel, program, now)
    return {**ProgramSerializer(program).data,
            "archiveUrl": archive_url(subscriber, channel, *span) if span is not None else None}


class ChannelProgramsView(AppView):
    @extend_schema(operation_id="appChannelPrograms", tags=["client"], responses={200: OpenApiResponse(
        description='{"programs": [...]}: the programmes starting on the UTC day `date`, each with the Management '
                    "API's programme fields and `archiveUrl` (the channel's archive URL of that programme with the "
                    "viewer's token, `{stream base}/{name}/index-{start}-{duration}.m3u8?token=…`, for a programme "
                    "that has ended within the channel's `archiveDays`; else null)")})
    def get(self, request, channel_id):
        channel = selectors.channels_of(self.subscriber).filter(pk=decode_path_id(channel_id)).first()
        if channel is None:
            raise NotFound("No such channel among yours.")
        raw_date = request.query_params.get("date")
        try:
            day = dt.date.fromisoformat(raw_date) if raw_date else timezone.now().astimezone(dt.UTC).date()
        except ValueError:
            raise Invalid("date: Use YYYY-MM-DD.", {"date": ["Use YYYY-MM-DD."]}) from None
        if problem := day_error(day):
            raise Invalid.field("date", problem)
        guides = channel_guides(channel)
        if guides is None:
            return Response({"programs": []})
        programs = guide_starting_on(guides, day)
        now = timezone.now()
        return Response({"programs": [archived_program_json(self.subscriber, channel, program, now)
                                      for program in programs]})


class LogoView(PublicView):
    """Channel logos are public, like on any TV guide."""

    @extend_schema(operation_id="appLogo", tags=["client"])
    def get(self, request, channel_id):
        channel = Channel.objects.filter(pk=decode_path_id(channel_id)).only(
            "id", "logo", "logo_etag", "logo_content_type").first()
        if channel is None or not channel.logo_etag:
            raise NotFound("This channel has no logo.")
        return logo_response(request, channel)


MAX_PLAYBACK_TOKEN_LENGTH = Subscriber._meta.get_field("playback_token").max_length


def subscriber_for_playback_token(token: str | None) -> Subscriber:
    """The subscriber of a playback token given in a player URL: unknown or revoked → 401, blocked → 403.

    A token with a control character (``token=%00``) or longer than any token is unknown without a lookup:
    PostgreSQL refuses a NUL in a query, which would otherwise answer 500.
    """
    if not token or len(token) > MAX_PLAYBACK_TOKEN_LENGTH or not token.isprintable():
        raise Unauthorized("Unknown or revoked token.")
    subscriber = Subscriber.objects.select_related("portal").filter(playback_token=token).first()
    if subscriber is None:
        raise Unauthorized("Unknown or revoked token.")
    if subscriber.disabled:
        raise Forbidden("This subscriber is blocked.")
    return subscriber


def playlist_entries(request, subscriber, channels) -> list[dict]:
    """The M3U entries of these channels (``selectors.catalog_of``), in their order. ``group-title`` is the
    title of the channel's first category, or for a channel without any the name of the first (by name)
    package granting it; a channel keeping an archive gets the catch-up attributes (its URL stays the live one)."""
    uncategorised = [c.id for c in channels if not channel_categories(c)]
    packages = selectors.group_titles(subscriber, uncategorised) if uncategorised else {}
    entries = []
    for channel in channels:
        categories = channel_categories(channel)
        entries.append({"id": channel.name, "name": channel.title, "number": channel.number,
                        "logo": logo_url(request, channel) or "",
                        "group": categories[0].title if categories else packages.get(channel.id, ""),
                        "radio": channel.audio_only, "archive_days": channel.archive_days, "title": channel.title,
                        "url": stream_url(subscriber, channel)})
    return entries


class PlaylistView(PublicView):
    @extend_schema(operation_id="playlist", tags=["client"])
    def get(self, request):
        subscriber = playlist_viewer(request)
        channels = list(selectors.catalog_of(subscriber))
        guide = request.build_absolute_uri(f"/tv/api/v1/epg.xml.gz?{guide_query(subscriber)}")
        body = playlists.m3u(guide_url=guide, entries=playlist_entries(request, subscriber, channels))
        response = HttpResponse(body, content_type="audio/x-mpegurl; charset=utf-8")
        response["Content-Disposition"] = 'inline; filename="playlist.m3u"'
        response["Cache-Control"] = "private, max-age=60"
        return response


def playlist_viewer(request):
    """Who a player URL is for: the subscriber of its ``token``; without one (absent or empty), the anonymous
    viewer of a portal allowing anonymous viewing; else the token's 401."""
    token = request.query_params.get("token")
    if not token:
        try:
            return anonymous_viewer(request)
        except NotAuthenticated:
            pass
    return subscriber_for_playback_token(token)


def guide_query(viewer) -> str:
    """The query string of the viewer's guide URL: its token, or the portal of an anonymous viewer."""
    return f"token={viewer.playback_token}" if viewer.playback_token else f"portalId={viewer.portal.public_id}"


def guide_since(channel, now: dt.datetime, retention_start: dt.datetime) -> dt.datetime:
    """From when the guide gives a channel's programmes: as far back as its archive goes for a channel keeping
    one (players.md §1: the past programmes a player offers to catch up), else from ``EPG_RETENTION_DAYS`` ago."""
    return now - dt.timedelta(days=channel.archive_days) if channel.archive_days else retention_start


class GuideView(PublicView):
    @extend_schema(operation_id="guide", tags=["client"])
    def get(self, request):
        subscriber = playlist_viewer(request)
        channels = list(selectors.channels_of(subscriber))
        now = timezone.now()
        start = now - dt.timedelta(days=settings.EPG_RETENTION_DAYS)
        stop = now + dt.timedelta(days=7)
        response = StreamingHttpResponse(
            playlists.gzip_chunks(playlists.xmltv(channels, start, stop, logo=lambda c: logo_url(request, c),
                                                  since=lambda c: guide_since(c, now, start))),
            content_type="application/gzip",
        )
        response["Content-Disposition"] = 'attachment; filename="epg.xml.gz"'
        response["Cache-Control"] = "private, max-age=600"
        return response
