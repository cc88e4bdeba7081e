"""The two endpoints the streaming server calls: ``GET …/auth`` (on_play) and ``POST …/events`` (event_sink).

Plain Django views on purpose: the auth check is the hot path (every viewer, every channel switch), and
DRF's request and renderer machinery would cost more than the check itself (performance.md).
"""

from __future__ import annotations

import json
import logging
import time
from urllib.parse import unquote

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DataError, InterfaceError, OperationalError
from django.db import Error as DatabaseError
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from catena_site import logs, prometheus
from catena_site.http import client_ip
from catena_site.ids import encode_id
from portals import streaming_servers
from portals.streaming_servers import ServerConfig
from subscribers import playback_cache

from .decision import BAD_KEY, TITLES, UNKNOWN_TOKEN, Decision, decide
from .events import receive_batch

log = logging.getLogger(__name__)


def error(status: int, code: str, title: str) -> JsonResponse:
    """Flussonic's error shape: ``{"errors": [{"status", "code", "title"}]}``."""
    return JsonResponse({"errors": [{"status": str(status), "code": code, "title": title}]}, status=status)


def deny(reason: str) -> JsonResponse:
    response = error(403, reason, TITLES[reason])
    # A refusal is an ordinary answer here (every unsubscribed channel switch), not a client error worth a
    # warning line per request in django.request's log.
    response._has_been_logged = True
    return response


def unavailable() -> JsonResponse:
    """503: the database is unreachable. Never a wrong answer; Flussonic's own failure policy applies."""
    return error(503, "unavailable", "The authorization database is unreachable; try again.")


MAX_QUERY_FIELDS = 200


def query_parameters(request) -> dict[str, str]:
    """The query string as a plain dict (last value wins, like ``QueryDict.get``), without QueryDict's cost.

    What ``parse_qsl(…, keep_blank_values=True)`` gives, but only a field with a ``%`` or ``+`` is decoded (most
    of a streaming server's fields have neither: ``unquote`` per field was a third of the check's own time).
    More than ``MAX_QUERY_FIELDS`` fields raise ``ValueError``.
    """
    text = request.META.get("QUERY_STRING", "")
    if not text:
        return {}
    fields = text.split("&")
    if len(fields) > MAX_QUERY_FIELDS:
        raise ValueError("too many fields")
    found = {}
    for field in fields:
        if not field:
            continue
        name, _, value = field.partition("=")
        if "%" in field or "+" in field:
            name, value = unquote(name.replace("+", " ")), unquote(value.replace("+", " "))
        found[name] = value
    return found


def _caller(request, params) -> tuple[JsonResponse | None, ServerConfig | None]:
    """The streaming server calling, found by its key (each server's own, compared in constant time), or 403
    ``bad_key`` for a key no server has or an address outside that server's allow-list."""
    server = streaming_servers.by_key(params.get("key", ""))
    if server is None:
        return deny(BAD_KEY), None
    if server.allowed_ips and not server.allows_address(client_ip(request)):
        return error(403, BAD_KEY, "This address may not call the streaming endpoints."), None
    return None, server


@require_GET
def auth(request):
    """Flussonic's auth backend: 200 with ``X-UserId``/``X-AuthDuration``[/``X-Max-Sessions``] or 403.

    Each answer is counted (``catena_auth_checks_total``, ``catena_auth_check_seconds``) and names its portal and
    subscriber in the request's log context."""
    started = time.perf_counter()
    response, decision = _answer(request)
    if decision is None:  # a wrong key (403), a bad request (400) or the database unreachable (503)
        status, portal_id = response.status_code, None
        result, reason = ("refused", BAD_KEY) if status == 403 else ("error", _ERRORS.get(status, "error"))
    else:
        result, reason = ("allowed", "ok") if decision.allowed else ("refused", decision.reason)
        portal_id = decision.portal_id
        logs.identify(portal_id=portal_id, subscriber_id=decision.subscriber_id)
    prometheus.count_auth_check(portal_id, result, reason, time.perf_counter() - started)
    if playback_cache.deferred():  # a heartbeat or session start sent without waiting: read once this answer is out
        response._resource_closers.append(playback_cache.settle)
    return response


_ERRORS = {400: "bad_request", 503: "unavailable"}  # the reason label of an answer that is no decision


def _answer(request) -> tuple[HttpResponse, Decision | None]:
    """The answer to an auth check, and the decision behind it (None when none was reached: a bad request, a
    wrong key, a database failure)."""
    try:
        params = query_parameters(request)
    except ValueError:
        return error(400, "bad_request", "Too many query parameters."), None
    try:
        refused, server = _caller(request, params)
        if refused is not None:
            return refused, None
        decision = decide(params, server_id=server.id)
    except (OperationalError, InterfaceError):  # unreachable, connection lost: Flussonic's failure policy applies
        log.exception("auth check: database unavailable")
        return unavailable(), None
    except DatabaseError as exc:
        # Not an outage: the database refused something of this request (values.clean should leave no value it
        # refuses). A refusal, never 503, which a streamer set to allow on failure would take for "play it".
        log.log(logging.WARNING if isinstance(exc, DataError) else logging.ERROR,
                "auth check: the database refused the request; refused", exc_info=True)
        return deny(UNKNOWN_TOKEN), Decision(UNKNOWN_TOKEN)
    if not decision.allowed:
        return deny(decision.reason), decision
    response = HttpResponse(status=200, content_type="text/plain")
    if decision.subscriber_id is not None:  # None: an anonymous viewer (no X-UserId)
        response["X-UserId"] = encode_id(decision.subscriber_id)
    response["X-AuthDuration"] = str(settings.STREAMER_AUTH_DURATION)
    if decision.max_sessions:
        response["X-Max-Sessions"] = str(decision.max_sessions)
    return response, decision


@csrf_exempt
@require_POST
def events(request):
    """Flussonic's event sink: a JSON array of events (or one object); 204 once applied or buffered."""
    try:
        refused, server = _caller(request, request.GET)
    except DatabaseError:
        log.exception("events: database unavailable")
        return unavailable()
    if refused is not None:
        return refused
    try:
        body = json.loads(request.body)
    except RequestDataTooBig:
        return error(413, "too_large", "The batch is too large.")
    except (ValueError, UnicodeDecodeError):
        return error(400, "bad_json", "The body is not JSON.")
    except RecursionError:  # nested deeper than the parser goes; events are flat objects
        return error(400, "bad_json", "The body is nested too deeply.")
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list):
        return error(400, "bad_json", "Send a JSON array of events, or one event object.")
    try:
        receive_batch(body, request.body, server_id=server.id)
    except DatabaseError:
        log.exception("events: database unavailable")
        return unavailable()
    return HttpResponse(status=204)
