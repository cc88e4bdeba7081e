"""``/api/channels/admin``: the Icareus-compatible channels endpoint (catalog.md §4; the translation is in
``content.icareus``).

A plain Django view: its envelopes, its ``Authorization: Bearer`` tokens and its ``?action=`` dispatch are
Icareus', not the Management API's (no ``X-Auth-Token``, no session cookie, no CSRF token, not in the OpenAPI
document).
"""

from __future__ import annotations

import json

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.csrf import csrf_exempt

from catena_site.errors import ServiceError
from content import icareus, selectors, services
from content.icareus import IcareusError


def json_body(request) -> dict:
    """The request body as a JSON object, whatever its content type (the seed's ``curl -d`` sends its JSON as a
    form); an empty body is ``{}``."""
    raw = request.body
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise IcareusError(400, errors={"body": ["Must be a JSON object."]})
    return body


def one_channel(request, caller, channel) -> dict:
    """``{"status": "ok", "channel": …}`` with the channel as stored now."""
    channel = selectors.channels_for(caller.portal).get(pk=channel.pk)
    return {"status": "ok", "channel": icareus.channel_json(request, channel, caller.portal)}


def get_channels(request, caller) -> dict:
    channels = selectors.channels_for(caller.portal).order_by(*selectors.CHANNEL_ORDER)
    return {"status": "ok", "channels": [icareus.channel_json(request, channel, caller.portal) for channel in channels]}


def get_channel(request, caller) -> dict:
    return one_channel(request, caller, icareus.channel_of(caller.portal, request.GET.get("channelId")))


def add_channel(request, caller) -> dict:
    return one_channel(request, caller, icareus.add_channel(caller, json_body(request)))


def update_channel(request, caller) -> dict:
    channel = icareus.channel_of(caller.portal, request.GET.get("channelId"))
    return one_channel(request, caller, icareus.update_channel(caller, channel, json_body(request)))


def delete_channel(request, caller) -> dict:
    channel = icareus.channel_of(caller.portal, request.GET.get("channelId"))
    services.delete_channel(channel, caller=caller)
    return {"message": str(channel.pk), "status": "ok"}


def add_channel_icon(request, caller) -> dict:
    channel = icareus.channel_of(caller.portal, request.GET.get("channelId"))
    return one_channel(request, caller, icareus.add_channel_icon(caller, channel, request.FILES.get("channelIcon")))


# ``?action=`` → (its method, its handler).
ACTIONS = {
    "addChannel": ("POST", add_channel),
    "updateChannel": ("POST", update_channel),
    "deleteChannel": ("POST", delete_channel),
    "getChannel": ("GET", get_channel),
    "getChannels": ("GET", get_channels),
    "addChannelIcon": ("POST", add_channel_icon),
}


def answer(request) -> dict:
    caller = icareus.caller_for(request, request.GET.get("organizationId"))
    action = ACTIONS.get(request.GET.get("action", ""))
    if action is None:
        raise icareus.unknown_action()
    method, handler = action
    if request.method != method:
        raise IcareusError(405, "method-not-allowed")
    try:
        return handler(request, caller)
    except ServiceError as exc:
        raise icareus.refusal(exc) from None


@csrf_exempt
def channels_admin(request):
    """Every action of the seed; 200 ``{"status": "ok", …}`` or an error status with ``"status": "error"``."""
    if request.method not in ("GET", "POST"):
        return JsonResponse(IcareusError(405, "method-not-allowed").body(), status=405)
    try:
        return JsonResponse(answer(request))
    except IcareusError as exc:
        return JsonResponse(exc.body(), status=exc.status)
    except (RequestDataTooBig, MultiPartParserError):
        return JsonResponse(IcareusError(400, errors={"body": ["The request is too large or malformed."]}).body(),
                            status=400)
