"""``POST /api/jsonrpc/`` (``authorize_user``) and ``POST /api/jsonsql/`` (``select``, ``insert``, ``update``,
``delete``).

Every answer is JSON-RPC 2.0 with HTTP 200, except a JSONSQL call without a live session or API key (401) and a
body over 1 MB (413); an error never leaves a 500 (``lifecycle.md`` §4).
"""

from __future__ import annotations

import json
import re

from django.core.exceptions import FieldError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, transaction
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from catena_site.errors import Invalid, RateLimited, Unauthorized
from catena_site.http import client_ip
from catena_site.ids import InvalidId, decode_id
from portals import services as portal_services
from portals.auth import Caller, caller_for_token, end_session
from portals.models import Portal
from portals.totp import SecondFactorRequired

from . import errors, writes
from .compiler import MAX_DEPTH, compile_select, depth, run
from .errors import JsonRpcError, invalid
from .limits import statement_timeout_ms, time_limit, timed_out
from .tables import Context

MAX_BODY = 1024 * 1024
WRITES = ("insert", "update", "delete")


def _answer(request_id, *, result=None, error: JsonRpcError | None = None, status: int = 200) -> JsonResponse:
    body = {"jsonrpc": "2.0", "id": request_id}
    if error is None:
        body["result"] = result
    else:
        body["error"] = {"code": error.code, "message": error.message}
    return JsonResponse(body, status=status, encoder=DjangoJSONEncoder, json_dumps_params={"ensure_ascii": False})


# A JSON string (kept as it is), or a comma after a value and before a closing bracket, whitespace around it
# allowed (the comma dropped, the whitespace kept).
STRING_OR_TRAILING_COMMA = re.compile(r'("(?:[^"\\]|\\.)*")|(?<=[\]}"0-9a-z.])(\s*),(?=\s*[\]}])', re.DOTALL)


def without_trailing_commas(text: str) -> str:
    """``text`` without the commas right before a ``]`` or ``}`` (whitespace between allowed), outside strings.

    IPTVPORTAL's own examples carry them (``{"eq": …},\n]``) and so do the billing scripts written from them;
    string contents are never changed (a ``,]`` inside a string stays)."""
    return STRING_OR_TRAILING_COMMA.sub(lambda match: match.group(1) or match.group(2), text)


def parse_body(body: bytes):
    """The JSON of a request body; trailing commas before ``]``/``}`` are accepted when strict JSON fails."""
    try:
        return json.loads(body or b"")
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise exc from None
        lenient = without_trailing_commas(text)
        if lenient == text:
            raise
        return json.loads(lenient)


def _call(request) -> tuple[object, str, object]:
    """``(id, method, params)`` of a JSON-RPC request, or a JsonRpcError (parse error, invalid request)."""
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > MAX_BODY:
        raise JsonRpcError(errors.INVALID_REQUEST, "The request body is larger than 1 MB.", status=413)
    try:
        call = parse_body(request.body)
    except (ValueError, RecursionError):
        raise JsonRpcError(errors.PARSE_ERROR, "The body is not valid JSON (or nests too deeply).") from None
    if not isinstance(call, dict):
        raise JsonRpcError(errors.INVALID_REQUEST, "Send one JSON-RPC request object (batches are not supported).")
    method = call.get("method")
    if call.get("jsonrpc") != "2.0" or not isinstance(method, str):
        raise JsonRpcError(errors.INVALID_REQUEST, 'A JSON-RPC 2.0 request needs "jsonrpc": "2.0" and a "method".')
    return call.get("id"), method, call.get("params", {})


def _request_id(request):
    if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY:
        return None
    try:
        call = parse_body(request.body)
    except (ValueError, RecursionError):
        return None
    return call.get("id") if isinstance(call, dict) and isinstance(call.get("id"), (str, int)) else None


# --- authorize_user --------------------------------------------------------------------------------------------


def _portal_named(request, params: dict) -> Portal | None:
    """The portal of ``?portalId`` (or ``params.portalId``), else the one whose domain is the Host; else None."""
    portal_id = request.GET.get("portalId") or params.get("portalId")
    if portal_id:
        try:
            portal = Portal.objects.filter(pk=decode_id(str(portal_id))).first()
        except InvalidId:
            portal = None
        if portal is None:
            raise invalid("portalId: no such portal.")
        return portal
    return Portal.objects.filter(domain=request.get_host().split(":")[0].lower()).first()


def _chosen(sessions, portal: Portal | None) -> str:
    """The session token for ``portal`` (or the only one); the other sessions just opened are ended."""
    chosen = [token for manager, token in sessions if portal is None or manager.portal_id == portal.id]
    for _, token in sessions:
        if len(chosen) != 1 or token != chosen[0]:
            end_session(token)
    if not chosen:
        raise JsonRpcError(errors.NOT_AUTHORIZED, portal_services.GENERIC_LOGIN_FAILURE)
    if len(chosen) > 1:
        raise invalid("This email manages several portals: name one with ?portalId= or the portal's Host.")
    return chosen[0]


def authorize_user(request, params) -> dict:
    """A manager session for ``{username (email), password[, totp]}`` on the portal the request names."""
    if not isinstance(params, dict):
        raise invalid("params: an object with username and password.")
    portal = _portal_named(request, params)
    try:
        sessions = portal_services.login(params.get("username"), params.get("password"), totp=params.get("totp"),
                                         ip=client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", ""))
    except SecondFactorRequired as exc:
        raise JsonRpcError(errors.SECOND_FACTOR, f"{exc.message} Send it as params.totp.") from None
    except RateLimited as exc:
        raise JsonRpcError(errors.TOO_MANY_ATTEMPTS, exc.message) from None
    except Unauthorized as exc:
        raise JsonRpcError(errors.NOT_AUTHORIZED, exc.message) from None
    except Invalid as exc:
        raise invalid(exc.message.replace("email", "username", 1)) from None
    if not sessions:
        raise JsonRpcError(errors.NOT_AUTHORIZED, portal_services.GENERIC_LOGIN_FAILURE)
    return {"session_id": _chosen(sessions, portal)}


@csrf_exempt
@require_POST
def jsonrpc(request):
    """``POST /api/jsonrpc/``: ``authorize_user``."""
    try:
        request_id, method, params = _call(request)
        if method != "authorize_user":
            raise JsonRpcError(errors.METHOD_NOT_FOUND, f"Unknown method: {method}. This endpoint has authorize_user.")
        return _answer(request_id, result=authorize_user(request, params))
    except JsonRpcError as exc:
        return _answer(_request_id(request), error=exc, status=exc.status)


# --- jsonsql --------------------------------------------------------------------------------------------------


def session_token(request) -> str | None:
    """The token of ``Iptvportal-Authorization: sessionid=<sid>`` (spaces around ``=`` allowed), else of
    ``X-Auth-Token``."""
    header = request.META.get("HTTP_IPTVPORTAL_AUTHORIZATION", "")
    name, equals, value = header.partition("=")
    if equals and name.strip().lower() == "sessionid" and value.strip():
        return value.strip()
    return request.META.get("HTTP_X_AUTH_TOKEN", "").strip() or None


def _caller(request) -> Caller:
    caller = caller_for_token(session_token(request))
    if caller is None:
        raise JsonRpcError(errors.NOT_AUTHORIZED,
                           "Log in first: send Iptvportal-Authorization: sessionid=<session_id of authorize_user>.",
                           status=401)
    portal_id = request.GET.get("portalId")
    if portal_id and portal_id != caller.portal.public_id:
        raise JsonRpcError(errors.NOT_AUTHORIZED, "portalId: this session belongs to another portal.", status=401)
    return caller


def select(caller: Caller, params) -> list:
    """Run a select on the caller's portal, read-only and within the statement timeout.

    The whole select is compiled (and refused, for a too-deep expression, a huge ``in`` list, an unknown name)
    before any query runs."""
    if depth(params) > MAX_DEPTH:
        raise invalid(f"params: expressions nest at most {MAX_DEPTH} levels deep.")
    timeout = statement_timeout_ms()
    try:
        compiled = compile_select(params, Context.of(caller.portal, timezone.now()))
        with transaction.atomic(), time_limit(timeout):
            return run(compiled)
    except FieldError as exc:
        raise invalid(f"The expression cannot be computed: {exc}") from None
    except (DatabaseError, OverflowError) as exc:  # OverflowError: SQLite's answer to an integer over 64 bits
        if timed_out(exc):
            raise JsonRpcError(errors.QUERY_FAILED, f"The select took longer than {timeout / 1000:g} s: narrow it "
                                                    "(a where on each table, a limit).") from None
        raise JsonRpcError(errors.QUERY_FAILED, "The database could not run this select (a value of the wrong "
                                                "type, a division by zero…).") from None


@csrf_exempt
@require_POST
def jsonsql(request):
    """``POST /api/jsonsql/``: ``select``, and ``insert``/``update``/``delete`` through the services."""
    request_id = None
    try:
        caller = _caller(request)
        request_id, method, params = _call(request)
        if method in WRITES:
            return _answer(request_id, result=writes.run(method, caller, params))
        if method != "select":
            raise JsonRpcError(errors.METHOD_NOT_FOUND, f"Unknown method: {method}.")
        return _answer(request_id, result=select(caller, params))
    except JsonRpcError as exc:
        return _answer(request_id if request_id is not None else _request_id(request), error=exc, status=exc.status)
