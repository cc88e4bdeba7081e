"""Poison values in every documented field and filter of the Management API.

Each write operation and each list of the OpenAPI schema gets every poison value in every field or query
parameter. The answer is a 4xx JSON body naming the field (or, for values some fields accept, a success) and
nothing is stored: never a 500, never the HTML error page. The tables below are checked against the schema,
so a new field or filter that is not poisoned here fails ``test_the_tables_cover_every_documented_…``.
Run on SQLite and on PostgreSQL: NUL and lone surrogates fail differently on each.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from functools import cache

import pytest
from django.apps import apps
from drf_spectacular.generators import SchemaGenerator

from content import services as content_services
from content.epg import services as epg_services
from content.models import Channel
from monitoring.operations import Operation
from monitoring.webhooks import services as webhook_services
from portals import account
from portals.auth import Caller, caller_for_token
from portals.models import Manager
from subscribers import devices
from subscribers import services as subscriber_services
from subscribers.models import Subscriber
from tests.conftest import API, api_client
from tests.factories import PASSWORD, make_manager, session_token, totp_code

DEEP = "[" * 10_000 + "]" * 10_000

# Raw JSON, written into the body as a client would send it (a lone surrogate and 1e400 cannot be built
# with json.dumps from Python values that mean the same).
BODY_POISONS = {
    "nul": '"a\\u0000b"',
    "surrogate": '"a\\ud800b"',
    "deep": DEEP,
    "number": "5",
    "list": '["x"]',
    "object": '{"a": "b"}',
    "huge": "1" + "0" * 30,
    "infinite": "1e400",
    "empty": '""',
}
# Which poisons a field of each schema type may accept (then the answer is a success, with the value stored
# as sent); every other one must be refused with 400 naming the field.
ACCEPTABLE = {
    "string": {"empty"},
    "boolean": set(),
    "integer": {"number"},
    "object": {"object"},
}
MAYBE = {"empty"}  # refused or accepted, as the field's rule says; never a 500

# Keys inside the object-valued fields of PUT /portal (management-api.md §3).
NESTED = {
    "branding": {"logo": "string", "title": "string", "description": "string"},
    "settings": {"autoCreateSubscribers": "boolean", "maxSessionsPerSubscriber": "integer",
                 "smsTemplate": "string", "streamBaseUrl": "string", "require2fa": "boolean"},
}

# One valid body per write operation; ``{…}`` in a path is the ID of an object made by ``targets``.
WRITES = {
    ("post", "/login"): {"email": "{owner_email}", "password": PASSWORD},
    ("put", "/portal"): {"name": "main-portal", "domain": "main-portal.example.com",
                         "branding": {"title": "T", "description": "D", "logo": None},
                         "settings": {"autoCreateSubscribers": True, "maxSessionsPerSubscriber": 3,
                                      "smsTemplate": "Code {{code}}", "streamBaseUrl": "https://tv.example.com"}},
    ("post", "/managers"): {"email": "new@example.com", "name": "New", "password": "Vq7#mLp2-Xr9!tZk",
                            "isAdmin": False, "isContentAdmin": True, "isSubscriberAdmin": False},
    ("put", "/managers/{manager}"): {"email": "viewer2@example.com", "name": "Viewer", "password": "Vq7#mLp2-Xr9!tZk",
                                     "isAdmin": False, "isContentAdmin": True, "isSubscriberAdmin": False},
    ("post", "/channels"): {"name": "sport", "title": "Sport", "epgSourceName": "main-epg",
                            "epgChannelName": "sport.tv", "logo": None},
    ("put", "/channels/{channel}"): {"name": "news", "title": "News 2", "epgSourceName": "main-epg",
                                     "epgChannelName": "news.tv", "logo": None},
    ("post", "/packages"): {"name": "extra", "description": "Extra"},
    ("put", "/packages/{package}"): {"name": "basic", "description": "Basic 2"},
    ("post", "/categories"): {"name": "sport", "title": "Sport", "position": 2},
    ("put", "/categories/{category}"): {"name": "news", "title": "News 2", "position": 1},
    ("post", "/locations"): {"name": "se", "title": "Sweden", "countries": ["SE"], "networks": ["192.0.2.0/24"]},
    ("put", "/locations/{location}"): {"name": "fi", "title": "Finland 2", "countries": ["FI", "AX"],
                                       "networks": ["2001:db8::/32"]},
    ("post", "/channels-packages"): {"channelId": "{channel}", "packageId": "{package}", "portalId": "{portal}"},
    ("delete", "/channels-packages"): {"channelId": "{linked_channel}", "packageId": "{package}",
                                       "portalId": "{portal}"},
    ("post", "/subscribers"): {"name": "Bob", "phoneCountryCode": "1", "phone": "5550002"},
    ("put", "/subscribers/{subscriber}"): {"name": "Ann 2", "phoneCountryCode": "1", "phone": "5550003"},
    ("post", "/subscribers/{subscriber}/reset_player_password"): {"playerPassword": "Kodi-2027!"},
    ("post", "/packages-subscribers"): {"subscriberId": "{subscriber}", "packageId": "{package}",
                                        "portalId": "{portal}"},
    ("put", "/packages-subscribers"): {"subscriberId": "{subscribed}", "packageId": "{package}",
                                       "portalId": "{portal}", "startsAt": "2026-01-01",
                                       "expiresAt": "2030-01-01T00:00:00Z"},
    ("delete", "/packages-subscribers"): {"subscriberId": "{subscribed}", "packageId": "{package}",
                                          "portalId": "{portal}"},
    ("post", "/devices"): {"subscriberId": "{subscriber}", "kind": "player", "uid": "tv-1", "name": "TV"},
    ("put", "/devices/{device}"): {"name": "Box 2"},
    ("post", "/webhooks"): {"url": "http://93.184.216.34/hook", "types": ["createSubscriber"], "active": True},
    ("put", "/webhooks/{webhook}"): {"url": "http://93.184.216.34/other", "types": [], "active": False},
    ("post", "/epg-sources"): {"name": "second-epg", "url": "http://127.0.0.1:9/guide.xml", "period": 2},
    ("put", "/epg-sources/{source}"): {"name": "main-epg", "url": "http://127.0.0.1:9/other.xml", "period": 3},
    ("post", "/epg-sources/{source}/mapping"): {"accept": [{"channelId": "{channel}", "epgChannelName": "news.tv"}],
                                                "acceptAll": False},
    # My account, as the owner's session (the API key has no account); an enrolment is waiting for its code.
    ("post", "/me/totp/confirm"): {"code": "{totp_code}"},
    ("delete", "/me/totp"): {"code": "{next_totp_code}"},
    ("post", "/me/password"): {"currentPassword": PASSWORD, "newPassword": "Vq7#mLp2-Xr9!tZk"},
}
# Request bodies the schema does not describe (DELETE with a body): the same shape as their POST.
UNDOCUMENTED_BODY = {("delete", "/channels-packages"): ("post", "/channels-packages"),
                     ("delete", "/packages-subscribers"): ("post", "/packages-subscribers"),
                     ("delete", "/me/totp"): ("post", "/me/totp/confirm")}
# Fields of that POST the DELETE does not take (it ends the subscription whatever its period).
NOT_IN_UNDOCUMENTED_BODY = {("delete", "/packages-subscribers"): {"startsAt", "expiresAt"}}

QUERY_POISONS = {
    "percent": "%",
    "bad-escape": "%zz",
    "percent-sign": "%25",
    "like-wildcards": "%25_%5C",
    "nul": "%00",
    "surrogate-bytes": "%ED%A0%80",
    "far-future": "9999-12-31T23:59:59-23:59",
    "far-past": "0001-01-01T00:00:00%2B23:59",
    "offset-beyond-postgresql": "2024-01-01T00:00:00%2B20:00",
    "last-day": "9999-12-31",
    "huge": "9" * 30,
    "too-many-digits": "9" * 5000,
    "negative": "-1",
    "empty": "",
}
# Lists and the objects their path needs.
LISTS = {
    "/managers": {}, "/channels": {}, "/packages": {}, "/subscribers": {}, "/epg-sources": {},
    "/epg-fetches": {}, "/operations": {}, "/play-sessions": {}, "/epg-sources/{source}/programs": {},
    "/categories": {}, "/locations": {}, "/devices": {}, "/webhooks": {}, "/webhooks/{webhook}/deliveries": {},
}
def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


CURSOR_POISONS = {
    "deep": _cursor(DEEP),
    "nul": _cursor('["\\u0000", "\\u0000"]'),
    "surrogate": _cursor('["\\ud800", "\\ud800"]'),
    "huge-numbers": _cursor(f'[{"9" * 30}, {"9" * 30}]'),
    "far-dates": _cursor('["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"]'),
    "offsets": _cursor('["2024-01-01T00:00:00+20:00", "2024-01-01T00:00:00+20:00"]'),
    "objects": _cursor('[{"a": 1}, [1]]'),
    "infinite": _cursor("[1e400, 1e400]"),
    "not-json": "%zz",
}


@cache
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def _api_path(path: str) -> str:
    return path.removeprefix(API).rstrip("/")


def _resolve(node: dict) -> dict:
    if "$ref" in node:
        return schema()["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def documented_writes() -> dict[tuple[str, str], dict[str, str]]:
    """``(method, path) → {field: type}`` of every Management API operation with a JSON body."""
    out = {}
    for path, operations in schema()["paths"].items():
        if not path.startswith(API):
            continue
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                properties = _resolve(body["schema"]).get("properties", {})
                out[(method, _api_path(path))] = {name: _resolve(spec).get("type", "string")
                                                  for name, spec in properties.items()
                                                  if not spec.get("readOnly")}
    return out


def documented_filters() -> dict[str, dict[str, str]]:
    """``path → {query parameter: type}`` of every paginated list of the Management API."""
    out = {}
    for path, operations in schema()["paths"].items():
        parameters = operations.get("get", {}).get("parameters", [])
        names = {p["name"]: p["schema"].get("type", "string") for p in parameters if p["in"] == "query"}
        if path.startswith(API) and "cursor" in names:
            out[_api_path(path)] = names
    return out


def _generic(path: str) -> str:
    """``/channels/{id}`` as the tables write it (``/channels/{channel}``)."""
    if path in WRITES_PATHS or path in LISTS:
        return path
    parts = path.split("/")
    for table_path in (*WRITES_PATHS, *LISTS):  # the same words where the table has no placeholder
        table_parts = table_path.split("/")
        if len(table_parts) == len(parts) and all(
                mine == theirs or (mine.startswith("{") and theirs.startswith("{"))
                for mine, theirs in zip(table_parts, parts, strict=True)):
            return table_path
    for table_path in (*WRITES_PATHS, *LISTS):
        if table_path.split("/")[1] == path.split("/")[1] and table_path.count("/") == path.count("/"):
            return table_path
    return path


WRITES_PATHS = {path for _, path in WRITES}


def write_cases():
    """One case per (operation, field); each sends every poison in turn (a case per poison took minutes)."""
    cases = []
    documented = documented_writes()
    for (method, path), fields in sorted(documented.items()):
        key = (method, _generic(path))
        for field, kind in fields.items():
            for sub, sub_kind in [(None, kind), *NESTED.get(field, {}).items()]:
                name = f"{field}.{sub}" if sub else field
                cases.append(pytest.param(key, name, sub_kind, id=f"{method}-{key[1]}-{name}"))
    for key, like in UNDOCUMENTED_BODY.items():
        for field, kind in documented[(like[0], _generic_documented(like[1], documented))].items():
            if field in NOT_IN_UNDOCUMENTED_BODY.get(key, ()):
                continue
            cases.append(pytest.param(key, field, kind, id=f"{key[0]}-{key[1]}-{field}"))
    return cases


def _generic_documented(path: str, documented) -> str:
    return next(p for _, p in documented if _generic(p) == path)


def filter_cases():
    cases = []
    for path, parameters in sorted(documented_filters().items()):
        generic = _generic(path)
        for name, kind in parameters.items():
            if name != "cursor":
                cases.append(pytest.param(generic, name, kind, id=f"{generic}-{name}"))
    return cases


# --- data ---------------------------------------------------------------------------------------------------


@pytest.fixture
def targets(portal):
    """One object of each kind, made through the services, as ``{placeholder: value}`` for the tables."""
    caller = Caller(portal=portal)
    source = epg_services.create_epg_source(portal, caller=caller,
                                            data={"name": "main-epg", "url": "http://127.0.0.1:9/guide.xml"})
    channel = content_services.create_channel(portal, caller=caller, data={"name": "news", "title": "News"})
    linked = content_services.create_channel(portal, caller=caller, data={"name": "linked", "title": "Linked"})
    package = content_services.create_package(portal, caller=caller, data={"name": "basic"})
    content_services.add_channel_to_package(package, linked, caller=caller)
    subscriber = subscriber_services.create_subscriber(
        portal, caller=caller, data={"name": "Ann", "phoneCountryCode": "1", "phone": "5550001"})
    subscribed = subscriber_services.create_subscriber(
        portal, caller=caller, data={"name": "Cy", "phoneCountryCode": "1", "phone": "5550009"})
    subscriber_services.subscribe(subscribed, package, caller=caller)
    manager = make_manager(portal, "viewer2@example.com", name="Viewer")
    owner_session = session_token(portal.owner)
    secret = account.start_totp(caller_for_token(owner_session))[0]
    category = content_services.create_category(portal, caller=caller, data={"name": "news", "title": "News"})
    location = content_services.create_location(portal, caller=caller, data={"name": "fi", "title": "Finland"})
    device = devices.add_device(portal, caller=caller, data={"subscriberId": subscribed.public_id, "kind": "stb",
                                                             "mac": "00:1A:79:00:00:01", "name": "Box"})
    webhook = webhook_services.create_webhook(portal, caller=caller, data={"url": "http://93.184.216.34/hook"})
    return {"webhook": webhook.public_id, "device": device.public_id, "owner_session": owner_session, "totp_code": TotpCode(secret, -30),
            "next_totp_code": TotpCode(secret, 0), "category": category.public_id,
            "location": location.public_id, "portal": portal.public_id, "owner_email": portal.owner.email, "manager": manager.public_id,
            "channel": channel.public_id, "linked_channel": linked.public_id, "package": package.public_id,
            "subscriber": subscriber.public_id, "subscribed": subscribed.public_id, "source": source.public_id}


def stored_rows() -> dict[str, list[dict]]:
    """Every row of every table of ours: what "nothing stored" compares."""
    return {model._meta.label: list(model.objects.order_by("pk").values())
            for model in apps.get_models()
            if model._meta.app_label in ("portals", "content", "subscribers", "monitoring")}


class TotpCode:
    """A TOTP code of ``secret`` for the moment it is written into a body, ``offset`` seconds from then: a code
    computed when the fixture ran could fall out of the accepted window during a slow loop of requests."""

    def __init__(self, secret: str, offset: int):
        self.secret, self.offset = secret, offset

    def __format__(self, spec: str) -> str:
        return totp_code(self.secret, self.offset // 30)


def _fill(value, targets):
    if isinstance(value, str):
        return value.format(**targets)
    if isinstance(value, dict):
        return {k: _fill(v, targets) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(item, targets) for item in value]
    return value


POISON = "__poison__"


def body_with(valid: dict, field: str, poison: str) -> str:
    """``valid`` as JSON text with ``field`` (``a`` or ``a.b``) replaced by the raw ``poison``."""
    body = json.loads(json.dumps(valid))
    outer, _, inner = field.partition(".")
    if inner:
        body[outer] = {**body.get(outer, {}), inner: POISON}
    else:
        body[outer] = POISON
    return json.dumps(body).replace(f'"{POISON}"', poison)


def names(errors: dict, field: str) -> bool:
    """Whether an error body's ``errors`` names ``field`` (``branding.title`` may be named ``branding``)."""
    return any(key == field or key.startswith(f"{field}.") or field.startswith(f"{key}.") for key in errors)


# --- the tables match the schema -------------------------------------------------------------------------------


def test_the_tables_cover_every_documented_write_and_list():
    documented = {(method, _generic(path)) for method, path in documented_writes()}
    assert documented | set(UNDOCUMENTED_BODY) == set(WRITES)
    assert {_generic(path) for path in documented_filters()} == set(LISTS)


# --- bodies -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("operation", "field", "kind"), write_cases())
def test_a_poisoned_body_field_is_refused_naming_it_and_stores_nothing(operation, field, kind, portal, targets,
                                                                        anonymous):
    method, path = operation
    client = _client(path, portal, targets, anonymous)
    client.raise_request_exception = False
    valid = _fill(WRITES[operation], targets)
    failures = []
    before = stored_rows()
    for poison, raw in BODY_POISONS.items():
        response = getattr(client, method)(f"{API}{path.format(**targets)}", body_with(valid, field, raw),
                                           content_type="application/json")
        if 200 <= response.status_code < 300:
            if poison not in ACCEPTABLE[kind] | MAYBE:
                failures.append(f"{poison}: accepted {response.content[:200]!r}")
            before = stored_rows()  # an accepted value changed the object; the next poisons start from here
            continue
        problem = _refusal_problem(response, field)
        if problem:
            failures.append(f"{poison}: {problem}")
        elif Operation.objects.count() != len(before["monitoring.Operation"]):
            failures.append(f"{poison}: refused but recorded an operation")
    assert not failures, "\n".join(failures)
    assert stored_rows() == before, "a refused request stored something"


def _client(path: str, portal, targets, anonymous):
    """Login needs no token, My account a manager's session, everything else the API key."""
    if path == "/login":
        return anonymous
    return api_client(targets["owner_session"] if path.startswith("/me") else portal.api_key)


def _refusal_problem(response, field: str) -> str | None:
    """What is wrong with a refusal: not a 400, not JSON, or not naming ``field``; None when it is right."""
    if response.status_code != 400 or not response["Content-Type"].startswith("application/json"):
        return f"{response.status_code} {response.content[:200]!r}"
    body = response.json()
    if not body.get("message") or not names(body.get("errors", {}), field):
        return f"does not name {field}: {body}"
    return None


def test_a_valid_body_of_each_table_row_is_accepted(portal, targets, anonymous):
    """The tables' bodies are valid, so a refusal above is the poison's doing."""
    for (method, path), valid in WRITES.items():
        client = _client(path, portal, targets, anonymous)
        response = getattr(client, method)(f"{API}{path.format(**targets)}", _fill(valid, targets), format="json")
        assert response.status_code in (200, 201, 204), (method, path, response.content[:300])


# --- query parameters -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "parameter", "kind"), filter_cases())
def test_a_poisoned_filter_is_refused_naming_it_or_filters_by_it(path, parameter, kind, api, targets):
    api.raise_request_exception = False
    failures = []
    for poison, raw in QUERY_POISONS.items():
        response = api.get(f"{API}{path.format(**targets)}?{parameter}={raw}")
        if response.status_code == 200:
            if poison == "nul" and kind == "string":
                failures.append(f"{poison}: accepted")
            continue
        problem = _refusal_problem(response, parameter)
        if problem:
            failures.append(f"{poison}: {problem}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("path", sorted(LISTS))
def test_a_forged_cursor_is_a_400_naming_it(path, api, targets):
    api.raise_request_exception = False
    failures = []
    for poison, cursor in CURSOR_POISONS.items():
        response = api.get(f"{API}{path.format(**targets)}?cursor={cursor}")
        if response.status_code != 400 or response.json().get("errors") != {"cursor": ["Invalid cursor."]}:
            failures.append(f"{poison}: {response.status_code} {response.content[:200]!r}")
    assert not failures, "\n".join(failures)


# --- the findings of the attack run, one by one ---------------------------------------------------------------


def test_a_percent_in_a_filter_value_is_a_400_naming_it(api):
    """django-filter formats each error message with ``%``: a value repeated in one was a 500."""
    response = api.get(f"{API}/operations?type=%25")
    assert response.status_code == 400
    assert response.json()["errors"] == {"type": ["Unknown value: %."]}
    response = api.get(f"{API}/channels?packageId=100%25")
    assert response.status_code == 400 and list(response.json()["errors"]) == ["packageId"]


def test_a_percent_or_underscore_in_a_search_matches_only_itself(api, portal):
    caller = Caller(portal=portal)
    for name, title in (("sport", "100% Sport"), ("news", "News 24"), ("kids", "Kids_TV")):
        content_services.create_channel(portal, caller=caller, data={"name": name, "title": title})

    def found(search):
        return [c["name"] for c in api.get(f"{API}/channels", {"search": search}).json()["channels"]]

    assert found("%") == ["sport"]
    assert found("_") == ["kids"]
    assert found("\\") == []


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"])
@pytest.mark.parametrize("parameter", ["created_at_gte", "created_at_lt"])
def test_a_time_outside_the_calendar_once_in_utc_is_a_400_naming_the_filter(parameter, value, api):
    response = api.get(f"{API}/operations", {parameter: value})
    assert response.status_code == 400
    assert response.json()["errors"] == {parameter: ["Out of range: use a time between years 1 and 9999 (UTC)."]}


def test_an_offset_postgresql_refuses_is_read_as_the_same_moment_in_utc(api, portal, managers):
    """Python allows offsets up to ±23:59, PostgreSQL ±15:59: the filter compares the moment in UTC."""
    created = Operation.objects.for_portal(portal).latest("id").created_at
    just_after = (created + dt.timedelta(seconds=1)).astimezone(dt.timezone(dt.timedelta(hours=20)))
    response = api.get(f"{API}/operations", {"created_at_gte": just_after.isoformat(), "type": "createManager"})
    assert response.status_code == 200 and response.json()["operations"] == []
    response = api.get(f"{API}/operations", {"created_at_lt": just_after.isoformat(), "type": "createManager"})
    assert len(response.json()["operations"]) == 4  # the four managers of the fixture


def test_a_body_nested_ten_thousand_deep_is_a_400_naming_the_field_and_stores_nothing(api):
    response = api.post(f"{API}/channels", '{"name": "deep", "title": ' + DEEP + "}", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"title": ["Nested deeper than 32 levels."]}
    response = api.post(f"{API}/channels", DEEP, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"non_field_errors": ["Nested deeper than 32 levels."]}
    response = api.put(f"{API}/portal", '{"branding": {"title": ' + "[" * 40 + "]" * 40 + "}}",
                       content_type="application/json")
    assert response.status_code == 400 and response.json()["errors"] == {"branding": ["Nested deeper than 32 levels."]}
    assert not Channel.objects.exists()


def test_nul_and_lone_surrogates_are_refused_in_every_string_naming_the_field(api, portal):
    response = api.post(f"{API}/channels", '{"name": "news", "title": "News\\u0000"}', content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"message": "Invalid input. title: Null characters are not allowed.",
                               "errors": {"title": ["Null characters are not allowed."]}}
    response = api.put(f"{API}/portal", '{"branding": {"title": "TV \\udc00"}}', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"branding.title": ["Surrogate characters are not allowed: U+DC00."]}
    response = api.post(f"{API}/subscribers", '{"name": "Ann", "phoneCountryCode": "1", "phone": "5550001", '
                        '"na\\u0000me": "x"}', content_type="application/json")
    assert response.status_code == 400 and list(response.json()["errors"]) == ["na\ufffdme"]
    portal.refresh_from_db()
    assert not Channel.objects.exists() and not Subscriber.objects.exists() and portal.title == "Main TV"


@pytest.mark.parametrize("email", [5, ["owner@example.com"], {"a": 1}, True])
def test_a_non_string_email_is_a_400_on_login_and_on_manager_create(email, anonymous, api, portal):
    response = anonymous.post(f"{API}/login", {"email": email, "password": PASSWORD}, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["email"]
    managers_before = Manager.objects.count()
    response = api.post(f"{API}/managers", {"email": email, "password": "Vq7#mLp2-Xr9!tZk"}, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["email"]
    assert Manager.objects.count() == managers_before


def test_the_client_api_reads_bodies_with_the_same_rules(anonymous, portal):
    url = f"/tv/api/v1/auth/sms/request?portalId={portal.public_id}"
    response = anonymous.post(url, DEEP, content_type="application/json")
    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    response = anonymous.post(url, '{"phoneCountryCode": "1", "phone": "555\\u0000"}', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"] == {"phone": ["Null characters are not allowed."]}
