"""The route sweep: every URL of every URLconf, every method, every persona, the status each must get.

``ROUTES`` is the one table of who may do what (``management-api.md`` §2, ``client-api.md``, ``streaming.md``):
each row names a URL pattern, the permission each of its methods needs and the status a caller who has that
permission gets, and builds the URL's object from the shared world. ``test_every_route_has_a_row`` walks the
URL resolver, so a new route without a row fails CI.

The statuses, for a caller who lacks the permission:
- Management API: no valid ``X-Auth-Token`` → 401; a manager without the flag → 403; an object of another
  portal → 404 (exactly like a missing one).
- Screens: not logged in as a manager (anonymous, the API key, a subscriber, a system administrator) → 302 to
  ``/login/``; logged in without the flag → 403; another portal's object → 404.
- Client API: no subscriber bearer token / playback token → 401; another portal's object → 404.
- Streaming: no server key → 403 ``bad_key``; another server's key cannot authorize this portal's stream.
- Django admin: anyone but a system administrator → 302 to ``/admin/login/``.

A caller who has the permission gets the row's status: 200/201/204 on success, or — for a write sent with an
empty body — 400, which still proves that the permission check was passed (the refusal names a field, not a
permission). Every request runs in a savepoint rolled back at once, so a write never changes what the next
request sees; the world is built once for the module.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from types import SimpleNamespace
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import transaction
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from content import services as content
from content.models import EpgFetch, EpgSource, Program
from monitoring.models import PlaySession
from monitoring.operations import Delivery, Operation
from monitoring.webhooks import services as webhook_services
from portals import services as portal_services
from portals.auth import Caller
from portals.web_auth import SESSION_KEY
from subscribers import devices
from subscribers import services as subscribers
from subscribers.models import AppSession
from subscribers.sms_login import _token_hash
from tests.content.helpers import data_uri, image_bytes
from tests.factories import make_manager, make_portal, make_streaming_server, session_token

# --- Personas ---------------------------------------------------------------------------------------------

OWNER, API_KEY = "owner", "api_key"
IS_ADMIN, IS_CONTENT_ADMIN, IS_SUBSCRIBER_ADMIN, NO_FLAG = "isAdmin", "isContentAdmin", "isSubscriberAdmin", "no_flag"
OTHER_PORTAL, ANONYMOUS, SUBSCRIBER, STREAMER, SYSTEM_ADMIN = (
    "other_portal", "anonymous", "subscriber", "streamer", "system_admin")

PERSONAS = (OWNER, API_KEY, IS_ADMIN, IS_CONTENT_ADMIN, IS_SUBSCRIBER_ADMIN, NO_FLAG, OTHER_PORTAL, ANONYMOUS,
            SUBSCRIBER, STREAMER, SYSTEM_ADMIN)
MANAGERS = (OWNER, IS_ADMIN, IS_CONTENT_ADMIN, IS_SUBSCRIBER_ADMIN, NO_FLAG)  # logged in to the main portal's screens
FLAGS = (IS_ADMIN, IS_CONTENT_ADMIN, IS_SUBSCRIBER_ADMIN)

# --- Permissions, as the spec names them -------------------------------------------------------------------

PUBLIC = "public"  # anyone, no credentials
ANY_MANAGER = "any manager"  # API: any valid X-Auth-Token of the portal (API key or manager session)
SCREEN = "any manager (screens)"  # a manager logged in to the screens
BEARER = "subscriber bearer token"  # client API: Authorization: Bearer <app session>
PLAYBACK_TOKEN = "playback token"  # players: ?token=<playback_token>
STREAMER_KEY = "streamer key"  # ?key=<the streaming server's key>
SYSTEM = "system admin"  # Django's admin: a superuser
# /api/channels/admin (catalog.md §4): Authorization: Bearer <manager sessionId or generated token>, for a portal
# that enables it. No persona holds one (X-Auth-Token, cookies and app sessions are no token there): every one is
# refused with 401 and nothing written; tests/content/test_icareus.py covers the tokens.
ICAREUS = "Icareus bearer token"
# The Xtream Codes API (players.md §3), for a portal that enables it: a subscriber's login and player password in
# the query (``player_api.php`` answers everyone 200, with ``auth: 0`` for wrong credentials). The live/ and
# timeshift/ URLs carry them in their path: whoever holds such a URL plays (like a playlist URL), so those rows
# are public here; tests/xtream covers their refusals.
PLAYER_PASSWORD = "player login and password"


@dataclass(frozen=True)
class Flag:
    """A write that needs a flag; ``screen`` for the web screens (session login), else the Management API."""

    name: str
    screen: bool = False


def api(flag: str) -> Flag:
    return Flag(flag)


def screen(flag: str) -> Flag:
    return Flag(flag, screen=True)


@dataclass
class Route:
    """One URL pattern: ``methods`` maps each method to ``(permission, status for a caller who has it)``."""

    name: str  # the URL name (``namespace:name``), or the pattern itself for an unnamed one
    methods: dict[str, tuple]
    kwargs: Callable[[SimpleNamespace], dict] = lambda w: {}
    path: str | None = None  # for unnamed patterns: a URL they answer
    query: Callable[[SimpleNamespace, SimpleNamespace], dict] | None = None  # (world, persona) → query string
    body: Callable[[SimpleNamespace], dict] | None = None  # a write's body (default: empty)
    portal_object: bool | None = None  # the URL names an object of the main portal (default: it has kwargs)
    host: bool = False  # client API: reach the portal by its domain
    patterns: int = 1  # how many resolver patterns carry this name (2 when a format suffix is added, …)
    answers: dict[tuple[str, str], int] = field(default_factory=dict)  # (method, persona) → status, exceptions


def program_query(world, persona):
    return {"date": world.program_date}


def playback(world, persona):
    return {"token": persona.playback_token} if persona.playback_token else {}


def player_credentials(world, persona):
    return {"username": persona.player[0], "password": persona.player[1]} if persona.player else {}


def streamer_auth(world, persona):
    # the channel plays only in Finland (its location): the viewer is there
    query = {"name": world.channel_name, "token": world.playback_token, "ip": "192.0.2.10", "country": "FI",
             "proto": "hls", "session_id": "sweep-session", "request_type": "new_session", "request_number": 0}
    if persona.streamer_key:
        query["key"] = persona.streamer_key
    return query


def streamer_key(world, persona):
    return {"key": persona.streamer_key} if persona.streamer_key else {}


def pk(attribute):
    return lambda w: {"pk": getattr(w, attribute)}


ADMIN_MODELS = ("auth_group", "auth_user", "portals_portal", "portals_manager", "portals_streamingserver")


# What even a system administrator may not do in the admin (403): portals and managers are never deleted there
# (a tenant's data needs a service function), managers are created by their portal's admins.
ADMIN_REFUSED = {"portals_portal_delete", "portals_manager_add", "portals_manager_delete"}
# An empty POST: the add and change forms answer 200 with the form's errors, the delete page asks again (200);
# the manager's change form has only read-only fields, so it saves nothing and returns to the list (302).
ADMIN_EMPTY_POST = {"portals_manager_change": 302}


def admin_rows() -> list[Route]:
    rows = []
    for model in ADMIN_MODELS:
        obj = lambda w, model=model: {"object_id": w.admin_objects[model]}  # noqa: E731

        def methods(view, *, post=True, model=model):
            ok = 403 if f"{model}_{view}" in ADMIN_REFUSED else 200
            answer = {"GET": (SYSTEM, ok)}
            if post:
                answer["POST"] = (SYSTEM, 403 if ok == 403 else ADMIN_EMPTY_POST.get(f"{model}_{view}", 200))
            return answer

        rows += [
            Route(f"admin:{model}_changelist", {"GET": (SYSTEM, 200)}),
            Route(f"admin:{model}_add", methods("add")),
            Route(f"admin:{model}_history", {"GET": (SYSTEM, 200)}, obj, portal_object=False),
            Route(f"admin:{model}_delete", methods("delete"), obj, portal_object=False),
            Route(f"admin:{model}_change", methods("change"), obj, portal_object=False),
            # The bare object URL redirects to its change page, for everyone (the change page then checks).
            Route(f"admin/{model.replace('_', '/', 1)}/<path:object_id>/", {"GET": (PUBLIC, 302)},
                  path="/admin/{}/1/".format(model.replace("_", "/", 1))),
        ]
    return rows


ROUTES: list[Route] = [
    # --- Management API: portal, managers, login -------------------------------------------------------------
    Route("api-schema", {"GET": (PUBLIC, 200)}),
    Route("api:portal", {"GET": (ANY_MANAGER, 200), "PUT": (api(IS_ADMIN), 200)}),
    Route("api:portal-reset-api-key", {"POST": (api(IS_ADMIN), 200)}),
    Route("api:login", {"POST": (PUBLIC, 400)}),
    # Logout ends the session named by the token: a manager session → 204; the API key has no session to end.
    Route("api:logout", {"POST": (ANY_MANAGER, 204)}, answers={("POST", API_KEY): 400}),
    # My account: the calling manager's own; the API key has no account (403). Empty bodies are 400.
    Route("api:me", {"GET": (ANY_MANAGER, 200)}, answers={("GET", API_KEY): 403}),
    Route("api:me-password", {"POST": (ANY_MANAGER, 400)}, answers={("POST", API_KEY): 403}),
    Route("api:me-totp", {"POST": (ANY_MANAGER, 200), "DELETE": (ANY_MANAGER, 400)},
          answers={("POST", API_KEY): 403, ("DELETE", API_KEY): 403}),
    Route("api:me-totp-confirm", {"POST": (ANY_MANAGER, 400)}, answers={("POST", API_KEY): 403}),
    Route("api:manager-list", {"GET": (ANY_MANAGER, 200), "POST": (api(IS_ADMIN), 400)}),
    Route("api:manager-detail", {"GET": (ANY_MANAGER, 200), "PUT": (api(IS_ADMIN), 200),
                                 "DELETE": (api(IS_ADMIN), 201)}, pk("manager")),
    Route("api:portal-free-package", {"POST": (api(IS_ADMIN), 409), "DELETE": (api(IS_ADMIN), 201)},
          lambda w: {"package_id": w.free_package}),
    # --- Management API: content ----------------------------------------------------------------------------
    Route("api:channel-list", {"GET": (ANY_MANAGER, 200), "POST": (api(IS_CONTENT_ADMIN), 400)}),
    Route("api:channel-detail", {"GET": (ANY_MANAGER, 200), "PUT": (api(IS_CONTENT_ADMIN), 200),
                                 "DELETE": (api(IS_CONTENT_ADMIN), 201)}, pk("channel")),
    Route("api:channel-logo", {"GET": (ANY_MANAGER, 200)}, pk("channel")),
    Route("api:channel-logo-rendition", {"GET": (ANY_MANAGER, 200)}, lambda w: {"pk": w.channel, "size": "small"}),
    Route("api:package-list", {"GET": (ANY_MANAGER, 200), "POST": (api(IS_CONTENT_ADMIN), 400)}),
    Route("api:package-detail", {"GET": (ANY_MANAGER, 200), "PUT": (api(IS_CONTENT_ADMIN), 200),
                                 "DELETE": (api(IS_CONTENT_ADMIN), 409)}, pk("package")),
    Route("api:category-list", {"GET": (ANY_MANAGER, 200), "POST": (api(IS_CONTENT_ADMIN), 400)}),
    Route("api:category-detail", {"GET": (ANY_MANAGER, 200), "PUT": (api(IS_CONTENT_ADMIN), 200),
                                  "DELETE": (api(IS_CONTENT_ADMIN), 201)}, pk("category")),
    Route("api:location-list", {"GET": (ANY_MANAGER, 200), "POST": (api(IS_CONTENT_ADMIN), 400)}),
    Route("api:location-detail", {"GET": (ANY_MANAGER, 200), "PUT": (api(IS_CONTENT_ADMIN), 200),
                                  "DELETE": (api(IS_CONTENT_ADMIN), 409)}, pk("location")),  # a channel is restricted to it
    Route("api:channels-packages", {"POST": (api(IS_CONTENT_ADMIN), 400), "DELETE": (api(IS_CONTENT_ADMIN), 400)}),
    Route("api:epg-source-list", {"GET": (ANY_MANAGER, 200), "POST": (api(IS_CONTENT_ADMIN), 400)}),
    Route("api:epg-source-detail", {"GET": (ANY_MANAGER, 200), "PUT": (api(IS_CONTENT_ADMIN), 200),
                                    "DELETE": (api(IS_CONTENT_ADMIN), 201)}, pk("epg_source")),
    Route("api:epg-source-update", {"POST": (api(IS_CONTENT_ADMIN), 202)}, pk("epg_source")),
    Route("api:epg-source-channels", {"GET": (ANY_MANAGER, 200)}, pk("epg_source")),
    Route("api:epg-source-mapping", {"GET": (ANY_MANAGER, 200), "POST": (api(IS_CONTENT_ADMIN), 200)},
          pk("epg_source")),
    Route("api:epg-source-programs", {"GET": (ANY_MANAGER, 200)}, lambda w: {"source_pk": w.epg_source},
          query=program_query),
    Route("api:epg-fetch-list", {"GET": (ANY_MANAGER, 200)}),
    Route("api:epg-fetch-detail", {"GET": (ANY_MANAGER, 200)}, pk("epg_fetch")),
    # --- Management API: subscribers ------------------------------------------------------------------------
    Route("api:subscriber-list", {"GET": (ANY_MANAGER, 200), "POST": (api(IS_SUBSCRIBER_ADMIN), 400)}),
    Route("api:subscriber-detail", {"GET": (ANY_MANAGER, 200), "PUT": (api(IS_SUBSCRIBER_ADMIN), 200),
                                    "DELETE": (api(IS_SUBSCRIBER_ADMIN), 201)}, pk("subscriber")),
    Route("api:subscriber-disable", {"POST": (api(IS_SUBSCRIBER_ADMIN), 200)}, pk("subscriber")),
    Route("api:subscriber-enable", {"POST": (api(IS_SUBSCRIBER_ADMIN), 200)}, pk("subscriber")),
    Route("api:subscriber-reset-playback-token", {"POST": (api(IS_SUBSCRIBER_ADMIN), 200)}, pk("subscriber")),
    Route("api:subscriber-reset-player-password", {"POST": (api(IS_SUBSCRIBER_ADMIN), 200)}, pk("subscriber")),
    Route("api:packages-subscribers", {"POST": (api(IS_SUBSCRIBER_ADMIN), 400),
                                       "PUT": (api(IS_SUBSCRIBER_ADMIN), 400),
                                       "DELETE": (api(IS_SUBSCRIBER_ADMIN), 400)}),
    Route("api:device-list", {"GET": (ANY_MANAGER, 200), "POST": (api(IS_SUBSCRIBER_ADMIN), 400)}),
    Route("api:device-detail", {"GET": (ANY_MANAGER, 200), "PUT": (api(IS_SUBSCRIBER_ADMIN), 400),
                                "DELETE": (api(IS_SUBSCRIBER_ADMIN), 201)}, pk("device")),
    # --- Management API: monitoring -------------------------------------------------------------------------
    Route("api:operation-list", {"GET": (ANY_MANAGER, 200)}),
    Route("api:operation-detail", {"GET": (ANY_MANAGER, 200)}, pk("operation")),
    Route("api:play-session-list", {"GET": (ANY_MANAGER, 200)}),
    Route("api:play-session-detail", {"GET": (ANY_MANAGER, 200)}, pk("play_session")),
    Route("api:webhook-list", {"GET": (api(IS_ADMIN), 200), "POST": (api(IS_ADMIN), 400)}),
    Route("api:webhook-detail", {"GET": (api(IS_ADMIN), 200), "PUT": (api(IS_ADMIN), 200),
                                 "DELETE": (api(IS_ADMIN), 201)}, pk("webhook")),
    Route("api:webhook-deliveries", {"GET": (api(IS_ADMIN), 200)}, lambda w: {"webhook_pk": w.webhook}),
    Route("api:webhook-delivery-resend", {"POST": (api(IS_ADMIN), 200)},
          lambda w: {"webhook_pk": w.webhook, "delivery_pk": w.delivery}),
    # Unknown API paths: JSON 404 for everyone, before any authentication.
    Route("^tv-management/api/v1/", {"GET": (PUBLIC, 404)}, path="/tv-management/api/v1/no-such-thing"),
    # --- Schema page, health ----------------------------------------------------------------------------------
    Route("api-docs", {"GET": (PUBLIC, 200)}),
    # 200 when database, broker (and, where required, the worker) answer; 503 otherwise — never a permission.
    Route("healthz", {"GET": (PUBLIC, "health")}),
    # Prometheus: off here (no METRICS_TOKEN nor METRICS_ALLOWED_IPS), so 404 for everyone; the token and the
    # addresses are tested in tests/observability/test_metrics.py.
    Route("metrics", {"GET": (PUBLIC, 404)}),
    # --- Client API --------------------------------------------------------------------------------------------
    Route("client:sms-request", {"POST": (PUBLIC, 400)}, host=True),
    Route("client:sms-verify", {"POST": (PUBLIC, 400)}, host=True),
    Route("client:logout", {"POST": (BEARER, 204)}, host=True),
    Route("client:device-login", {"POST": (PUBLIC, 400)}, host=True),
    Route("client:devices", {"GET": (BEARER, 200)}, host=True),
    Route("client:device", {"DELETE": (BEARER, 201)}, lambda w: {"device_id": w.device}, host=True),
    Route("client:me", {"GET": (BEARER, 200)}, host=True),
    Route("client:channels", {"GET": (BEARER, 200)}, host=True),
    Route("client:categories", {"GET": (BEARER, 200)}, host=True),
    Route("client:programs", {"GET": (BEARER, 200)}, lambda w: {"channel_id": w.channel}, query=program_query,
          host=True),
    Route("client:logo", {"GET": (PUBLIC, 200)}, lambda w: {"channel_id": w.channel}, host=True),  # logos are public
    Route("client:playlist", {"GET": (PLAYBACK_TOKEN, 200)}, query=playback, host=True),
    Route("client:guide", {"GET": (PLAYBACK_TOKEN, 200)}, query=playback, host=True),
    Route("^tv/api/", {"GET": (PUBLIC, 404)}, path="/tv/api/v2/me"),
    # --- Xtream Codes API ----------------------------------------------------------------------------------------
    Route("xtream-player-api", {"GET": (PUBLIC, 200)}, query=player_credentials, host=True),
    Route("xtream-get", {"GET": (PLAYER_PASSWORD, 200)}, query=player_credentials, host=True),
    Route("xtream-xmltv", {"GET": (PLAYER_PASSWORD, 200)}, query=player_credentials, host=True),
    Route("xtream-live", {"GET": (PUBLIC, 302)}, lambda w: {"username": w.player_login, "password": w.player_password, "stream": w.stream_id, "ext": "ts"},
          host=True),
    Route("xtream-timeshift", {"GET": (PUBLIC, 302)},
          lambda w: {"username": w.player_login, "password": w.player_password, "minutes": "60", "start": w.shift_start, "stream": w.stream_id, "ext": "m3u8"},
          host=True),
    # --- IPTVPORTAL JSONSQL: JSON-RPC answers (an empty body is -32600 with 200); no session → 401 -----------------
    Route("api-jsonrpc", {"POST": (PUBLIC, 200)}),
    Route("api-jsonsql", {"POST": (ANY_MANAGER, 200)}),
    # --- Streaming server ----------------------------------------------------------------------------------------
    Route("streaming:flussonic-auth", {"GET": (STREAMER_KEY, 200)}, query=streamer_auth, portal_object=True),
    Route("streaming:flussonic-events", {"POST": (STREAMER_KEY, 204)}, query=streamer_key, body=lambda w: []),
    # --- Icareus-compatible channels endpoint ------------------------------------------------------------------
    Route("icareus-channels", {"GET": (ICAREUS, 200), "POST": (ICAREUS, 200)},
          query=lambda w, p: {"action": "getChannels", "organizationId": w.portal.id}),
    # --- Screens: login, dashboard, monitoring ---------------------------------------------------------------------
    Route("web:login", {"GET": (PUBLIC, 200), "POST": (PUBLIC, 400)},
          answers={("GET", persona): 302 for persona in (*MANAGERS, OTHER_PORTAL)}),  # a logged-in manager goes to the dashboard
    Route("web:choose-portal", {"GET": (PUBLIC, 302), "POST": (PUBLIC, 302)}),  # nothing pending: back to login
    Route("web:logout", {"POST": (PUBLIC, 302)}),
    Route("web:language", {"POST": (PUBLIC, 400)}),  # the header's switcher: no language given is refused
    Route("web:login-code", {"GET": (PUBLIC, 302), "POST": (PUBLIC, 302)}),  # no password step pending: to login
    # My account: each manager's own. A session ID that is not one of the caller's is a 404 (here: none is).
    Route("web:account", {"GET": (SCREEN, 200)}),
    Route("web:account-password", {"POST": (SCREEN, 400)}),
    Route("web:account-session-end", {"POST": (SCREEN, 404)}, lambda w: {"session_id": 2**31 - 1},
          portal_object=False),
    Route("web:account-sessions-end-others", {"POST": (SCREEN, 302)}),
    Route("web:account-2fa", {"GET": (SCREEN, 200), "POST": (SCREEN, 302)}),  # no action chosen: back to the page
    # Password reset by email: an empty request is a 400; a forged link, or a new password without an opened
    # link, is 410 for everyone (the account is reached only through a valid link, never through a login).
    Route("web:password-reset", {"GET": (PUBLIC, 200), "POST": (PUBLIC, 400)}),
    Route("web:password-reset-sent", {"GET": (PUBLIC, 200)}),
    Route("web:password-reset-link", {"GET": (PUBLIC, 410)}, lambda w: {"manager_id": w.manager, "token": "1-abc"},
          portal_object=False),
    Route("web:password-reset-set", {"GET": (PUBLIC, 410), "POST": (PUBLIC, 410)}, lambda w: {"manager_id": w.manager},
          portal_object=False),
    Route("monitoring:dashboard", {"GET": (SCREEN, 200)}),
    Route("monitoring:play-sessions", {"GET": (SCREEN, 200)}),
    Route("monitoring:play-session-history", {"GET": (SCREEN, 200)}),
    Route("monitoring:operation-list", {"GET": (SCREEN, 200)}),
    Route("monitoring:webhook-list", {"GET": (screen(IS_ADMIN), 200)}),
    Route("monitoring:webhook-create", {"GET": (screen(IS_ADMIN), 200), "POST": (screen(IS_ADMIN), 400)}),
    Route("monitoring:webhook-deliveries", {"GET": (screen(IS_ADMIN), 200)}, lambda w: {"webhook_id": w.webhook}),
    Route("monitoring:webhook-edit", {"GET": (screen(IS_ADMIN), 200), "POST": (screen(IS_ADMIN), 400)},
          lambda w: {"webhook_id": w.webhook}),
    Route("monitoring:webhook-delete", {"GET": (screen(IS_ADMIN), 200), "POST": (screen(IS_ADMIN), 302)},
          lambda w: {"webhook_id": w.webhook}),
    Route("monitoring:webhook-delivery-resend", {"GET": (screen(IS_ADMIN), 200), "POST": (screen(IS_ADMIN), 302)},
          lambda w: {"webhook_id": w.webhook, "delivery_id": w.delivery}),
    # --- Screens: portal and managers ---------------------------------------------------------------------------
    Route("web:portal-settings", {"GET": (SCREEN, 200), "POST": (screen(IS_ADMIN), 302)}),  # every field optional
    Route("web:portal-logo", {"GET": (SCREEN, 200)}),  # the caller's own portal's logo
    Route("web:reset-api-key", {"GET": (screen(IS_ADMIN), 200), "POST": (screen(IS_ADMIN), 302)}),
    Route("web:manager-list", {"GET": (SCREEN, 200)}),
    Route("web:manager-create", {"GET": (screen(IS_ADMIN), 200), "POST": (screen(IS_ADMIN), 400)}),
    Route("web:manager-edit", {"GET": (screen(IS_ADMIN), 200), "POST": (screen(IS_ADMIN), 400)},
          lambda w: {"manager_id": w.manager}),
    Route("web:manager-delete", {"GET": (screen(IS_ADMIN), 200), "POST": (screen(IS_ADMIN), 302)},
          lambda w: {"manager_id": w.manager}),
    # --- Screens: content -------------------------------------------------------------------------------------
    Route("content:channel-list", {"GET": (SCREEN, 200)}),
    Route("content:channel-create", {"GET": (screen(IS_CONTENT_ADMIN), 200), "POST": (screen(IS_CONTENT_ADMIN), 400)}),
    Route("content:channel-import", {"GET": (screen(IS_CONTENT_ADMIN), 200),
                                     "POST": (screen(IS_CONTENT_ADMIN), 400)}),
    Route("content:channel-import-example", {"GET": (SCREEN, 200)}),
    Route("content:channel-edit", {"GET": (SCREEN, 200), "POST": (screen(IS_CONTENT_ADMIN), 400)},
          lambda w: {"channel_id": w.channel}),
    Route("content:channel-logo", {"GET": (SCREEN, 200)}, lambda w: {"channel_id": w.channel}),
    Route("content:channel-delete", {"GET": (screen(IS_CONTENT_ADMIN), 200),
                                     "POST": (screen(IS_CONTENT_ADMIN), 302)}, lambda w: {"channel_id": w.channel}),
    Route("content:package-list", {"GET": (SCREEN, 200)}),
    Route("content:package-create", {"GET": (screen(IS_CONTENT_ADMIN), 200), "POST": (screen(IS_CONTENT_ADMIN), 400)}),
    Route("content:package-detail", {"GET": (SCREEN, 200), "POST": (screen(IS_CONTENT_ADMIN), 400)},
          lambda w: {"package_id": w.package}),
    Route("content:package-delete", {"GET": (screen(IS_CONTENT_ADMIN), 200),
                                     "POST": (screen(IS_CONTENT_ADMIN), 409)}, lambda w: {"package_id": w.package}),
    Route("content:category-list", {"GET": (SCREEN, 200)}),
    Route("content:category-create", {"GET": (screen(IS_CONTENT_ADMIN), 200),
                                      "POST": (screen(IS_CONTENT_ADMIN), 400)}),
    Route("content:category-edit", {"GET": (SCREEN, 200), "POST": (screen(IS_CONTENT_ADMIN), 400)},
          lambda w: {"category_id": w.category}),
    Route("content:category-move", {"POST": (screen(IS_CONTENT_ADMIN), 302)}, lambda w: {"category_id": w.category},
          body=lambda w: {"direction": "down"}),
    Route("content:category-delete", {"GET": (screen(IS_CONTENT_ADMIN), 200),
                                      "POST": (screen(IS_CONTENT_ADMIN), 302)}, lambda w: {"category_id": w.category}),
    Route("content:location-list", {"GET": (SCREEN, 200)}),
    Route("content:location-create", {"GET": (screen(IS_CONTENT_ADMIN), 200),
                                      "POST": (screen(IS_CONTENT_ADMIN), 400)}),
    Route("content:location-edit", {"GET": (SCREEN, 200), "POST": (screen(IS_CONTENT_ADMIN), 400)},
          lambda w: {"location_id": w.location}),
    Route("content:location-delete", {"GET": (screen(IS_CONTENT_ADMIN), 200),
                                      "POST": (screen(IS_CONTENT_ADMIN), 409)}, lambda w: {"location_id": w.location}),
    Route("content:package-channel-add", {"POST": (screen(IS_CONTENT_ADMIN), 302)},
          lambda w: {"package_id": w.package}, body=lambda w: {"channel": w.spare_channel}),
    Route("content:package-channel-remove", {"POST": (screen(IS_CONTENT_ADMIN), 302)},
          lambda w: {"package_id": w.package, "channel_id": w.channel}),
    Route("content:free-package-add", {"POST": (screen(IS_ADMIN), 302)}, body=lambda w: {"package": w.package},
          portal_object=True),
    Route("content:free-package-remove", {"GET": (screen(IS_ADMIN), 200), "POST": (screen(IS_ADMIN), 302)},
          lambda w: {"package_id": w.free_package}),
    Route("content:epg-source-list", {"GET": (SCREEN, 200)}),
    Route("content:epg-source-create", {"GET": (screen(IS_CONTENT_ADMIN), 200),
                                        "POST": (screen(IS_CONTENT_ADMIN), 400)}),
    Route("content:epg-source-detail", {"GET": (SCREEN, 200)}, lambda w: {"source_id": w.epg_source}),
    Route("content:epg-source-edit", {"GET": (screen(IS_CONTENT_ADMIN), 200),
                                      "POST": (screen(IS_CONTENT_ADMIN), 400)}, lambda w: {"source_id": w.epg_source}),
    Route("content:epg-source-delete", {"GET": (screen(IS_CONTENT_ADMIN), 200),
                                        "POST": (screen(IS_CONTENT_ADMIN), 302)}, lambda w: {"source_id": w.epg_source}),
    Route("content:epg-source-update", {"POST": (screen(IS_CONTENT_ADMIN), 302)},
          lambda w: {"source_id": w.epg_source}),
    Route("content:epg-source-mapping", {"GET": (SCREEN, 200), "POST": (screen(IS_CONTENT_ADMIN), 400)},
          lambda w: {"source_id": w.epg_source}),  # a POST naming no channel is refused
    # --- Screens: subscribers --------------------------------------------------------------------------------
    Route("subscribers:list", {"GET": (SCREEN, 200)}),
    Route("subscribers:create", {"GET": (screen(IS_SUBSCRIBER_ADMIN), 200),
                                 "POST": (screen(IS_SUBSCRIBER_ADMIN), 400)}),
    Route("subscribers:bulk", {"POST": (screen(IS_SUBSCRIBER_ADMIN), 302)}),
    Route("subscribers:bulk-extend", {"POST": (screen(IS_SUBSCRIBER_ADMIN), 302)}),
    Route("subscribers:import", {"GET": (screen(IS_SUBSCRIBER_ADMIN), 200),
                                 "POST": (screen(IS_SUBSCRIBER_ADMIN), 400)}),
    Route("subscribers:import-example", {"GET": (SCREEN, 200)}),
    Route("subscribers:card", {"GET": (SCREEN, 200)}, lambda w: {"subscriber_id": w.subscriber}),
    Route("subscribers:edit", {"GET": (screen(IS_SUBSCRIBER_ADMIN), 200), "POST": (screen(IS_SUBSCRIBER_ADMIN), 400)},
          lambda w: {"subscriber_id": w.subscriber}),
    Route("subscribers:delete", {"GET": (screen(IS_SUBSCRIBER_ADMIN), 200),
                                 "POST": (screen(IS_SUBSCRIBER_ADMIN), 302)}, lambda w: {"subscriber_id": w.subscriber}),
    Route("subscribers:block", {"POST": (screen(IS_SUBSCRIBER_ADMIN), 302)},
          lambda w: {"subscriber_id": w.subscriber}),
    Route("subscribers:token-reset", {"GET": (screen(IS_SUBSCRIBER_ADMIN), 200),
                                      "POST": (screen(IS_SUBSCRIBER_ADMIN), 302)},
          lambda w: {"subscriber_id": w.subscriber}),
    Route("subscribers:player-password-reset", {"GET": (screen(IS_SUBSCRIBER_ADMIN), 200),
                                                "POST": (screen(IS_SUBSCRIBER_ADMIN), 302)},
          lambda w: {"subscriber_id": w.subscriber}),
    Route("subscribers:apps-logout", {"GET": (screen(IS_SUBSCRIBER_ADMIN), 200),
                                      "POST": (screen(IS_SUBSCRIBER_ADMIN), 302)},
          lambda w: {"subscriber_id": w.subscriber}),
    Route("subscribers:extend", {"POST": (screen(IS_SUBSCRIBER_ADMIN), 302)},
          lambda w: {"subscriber_id": w.subscriber}),
    Route("subscribers:device-add", {"POST": (screen(IS_SUBSCRIBER_ADMIN), 400)},  # no MAC given
          lambda w: {"subscriber_id": w.subscriber}),
    Route("subscribers:device-rename", {"POST": (screen(IS_SUBSCRIBER_ADMIN), 302)},
          lambda w: {"subscriber_id": w.subscriber, "device_id": w.device}),
    Route("subscribers:device-remove", {"GET": (screen(IS_SUBSCRIBER_ADMIN), 200),
                                        "POST": (screen(IS_SUBSCRIBER_ADMIN), 302)},
          lambda w: {"subscriber_id": w.subscriber, "device_id": w.device}),
    Route("subscribers:package-add", {"POST": (screen(IS_SUBSCRIBER_ADMIN), 302)},
          lambda w: {"subscriber_id": w.subscriber}),
    Route("subscribers:package-remove", {"GET": (screen(IS_SUBSCRIBER_ADMIN), 200),
                                         "POST": (screen(IS_SUBSCRIBER_ADMIN), 302)},
          lambda w: {"subscriber_id": w.subscriber, "package_id": w.package}),
    # --- Django admin (system administrators) ----------------------------------------------------------------
    Route("admin-login", {"GET": (PUBLIC, 200), "POST": (PUBLIC, 200)},
          answers={("GET", SYSTEM_ADMIN): 302}),  # a signed-in system administrator goes to the index
    Route("admin:login", {"GET": (PUBLIC, 200)}, answers={("GET", SYSTEM_ADMIN): 302}),
    Route("admin:index", {"GET": (SYSTEM, 200)}),
    # Signs a system administrator out (200); anyone else is sent to the admin index (which asks to log in).
    Route("admin:logout", {"POST": (SYSTEM, 200)}, answers={("POST", persona): 302 for persona in PERSONAS
                                                            if persona != SYSTEM_ADMIN}),
    Route("admin:password_change", {"GET": (SYSTEM, 200), "POST": (SYSTEM, 200)}),
    Route("admin:password_change_done", {"GET": (SYSTEM, 200)}),
    Route("admin:autocomplete", {"GET": (SYSTEM, 403)}),  # without a valid field to complete: 403
    Route("admin:jsi18n", {"GET": (SYSTEM, 200)}),
    Route("admin:view_on_site", {"GET": (SYSTEM, 404)}, lambda w: {"content_type_id": 0, "object_id": 0},
          portal_object=False),
    Route("admin:app_list", {"GET": (SYSTEM, 200)}, lambda w: {"app_label": "portals"}, portal_object=False),
    Route("admin:auth_user_password_change", {"GET": (SYSTEM, 200), "POST": (SYSTEM, 200)},
          lambda w: {"id": w.admin_objects["auth_user"]}, portal_object=False),
    Route("admin:portals_manager_password", {"GET": (SYSTEM, 200), "POST": (SYSTEM, 200)},
          lambda w: {"manager_id": w.admin_objects["portals_manager"]}, portal_object=False),
    Route("admin/(?P<url>.*)$", {"GET": (SYSTEM, 404)}, path="/admin/no/such/page/"),
    *admin_rows(),
]

ROWS = {route.name: route for route in ROUTES}


# --- The resolver ---------------------------------------------------------------------------------------------


def _resolver_entries(patterns, prefix: str = "", namespace: str = ""):
    """(full pattern, name or that pattern) for every URL pattern, recursively through includes and routers."""
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = ":".join(part for part in (namespace, entry.namespace) if part)
            yield from _resolver_entries(entry.url_patterns, prefix + str(entry.pattern), inner)
        else:
            assert isinstance(entry, URLPattern)
            pattern = prefix + str(entry.pattern)
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            yield pattern, name or pattern


def test_every_route_has_a_row_and_every_row_a_route():
    counts: dict[str, int] = {}
    for _pattern, key in _resolver_entries(get_resolver().url_patterns):
        counts[key] = counts.get(key, 0) + 1
    missing = sorted(set(counts) - set(ROWS))
    assert not missing, f"routes without a row in ROUTES (add one, with its permission): {missing}"
    stale = sorted(set(ROWS) - set(counts))
    assert not stale, f"rows naming no route: {stale}"
    miscounted = {key: counts[key] for key, route in ROWS.items() if counts[key] != route.patterns}
    assert not miscounted, f"names with more patterns than their row sweeps (format suffixes?): {miscounted}"


# --- The world, built once ---------------------------------------------------------------------------------------


def _web_session(**values) -> str:
    store = import_module(django_settings.SESSION_ENGINE).SessionStore()
    store.update(values)
    store.save()
    return store.session_key


def _app_token(subscriber, name: str) -> str:
    token = f"sweep-app-token-{name}"
    now = dt.datetime.now(dt.UTC)
    AppSession.objects.create(token_hash=_token_hash(token), subscriber=subscriber, full_phone=subscriber.full_phone,
                              last_seen_at=now, expires_at=now + dt.timedelta(days=1))
    return token


def _portal_content(portal, name: str):
    """A portal logo; a channel with a logo in a package, a subscriber of it, an EPG source with a fetch and a
    programme; a free package; a play session."""
    caller = Caller(portal=portal)
    portal_services.update_portal(portal, caller=caller, data={"branding": {"logo": data_uri(image_bytes())}})
    source = EpgSource.objects.create(portal=portal, name=f"{name}.epg", url="https://epg.example.com/guide.xml")
    category = content.create_category(portal, caller=caller, data={"name": f"{name}-news", "title": "News"})
    content.create_category(portal, caller=caller, data={"name": f"{name}-sport", "title": "Sport"})
    location = content.create_location(portal, caller=caller, data={"name": f"{name}-fi", "title": "Finland",
                                                                    "countries": ["FI"]})
    channel = content.create_channel(portal, caller=caller, data={
        "name": f"{name}-news", "title": "News", "logo": image_bytes(), "epgSourceName": source.name,
        "epgChannelName": "news.example", "categories": [category.public_id], "locationRestrictions": [location.public_id],
        "archiveDays": 7})
    package = content.create_package(portal, caller=caller, data={"name": f"{name}-basic"})
    content.add_channel_to_package(package, channel, caller=caller)
    free = content.create_package(portal, caller=caller, data={"name": f"{name}-free"})
    content.add_free_package(free, caller=caller)
    subscriber = subscribers.create_subscriber(portal, caller=caller, data={
        "name": "Alice", "phoneCountryCode": "1", "phone": "2345678901" if name == "main" else "2345678902"})
    subscribers.subscribe(subscriber, package, caller=caller)
    device = devices.add_device(portal, caller=caller, data={"subscriberId": subscriber.public_id, "kind": "player",
                                                             "uid": f"{name}-tv"})
    fetch = EpgFetch.objects.create(portal=portal, epg_source=source, job_id=f"sweep-{name}", status="success")
    start = dt.datetime(2026, 1, 10, 10, 0, tzinfo=dt.UTC)
    Program.objects.create(portal=portal, epg_source=source, epg_channel_name="news.example", start=start,
                           end=start + dt.timedelta(hours=1), title="Morning news", content_hash=1)
    session = PlaySession.objects.create(
        portal=portal, subscriber_id=subscriber.id, channel_id=channel.id, channel_name=channel.name,
        streamer_session_id=f"sweep-{name}", token=subscriber.playback_token, opened_at=start, updated_at=start,
        ip="192.0.2.1")
    return SimpleNamespace(source=source, channel=channel, package=package, free=free, subscriber=subscriber,
                           fetch=fetch, session=session, category=category, location=location, device=device)


def _build_world():
    main = make_portal("sweep-main")
    portal_services.update_portal(main, caller=Caller(portal=main), data={"settings": {"xtreamApi": True}})
    other = make_portal("sweep-other", streaming_server=make_streaming_server("sweep-other-server"))
    managers = {
        OWNER: main.owner,
        IS_ADMIN: make_manager(main, "flag-admin@example.com", is_admin=True),
        IS_CONTENT_ADMIN: make_manager(main, "flag-content@example.com", is_content_admin=True),
        IS_SUBSCRIBER_ADMIN: make_manager(main, "flag-subscribers@example.com", is_subscriber_admin=True),
        NO_FLAG: make_manager(main, "no-flag@example.com"),
    }
    target = make_manager(main, "target@example.com", name="Target")  # the manager the manager rows act on
    ours, theirs = _portal_content(main, "main"), _portal_content(other, "other")
    spare = content.create_channel(main, caller=Caller(portal=main), data={"name": "main-spare", "title": "Spare"})
    superuser = get_user_model().objects.create_superuser("root", "root@example.com", "Root-Pass-2024!")
    admin_client = Client()
    admin_client.force_login(superuser)

    personas = {name: SimpleNamespace(name=name, token=None, web=None, bearer=None, playback_token=None,
                                      streamer_key=None, admin_session=None, player=None) for name in PERSONAS}
    for name, manager in managers.items():
        personas[name].token = session_token(manager)
        personas[name].web = _web_session(**{SESSION_KEY: session_token(manager)})
    personas[API_KEY].token = main.api_key
    stranger = personas[OTHER_PORTAL]  # everything the other portal has: its owner, subscriber and server
    stranger.token = session_token(other.owner)
    stranger.web = _web_session(**{SESSION_KEY: session_token(other.owner)})
    stranger.bearer = _app_token(theirs.subscriber, "other")
    stranger.playback_token = theirs.subscriber.playback_token
    stranger.player = (theirs.subscriber.login, theirs.subscriber.player_password)
    stranger.streamer_key = "sweep-other-server-key"
    personas[SUBSCRIBER].bearer = _app_token(ours.subscriber, "main")
    personas[SUBSCRIBER].playback_token = ours.subscriber.playback_token
    personas[SUBSCRIBER].player = (ours.subscriber.login, ours.subscriber.player_password)
    personas[STREAMER].streamer_key = "sweep-streamer-key"
    personas[SYSTEM_ADMIN].admin_session = admin_client.cookies[django_settings.SESSION_COOKIE_NAME].value

    operation = Operation.objects.filter(portal=main).order_by("-id").first()
    webhook = webhook_services.create_webhook(main, caller=Caller(portal=main),
                                              data={"url": "https://billing.example.com/catena"})
    # The delivery of an operation recorded before the webhook existed: what its outbox would have queued.
    delivery = Delivery.objects.create(portal=main, webhook=webhook, operation=operation, type=operation.type,
                                       next_at=operation.created_at, retry_from=operation.created_at,
                                       created_at=operation.created_at)
    world = SimpleNamespace(
        portal=main, other=other, personas=personas, domain=main.domain,
        manager=target.public_id, channel=ours.channel.public_id, channel_name=ours.channel.name,
        package=ours.package.public_id, free_package=ours.free.public_id, subscriber=ours.subscriber.public_id,
        playback_token=ours.subscriber.playback_token, epg_source=ours.source.public_id,
        epg_fetch=ours.fetch.public_id, spare_channel=spare.public_id, epg_source_name=ours.source.name, operation=operation.public_id, play_session=ours.session.public_id,
        webhook=webhook.public_id, delivery=delivery.public_id,
        program_date="2026-01-10", category=ours.category.public_id, location=ours.location.public_id,
        device=ours.device.public_id, stream_id=str(ours.channel.id),
        player_login=ours.subscriber.login, player_password=ours.subscriber.player_password,
        shift_start=f"{dt.datetime.now(dt.UTC) - dt.timedelta(hours=1):%Y-%m-%d:%H-%M}",
        admin_objects={"auth_group": Group.objects.create(name="operators").pk, "auth_user": superuser.pk, "portals_portal": main.pk,
            "portals_manager": target.pk, "portals_streamingserver": make_streaming_server("sweep-spare-server").pk},
    )
    return world


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """The world, in a transaction rolled back when the module ends (each test runs in a savepoint of it)."""
    with django_db_blocker.unblock(), override_settings(
        PASSWORD_HASHERS=["tests.hashers.FastArgon2PasswordHasher"], STREAMER_KEY="sweep-streamer-key",
        STREAMER_ALLOWED_IPS=[], STREAMER_API_URL="",
    ):
        with transaction.atomic():
            built = _build_world()
            yield built
            transaction.set_rollback(True)


# --- The sweep ---------------------------------------------------------------------------------------------------


def _holds(persona: str, flag: Flag) -> bool:
    if persona in (OWNER, flag.name):
        return True
    return persona == API_KEY and not flag.screen


def _public(persona: str, ok: int, portal_object: bool):
    return ok, None


def _system_admin(persona: str, ok: int, portal_object: bool):
    return (ok, None) if persona == SYSTEM_ADMIN else (302, "/admin/login/")


def _streaming_server(persona: str, ok: int, portal_object: bool):
    if persona == STREAMER or (persona == OTHER_PORTAL and not portal_object):
        return ok, None
    return 403, None  # bad_key; or another server's key asking about this portal's stream and token


def _subscriber(persona: str, ok: int, portal_object: bool):
    if persona == SUBSCRIBER:
        return ok, None
    if persona == OTHER_PORTAL:
        return (404 if portal_object else ok), None
    return 401, None


def _manager(permission, persona: str, ok: int, portal_object: bool):
    """A Management API or screen route: any manager of the portal (the API key too, on the API), or a flag."""
    screen_route = permission == SCREEN or (isinstance(permission, Flag) and permission.screen)
    members = MANAGERS if screen_route else (*MANAGERS, API_KEY)
    if persona == OTHER_PORTAL:
        # The other portal's owner holds every flag there; here it reaches only its own objects.
        return (404 if portal_object else ok), None
    if persona not in members:
        return (302, "/login/") if screen_route else (401, None)
    if isinstance(permission, Flag) and not _holds(persona, permission):
        return 403, None
    return ok, None


# The status for each permission that is not a manager's: (persona, status if held, names an object) → answer.
NOT_A_MANAGER = {PUBLIC: _public, SYSTEM: _system_admin, STREAMER_KEY: _streaming_server, BEARER: _subscriber,
                 PLAYBACK_TOKEN: _subscriber, ICAREUS: lambda persona, ok, portal_object: (401, None),
                 PLAYER_PASSWORD: lambda persona, ok, portal_object: (ok if persona == SUBSCRIBER else 401, None)}


def expected(route: Route, method: str, persona: str):
    """The status ``persona`` must get, and the redirect target when it is a login redirect."""
    if (method, persona) in route.answers:
        return route.answers[(method, persona)], None
    permission, ok = route.methods[method]
    portal_object = route.portal_object if route.portal_object is not None else bool(route.kwargs(None_world))
    answer = NOT_A_MANAGER.get(permission)
    if answer is not None:
        return answer(persona, ok, portal_object)
    return _manager(permission, persona, ok, portal_object)


class _KwargsProbe:
    """Stands for the world when asking a row whether its URL names an object (its kwargs are non-empty)."""

    def __getattr__(self, name):
        return {} if name == "admin_objects" else "x"


None_world = _KwargsProbe()


def _login_redirect(response, login_path: str) -> bool:
    """Whether ``response`` sends the caller to ``login_path`` with ``?next=`` back to the requested URL."""
    target = urlsplit(response.get("Location", ""))
    requested = response.wsgi_request.get_full_path()
    return target.path == login_path and parse_qs(target.query).get("next") == [requested]


def _written() -> int:
    """Operations (every change records one) and EPG fetch requests (which record none)."""
    return Operation.objects.count() + EpgFetch.objects.count()


def refused(route: Route, method: str, persona: str) -> bool:
    """Whether ``persona`` lacks the permission (or reaches another portal's object): nothing may change."""
    if (method, persona) in route.answers:
        return False
    permission, ok = route.methods[method]
    return permission != PUBLIC and expected(route, method, persona)[0] != ok


def _client(world, persona) -> Client:
    client = Client()
    if persona.web:
        client.cookies[django_settings.SESSION_COOKIE_NAME] = persona.web
    if persona.admin_session:
        client.cookies[django_settings.SESSION_COOKIE_NAME] = persona.admin_session
    return client


def _request(world, route: Route, method: str, persona) -> object:
    path = route.path or reverse(route.name, kwargs=route.kwargs(world))
    query = route.query(world, persona) if route.query else {}
    headers = {}
    if persona.token:
        headers["X-Auth-Token"] = persona.token
    if persona.bearer:
        headers["Authorization"] = f"Bearer {persona.bearer}"
    extra = {"HTTP_HOST": world.domain} if route.host else {}
    client = _client(world, persona)
    if method == "GET":
        return client.get(path, query, headers=headers, **extra)
    url = f"{path}?{urlencode(query)}" if query else path
    api_like = route.name.startswith(("api", "client", "streaming"))
    if api_like:
        body = json.dumps(route.body(world) if route.body else {})
        return client.generic(method, url, body, content_type="application/json", headers=headers, **extra)
    form = urlencode(route.body(world)) if route.body else ""
    return client.generic(method, url, form, content_type="application/x-www-form-urlencoded", headers=headers,
                          **extra)


def _health_status(world) -> int:
    return Client().get("/healthz").status_code


@pytest.mark.parametrize("route", ROUTES, ids=[route.name for route in ROUTES])
def test_every_persona_gets_the_documented_status(route, world, db):
    wrong = []
    for method in route.methods:
        for name in PERSONAS:
            want, location = expected(route, method, name)
            if want == "health":
                want = _health_status(world)
                assert want in (200, 503)
            with transaction.atomic():
                before = _written()
                response = _request(world, route, method, world.personas[name])
                recorded = _written() - before
                transaction.set_rollback(True)
            cache.clear()  # throttles and cached decisions start afresh too
            got = response.status_code
            if got != want or (location and not _login_redirect(response, location)):
                wrong.append(f"{method} as {name}: expected {want}{' → ' + location if location else ''}, "
                             f"got {got} {response.get('Location', '')}".rstrip())
            elif refused(route, method, name) and recorded:
                wrong.append(f"{method} as {name}: refused with {got} but wrote {recorded} operation(s) or fetch(es)")
            elif got == 403 and isinstance(route.methods[method][0], Flag):
                flag = route.methods[method][0].name
                if flag not in response.content.decode():
                    wrong.append(f"{method} as {name}: the 403 does not name the {flag} permission")
    assert not wrong, f"{route.name}:\n  " + "\n  ".join(wrong)


# Who holds every permission of a kind: the persona that asks about methods the row does not list.
FULL_HOLDER = {PUBLIC: ANONYMOUS, ANY_MANAGER: OWNER, SCREEN: OWNER, BEARER: SUBSCRIBER, PLAYBACK_TOKEN: SUBSCRIBER,
               STREAMER_KEY: STREAMER, ICAREUS: ANONYMOUS, PLAYER_PASSWORD: SUBSCRIBER}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# Django's admin and the catch-alls answer every method themselves (their rows list the ones that matter).
OWN_METHODS = [route for route in ROUTES if route.path is None and not route.name.startswith(("admin", "api-docs"))]


@pytest.mark.parametrize("route", OWN_METHODS, ids=[route.name for route in OWN_METHODS])
def test_a_method_without_a_row_is_not_allowed(route, world, db):
    """The rows list every method a route answers: any other gets 405 even from a caller holding every flag."""
    permission = next(iter(route.methods.values()))[0]
    persona = world.personas[OWNER if isinstance(permission, Flag) else FULL_HOLDER[permission]]
    answered = {}
    for method in METHODS:
        if method in route.methods:
            continue
        with transaction.atomic():
            answered[method] = _request(world, route, method, persona).status_code
            transaction.set_rollback(True)
        cache.clear()
    assert answered == dict.fromkeys(answered, 405)
