"""The Icareus-compatible channels endpoint (catalog.md §4): scripts written for Icareus Suite's Channels
Management API run unchanged against a portal that enables it (``settings.icareusApi``).

Everything here translates: the organization number and the bearer token into a :class:`Caller`, Icareus
field names and values into the Management API's (and refusals back), a channel into Icareus' JSON. Every
change is the same service call as the Management API's (``content.services``: the same input shape, the
same permissions, operations and cache invalidation). The HTTP side is ``content.icareus_views``.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
import secrets
import time
import unicodedata
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import Q

from catena_site.errors import Conflict, Invalid, ServiceError
from catena_site.ids import MAX_ID, InvalidId, decode_id, encode_id
from portals.auth import Caller, resolve_session
from portals.models import DEFAULT_ARCHIVE_DAYS, Portal
from portals.validators import MAX_LOGO_BYTES, MAX_LOGO_PIXELS_SIDE

from . import selectors, services
from .api.serializers import logo_urls
from .inputs import ChannelInput
from .models import Channel, Quality

# A generated token is accepted this many seconds either side of the server's clock.
TOKEN_WINDOW_SECONDS = 300
GENERATED_TOKEN = re.compile(r"[0-9a-fA-F]{40}")
# Icareus' quality numbers ↔ ours.
QUALITIES = {0: Quality.HD, 1: Quality.SD}
# What ``addChannel`` sets when the body leaves a field out, where the seed's default differs from ours.
DEFAULT_LANGUAGE = "en_US"
# Our Management API's field names → Icareus' (a refusal names the field the script sent).
ICAREUS_NAMES = {"title": "name", "number": "logicalChannelNumber", "language": "primaryLanguage",
                 "archiveDays": "autoRecord", "logo": "channelIcon", "name": "streamName"}
PUBLIC_ID = re.compile(r"[A-Za-z0-9_-]{11}\.")
MAX_STREAM_NAME = 20
NAME_ATTEMPTS = 3


class IcareusError(Exception):
    """A refusal in Icareus' envelope: ``{"status": "error", "message": …}`` or ``{"status": "error",
    "errors": {field: [{"message", "name": "invalid-value"}]}}``."""

    def __init__(self, status: int, message: str | None = None, errors: dict[str, list[str]] | None = None):
        super().__init__(message or "invalid-value")
        self.status, self.message, self.errors = status, message, errors or {}

    def body(self) -> dict:
        if self.errors:
            return {"errors": {field: [{"message": reason, "name": "invalid-value"} for reason in reasons]
                               for field, reasons in self.errors.items()},
                    "status": "error"}
        return {"message": self.message, "status": "error"}


def invalid_organization() -> IcareusError:
    return IcareusError(400, "invalid-organization-id")


def invalid_token() -> IcareusError:
    return IcareusError(401, "invalid-token")


def invalid_channel() -> IcareusError:
    return IcareusError(404, "invalid-channel-id")


def unknown_action() -> IcareusError:
    return IcareusError(400, "unknown-action")


def whole_id(value: str | None) -> int | None:
    """An organization or channel number from the query string (the integer behind a Snowflake ID), or None."""
    if value is None or not re.fullmatch(r"[0-9]{1,19}", value.strip()):
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None


# --- Who is calling -----------------------------------------------------------------------------------------


def token_signature(organization_id: int, hex_time: str, secret: str) -> str:
    """The seed's signature: MD5 hex of ``organizationId:<8 hex digits of the time>:secret``."""
    return hashlib.md5(f"{organization_id}:{hex_time}:{secret}".encode(), usedforsecurity=False).hexdigest()


def generated_token(organization_id: int, secret: str, now: float | None = None) -> str:
    """A token as an Icareus script makes it: 8 hex digits of the Unix time, then the signature."""
    hex_time = f"{int(time.time() if now is None else now):08x}"
    return hex_time + token_signature(organization_id, hex_time, secret)


def generated_token_valid(token: str, organization_id: int, secret: str) -> bool:
    """Whether ``token`` is a generated token of ``organization_id`` signed with ``secret`` and made within
    ±``TOKEN_WINDOW_SECONDS`` of now (the signature compared in constant time)."""
    hex_time, signature = token[:8].lower(), token[8:].lower()
    if abs(int(hex_time, 16) - int(time.time())) > TOKEN_WINDOW_SECONDS:
        return False
    return hmac.compare_digest(signature, token_signature(organization_id, hex_time, secret))


def enabled_portal(organization_id: int) -> Portal | None:
    """The portal with that organization number if it has the endpoint on; None otherwise (off is unknown)."""
    portal = Portal.objects.defer("logo_image").filter(pk=organization_id).first()
    if portal is None or not portal.effective_settings.get("icareusApi"):
        return None
    return portal


def bearer_token(request) -> str | None:
    scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def caller_for(request, organization: str | None) -> Caller:
    """The caller of an Icareus request: a manager's ``sessionId`` (their rights), or a generated token signed
    with the portal's API key (the API key's rights).

    Nothing answers differently for a portal that does not exist and one that has the endpoint off: a
    generated token can only be checked against an enabled portal's key (else: ``invalid-token``), and a
    valid session of another portal, or for an unknown or disabled one, is ``invalid-organization-id``.
    """
    organization_id = whole_id(organization)
    if organization_id is None:
        raise invalid_organization()
    token = bearer_token(request)
    if token is None:
        raise invalid_token()
    portal = enabled_portal(organization_id)
    if GENERATED_TOKEN.fullmatch(token):
        if portal is None or not generated_token_valid(token, organization_id, portal.api_key):
            raise invalid_token()
        return Caller(portal=portal)
    session = resolve_session(token)
    if session is None:
        raise invalid_token()
    if portal is None or session.manager.portal_id != portal.id:
        raise invalid_organization()
    return Caller(portal=portal, manager=session.manager, session=session)


# --- Icareus' fields → ours ---------------------------------------------------------------------------------


def _id_list(value, what: str) -> list[str]:
    """Icareus' integer IDs as our public IDs; anything else is refused naming the values."""
    if not isinstance(value, list):
        raise ValueError("Must be a list of IDs.")
    bad = [item for item in value if isinstance(item, bool) or not isinstance(item, int) or not 0 < item <= MAX_ID]
    if bad:
        raise ValueError(f"invalid {what} ids: {' '.join(str(item) for item in bad)}")
    return [encode_id(item) for item in value]


def _number(value):
    return None if value == 0 and not isinstance(value, bool) else value  # Icareus' 0 is "no number"


def _quality(value):
    if isinstance(value, bool) or value not in QUALITIES:
        raise ValueError("Must be 0 (HD) or 1 (SD).")
    return QUALITIES[value]


# Icareus field → (our field, converter of its value; a ValueError is the field's refusal).
FIELDS = {
    "name": ("title", None),
    "description": ("description", None),
    "logicalChannelNumber": ("number", _number),
    "aspectRatio": ("aspectRatio", None),
    "primaryLanguage": ("language", None),
    "audioOnly": ("audioOnly", None),
    "categories": ("categories", lambda value: _id_list(value, "category")),
    "quality": ("quality", _quality),
    "isPublic": ("isPublic", None),
    "isExclusive": ("isExclusive", None),
    "locationRestrictions": ("locationRestrictions", lambda value: _id_list(value, "location")),
}


def archive_days(portal, channel: Channel | None, auto_record) -> int:
    """``autoRecord`` as archive days: false → 0; true → the portal's default (7 when unset), or the days the
    channel already keeps."""
    if not isinstance(auto_record, bool):
        raise ValueError("Must be true or false.")
    if not auto_record:
        return 0
    if channel is not None and channel.archive_days > 0:
        return channel.archive_days
    return portal.effective_settings.get("defaultArchiveDays") or DEFAULT_ARCHIVE_DAYS


def to_catena(body: dict, portal, channel: Channel | None) -> tuple[dict, dict[str, list[str]]]:
    """The Management API body for an Icareus one (unknown keys ignored, as there), and the refusals of the
    values that have no counterpart, by Icareus field."""
    data, problems = {}, {}
    for field, value in body.items():
        try:
            if field in FIELDS:
                ours, convert = FIELDS[field]
                data[ours] = convert(value) if convert else value
            elif field == "autoRecord":
                data["archiveDays"] = archive_days(portal, channel, value)
        except ValueError as exc:
            problems[field] = [str(exc)]
    return data, problems


def _integer_ids(text: str) -> str:
    """A refusal with our public IDs written as the integers an Icareus script knows."""
    def integer(match):
        try:
            return str(decode_id(match.group(0)))
        except InvalidId:
            return match.group(0)
    return PUBLIC_ID.sub(integer, text)


def icareus_errors(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """Our refusals by field under Icareus' field names (``categories.0`` counts as ``categories``)."""
    result: dict[str, list[str]] = {}
    for field, reasons in errors.items():
        top = field.split(".", 1)[0]
        name = ICAREUS_NAMES.get(top, "body" if top == "non_field_errors" else top)
        result.setdefault(name, []).extend(_integer_ids(reason) for reason in reasons)
    return result


def refusal(exc: ServiceError) -> IcareusError:
    """A service's refusal in Icareus' envelope, with the service's status."""
    if exc.errors:
        return IcareusError(exc.status, errors=icareus_errors(exc.errors))
    if exc.status == 404:
        return invalid_channel()
    return IcareusError(exc.status, exc.message)


def check_all(data: dict, problems: dict, **context) -> None:
    """Refuse Icareus values without a counterpart together with every other field's refusal of our shape."""
    if not problems:
        return
    try:
        ChannelInput.check(data, **context)
    except Invalid as exc:
        problems = {**icareus_errors(exc.errors), **problems}
    raise IcareusError(400, errors=problems)


# --- Stream names -------------------------------------------------------------------------------------------


def name_stem(title) -> str:
    """Our technical name for an Icareus ``name``: lower-case ASCII, ``[a-z0-9_-]``, 2–20 characters."""
    text = unicodedata.normalize("NFKD", title if isinstance(title, str) else "").encode("ascii", "ignore").decode()
    stem = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")[:MAX_STREAM_NAME].rstrip("-_")
    if len(stem) < 2:
        stem = f"{stem}-channel" if stem else "channel"
    return stem


def free_stream_name(portal, title) -> str:
    """A name derived from ``title`` that no channel of the portal, nor of another portal on its streaming
    server, has: the stem, else the stem with ``-2``, ``-3``, … (``-`` and 8 random hex digits after ``-99``)."""
    stem = name_stem(title)
    candidates = [stem] + [f"{stem[:MAX_STREAM_NAME - len(str(n)) - 1].rstrip('-_')}-{n}" for n in range(2, 100)]
    taken = set(Channel.objects.filter(Q(portal=portal) | Q(portal__streaming_server_id=portal.streaming_server_id))
                .filter(name__in=candidates).values_list("name", flat=True))
    return next((name for name in candidates if name not in taken), f"{stem[:11]}-{secrets.token_hex(4)}")


# --- Actions ------------------------------------------------------------------------------------------------


def channel_of(portal, channel_id: str | None) -> Channel:
    """The portal's channel with that ``channelId`` (the integer behind its ID); another portal's is unknown."""
    pk = whole_id(channel_id)
    channel = selectors.channels_for(portal).filter(pk=pk).first() if pk else None
    if channel is None:
        raise invalid_channel()
    return channel


def add_channel(caller: Caller, body: dict) -> Channel:
    """``addChannel``: ``createChannel`` with a stream name derived from the Icareus ``name``."""
    caller.require("isContentAdmin")  # before any refusal of the values, as the service would
    portal = caller.portal
    body = {"primaryLanguage": DEFAULT_LANGUAGE, **body}
    data, problems = to_catena(body, portal, None)
    for attempt in range(NAME_ATTEMPTS):
        data["name"] = free_stream_name(portal, body.get("name"))
        check_all(data, problems, portal=portal)
        try:
            return services.create_channel(portal, caller=caller, data=data)
        except Conflict as exc:  # the name was taken meanwhile: derive again
            if "name" not in exc.errors or attempt == NAME_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def update_channel(caller: Caller, channel: Channel, body: dict) -> Channel:
    """``updateChannel``: ``updateChannel`` with only the fields given."""
    caller.require("isContentAdmin")
    data, problems = to_catena(body, caller.portal, channel)
    check_all(data, problems, partial=True, portal=caller.portal, channel=channel)
    return services.update_channel(channel, caller=caller, data=data)


def add_channel_icon(caller: Caller, channel: Channel, upload) -> Channel:
    """``addChannelIcon``: the uploaded ``channelIcon`` as the channel's logo (checked like every logo)."""
    caller.require("isContentAdmin")
    if upload is None:
        raise IcareusError(400, errors={"channelIcon": ["This field is required: an image file."]})
    data = gif_as_png(upload.read(MAX_LOGO_BYTES + 1))
    return services.update_channel(channel, caller=caller, data={"logo": data})


def gif_as_png(data: bytes) -> bytes:
    """A GIF icon (the seed uploads ``wizard.gif``) as a PNG of its first frame; any other bytes unchanged, for
    the logo checks to judge. A GIF is opened within the same limits as a logo (size, pixels, bombs) first."""
    if not data.startswith((b"GIF87a", b"GIF89a")) or len(data) > MAX_LOGO_BYTES:
        return data
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "GIF" or max(image.size) > MAX_LOGO_PIXELS_SIDE:
                return data  # the logo checks refuse it, naming the reason
            image.seek(0)
            frame = image.convert("RGBA")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return data
    except Exception:
        return data  # not a readable GIF: the logo checks say so
    out = io.BytesIO()
    frame.save(out, "PNG", optimize=True)
    return out.getvalue()


# --- Icareus' channel ---------------------------------------------------------------------------------------


def stream_base(portal) -> str:
    return (portal.effective_settings.get("streamBaseUrl") or settings.STREAM_BASE_URL).rstrip("/")


def channel_json(request, channel: Channel, portal) -> dict:
    """A channel of ``portal`` as Icareus shows it (``selectors.channels_for`` loads what it reads)."""
    base = stream_base(portal)
    host = urlsplit(base).hostname or ""
    hls = f"{base}/{channel.name}/index.m3u8"
    icons = {size: request.build_absolute_uri(path) for size, path in (logo_urls(channel) or {}).items()}
    return {
        "serviceId": channel.id,
        "name": channel.title,
        "streamName": channel.name,
        "description": channel.description,
        "logicalChannelNumber": channel.number or 0,
        "aspectRatio": channel.aspect_ratio,
        "primaryLanguage": channel.language,
        "audioOnly": channel.audio_only,
        "categories": [link.category_id for link in channel.category_links.all()],
        "autoRecord": channel.archive_days > 0,
        "quality": next(number for number, quality in QUALITIES.items() if quality == channel.quality),
        "isPublic": channel.is_public,
        "isExclusive": channel.is_exclusive,
        "locationRestrictions": [link.location_id for link in channel.location_links.all()],
        "smallIcon": icons.get("small", ""),
        "mediumIcon": icons.get("medium", ""),
        "largeIcon": icons.get("large", ""),
        "originAddress": host,
        "cdnAddress": host,
        "ingestUrl": f"rtmp://{host}",
        "streams": {
            "total": 1,
            "transcoder": 0,
            "items": [{"preset_name": "Source", "preset_id": 0,
                       "devices": [{"protection": "", "typeName": "HLS", "id": channel.id, "url": hls}]}],
            "adaptiveItems": [],
            "playlist": 0,
        },
    }
