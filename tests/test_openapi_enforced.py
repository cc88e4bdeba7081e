"""The OpenAPI document equals what is enforced (issue 12, item 1).

Every operation of the served document (``/tv-management/api/v1/schema/``) that takes a JSON body is probed
with bodies derived from the document itself:

- a **base** body built from the schema (examples, patterns, bounds; the objects it names — a channel ID, an EPG
  source name — created through the services) must be accepted (2xx): documented valid ⇒ accepted;
- for every documented constraint of a property (``maxLength``/``minLength``, ``pattern``, ``minimum``/
  ``maximum``, ``enum``, ``type``, ``format``, ``required``, ``nullable``) one body just inside the bound, which
  must not be refused for that property, and one just outside, which must answer 400 with ``errors[<property>]``
  and store nothing;
- a bound the server enforces but the document does not declare is drift too: a string without ``maxLength``
  gets 10,000 characters, one without ``minLength`` an empty string, an integer without ``maximum`` a billion;
  each must be accepted (else the document must declare the bound).

The tests are parametrized by (operation, property, probe), so a failure names exactly what differs. They call
the API with the portal's API key (the owner's rights), so permissions never interfere. An operation on one
object (``PUT /channels/{id}/``) first creates that object through the collection's ``POST`` with the same body
(a body that may not change the object's immutable name needs the object made with that name).
"""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pyotp
import pytest
from django.apps import apps
from django.test import Client
from rest_framework.test import APIClient

from content import services as content
from content.epg import services as epg
from portals import account
from portals.auth import Caller, caller_for_token
from subscribers import devices
from subscribers import services as subscribers
from tests.content.helpers import data_uri, image_bytes
from tests.factories import PASSWORD, make_portal, session_token

SCHEMA_URL = "/tv-management/api/v1/schema/"
LONG = 10_000
BIG = 1_000_000_000
ABSENT = "<absent>"  # a probe value meaning: leave the property out of the body
# The apps whose tables must not change when a body is refused.
OUR_APPS = ("portals", "content", "subscribers", "monitoring")


def served_document() -> dict:
    """The OpenAPI document exactly as the app serves it (the schema view needs no database)."""
    response = Client().get(SCHEMA_URL, {"format": "json"})
    assert response.status_code == 200, response.content
    return json.loads(response.content)


DOCUMENT = served_document()


# --- Reading the document ------------------------------------------------------------------------------------

def resolve(schema: dict) -> dict:
    """``schema`` with ``$ref`` and single-branch ``allOf``/``oneOf`` (drf-spectacular's nullable enums) merged in;
    a ``oneOf`` of enums (a choice or blank) is one enum of all their values."""
    schema = dict(schema)
    if "$ref" in schema:
        target = DOCUMENT["components"]["schemas"][schema.pop("$ref").rsplit("/", 1)[1]]
        schema = {**resolve(target), **schema}
    if len(schema.get("allOf", ())) == 1:
        schema = {**resolve(schema.pop("allOf")[0]), **schema}
    if "oneOf" in schema:
        branches = [resolve(branch) for branch in schema["oneOf"]]
        real = [b for b in branches if b.get("enum") != [None] and b.get("type") != "null"]
        null_branch = len(real) < len(branches)
        if len(real) > 1 and all("enum" in b for b in real):  # a choice that may be blank: one enum of all
            real = [{**real[0], "enum": [value for branch in real for value in branch["enum"]]}]
        if len(real) == 1:
            schema.pop("oneOf")
            schema = {**real[0], **schema, "nullable": schema.get("nullable", False) or null_branch}
    return schema


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    body_schema: dict = field(compare=False, repr=False)  # the JSON request body's schema, as documented

    def __str__(self):
        return f"{self.method} {self.path}"


def operations_with_json_bodies() -> list[Operation]:
    found = []
    for path, item in DOCUMENT["paths"].items():
        if path.startswith(("/api/jsonrpc/", "/api/jsonsql/")):
            continue  # JSON-RPC: every refusal is an error object in an HTTP 200 (tests/jsonsql/test_openapi.py)
        for method, operation in item.items():
            content_types = (operation.get("requestBody") or {}).get("content", {}) if isinstance(operation, dict) else {}
            if "application/json" in content_types:
                found.append(Operation(method.upper(), path, content_types["application/json"]["schema"]))
    return found


def leaf_properties(schema: dict, prefix: str = "") -> list[tuple[str, dict, bool]]:
    """``(dotted name, schema, required)`` of every writable property; objects with properties are walked into."""
    schema = resolve(schema)
    found = []
    required = set(schema.get("required", ()))
    for name, sub in schema.get("properties", {}).items():
        sub = resolve(sub)
        if sub.get("readOnly"):
            continue
        dotted = f"{prefix}{name}"
        found.append((dotted, sub, name in required))
        if sub.get("type") == "object" and sub.get("properties"):
            found.extend(leaf_properties(sub, f"{dotted}."))
    return found


# --- Patterns: ^[class]{m,n}literal$ ---------------------------------------------------------------------------

SIMPLE_PATTERN = re.compile(r"^\^\[((?:\\.|[^\]])+)\](?:\{(\d+)(?:(,)(\d*))?\}|([*+]))((?:\\.|[^\\\[\](){}*+?|^$])*)\$$")
PREFERRED = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ1234567890"
STRANGERS = " !/é#"  # candidates for a character a class does not allow


@dataclass(frozen=True)
class Pattern:
    allowed: str
    minimum: int
    maximum: int | None
    suffix: str

    @classmethod
    def parse(cls, pattern: str) -> Pattern:
        match = SIMPLE_PATTERN.match(pattern)
        assert match, f"the test understands patterns like ^[a-z0-9]{{2,20}}$ only, not {pattern!r}: extend it"
        klass, low, comma, high, quantifier, suffix = match.groups()
        if quantifier:
            low, high = ("0" if quantifier == "*" else "1"), ""
        elif not comma:
            high = low
        chars = set()
        tokens = re.findall(r"\\.|.", klass)
        index = 0
        while index < len(tokens):
            token = tokens[index].lstrip("\\") if len(tokens[index]) == 2 else tokens[index]
            if index + 2 < len(tokens) and tokens[index + 1] == "-":
                end = tokens[index + 2][-1]
                chars.update(chr(c) for c in range(ord(token), ord(end) + 1))
                index += 3
            else:
                chars.add(token)
                index += 1
        allowed = "".join(c for c in PREFERRED if c in chars) + "".join(sorted(chars - set(PREFERRED)))
        return cls(allowed, int(low), int(high) if high else None, re.sub(r"\\(.)", r"\1", suffix))

    def make(self, length: int) -> str:
        return (self.allowed * (length // len(self.allowed) + 1))[:length] + self.suffix

    def typical_length(self) -> int:
        return (self.minimum + self.maximum) // 2 if self.maximum is not None else max(self.minimum, 6)

    def stranger(self) -> str:
        """A value of a fine length with a character the class does not allow."""
        bad = next(c for c in STRANGERS if c not in self.allowed)
        return bad + self.make(max(self.typical_length(), 1) - 1)


def simple_pattern(schema: dict) -> Pattern | None:
    """The property's pattern if it has the simple form ``^[class]{m,n}literal$``; None if it has none or another
    form (a *free* pattern, such as ``\\{code\\}`` or ``^https?://``), which is checked with ``re.search`` on values
    grown from the property's example or format (see ``free_template``)."""
    if "pattern" not in schema or not SIMPLE_PATTERN.match(schema["pattern"]):
        return None
    return Pattern.parse(schema["pattern"])


def free_template(schema: dict) -> str:
    """A valid value of a property with a free pattern: its example, else the shortest value of its format."""
    template = schema.get("example", SHORTEST.get(schema.get("format")))
    assert isinstance(template, str), (
        f"the pattern {schema['pattern']!r} is not ^[class]{{m,n}}literal$: the document must give an example")
    assert re.search(schema["pattern"], template), f"the example {template!r} does not match {schema['pattern']!r}"
    return template


def grown(schema: dict, length: int) -> str:
    """A value of exactly ``length`` characters matching the free pattern: the template with letters appended."""
    template = free_template(schema)
    return template + "a" * (length - len(template))


def not_matching(schema: dict) -> str:
    """A value of an allowed length that the free pattern does not match."""
    candidate = next(c for c in ("pppppp", "!" + free_template(schema)) if not re.search(schema["pattern"], c))
    return candidate[:schema["maxLength"]] if "maxLength" in schema else candidate


def email_of_length(length: int) -> str:
    """A valid email address of exactly ``length`` characters (at least 13): a local part of at most 64 and a
    domain of labels of at most 63 characters each, as the address rules require."""
    local = "a" * min(64, length - len("@example.com"))
    remaining = length - len(local) - 1 - len("com")  # the domain's labels, each followed by its dot
    labels = []
    while remaining > 0:
        size = min(63, remaining - 1)
        if remaining - (size + 1) == 1:  # a single character left could not be a label with its dot
            size -= 1
        labels.append("b" * size)
        remaining -= size + 1
    return f"{local}@{'.'.join([*labels, 'com'])}"


# --- The world: the objects a body names, made through the services -------------------------------------------

class World:
    """A portal and, made on demand, the objects a body refers to."""

    def __init__(self, sms_file, run_on_commit):
        self.portal = make_portal("probe-portal")
        self.caller = Caller(portal=self.portal)
        self.sms_file = sms_file
        self.run_on_commit = run_on_commit  # pytest-django's django_capture_on_commit_callbacks

    @cached_property
    def epg_source(self):
        return epg.create_epg_source(self.portal, caller=self.caller,
                                     data={"name": "ref-source", "url": "https://epg.example.com/guide.xml"})

    @cached_property
    def channel(self):
        return content.create_channel(self.portal, caller=self.caller, data={"name": "ref-channel", "title": "Ref"})

    @cached_property
    def package(self):
        return content.create_package(self.portal, caller=self.caller, data={"name": "ref-package"})

    @cached_property
    def subscriber(self):
        return subscribers.create_subscriber(self.portal, caller=self.caller, data={
            "name": "Ref", "phoneCountryCode": "44", "phone": "7700900123"})

    @cached_property
    def stb_mac(self) -> str:
        """The MAC of a set-top box registered to the world's subscriber (the client API's STB login)."""
        devices.add_device(self.portal, caller=self.caller, data={
            "subscriberId": self.subscriber.public_id, "kind": "stb", "mac": "00:1a:79:00:00:02"})
        return "00:1a:79:00:00:02"

    @cached_property
    def owner_session(self) -> str:
        """A session of the portal's owner: My account (``/me/…``) is a manager's, not the API key's."""
        return session_token(self.portal.owner)

    @cached_property
    def totp_secret(self) -> str:
        """The secret of an authenticator the owner started to enrol (``POST /me/totp``)."""
        return account.start_totp(caller_for_token(self.owner_session))[0]

    @cached_property
    def totp_instant(self) -> float:
        return time.time()

    def totp_code(self, steps: int) -> str:
        """The authenticator's code ``steps`` time steps from one instant of this world (two codes of one test
        are never the same step's, whenever the clock turns)."""
        return pyotp.TOTP(self.totp_secret).at(self.totp_instant + 30 * steps)

    def api(self, path: str = "") -> APIClient:
        client = APIClient(HTTP_HOST=self.portal.domain)
        own_account = "/api/v1/me/" in path
        client.credentials(HTTP_X_AUTH_TOKEN=self.owner_session if own_account else self.portal.api_key)
        return client

    @cached_property
    def sms_code(self) -> str:
        """A code sent to the world's subscriber (the client API's SMS login)."""
        number = {"phoneCountryCode": self.subscriber.phone_country_code, "phone": self.subscriber.phone}
        with self.run_on_commit(execute=True):  # the SMS is handed to the backend after commit
            response = APIClient(HTTP_HOST=self.portal.domain).post("/tv/api/v1/auth/sms/request", number,
                                                                    format="json")
        assert response.status_code == 200, response.content
        return json.loads(self.sms_file.read_text().splitlines()[-1])["text"][-4:]


# Values the document cannot derive: a reference to another object (an ID, a name), a password that must be hard
# to guess (zxcvbn), an image, a portal's immutable name, a code sent by SMS. Keyed by (the operation's path after
# the API's base, or "*" for every operation; property).
KNOWN = {
    ("*", "channelId"): lambda w: w.channel.public_id,
    ("*", "packageId"): lambda w: w.package.public_id,
    ("*", "subscriberId"): lambda w: w.subscriber.public_id,
    ("*", "portalId"): lambda w: w.portal.public_id,
    ("*", "epgSourceName"): lambda w: w.epg_source.name,
    ("*", "logo"): lambda w: data_uri(image_bytes()),
    ("*", "password"): lambda w: PASSWORD,
    ("login/", "email"): lambda w: w.portal.owner.email,
    ("portal/", "name"): lambda w: w.portal.name,
    ("portal/", "domain"): lambda w: w.portal.domain,
    ("auth/sms/verify/", "phoneCountryCode"): lambda w: w.subscriber.phone_country_code,
    ("auth/sms/verify/", "phone"): lambda w: w.subscriber.phone,
    ("auth/sms/verify/", "code"): lambda w: w.sms_code,
    ("auth/device/", "mac"): lambda w: w.stb_mac,
    ("me/password/", "currentPassword"): lambda w: PASSWORD,
    ("me/password/", "newPassword"): lambda w: "Vq7#mLp2-Xr9!tZk",
    ("me/totp/confirm/", "code"): lambda w: w.totp_code(0),
    ("me/totp/", "code"): lambda w: w.totp_code(0),
}


# What must exist before an operation can succeed with the base body: the link a DELETE removes.
PREPARE = {
    ("DELETE", "channels-packages/"): lambda w: content.add_channel_to_package(w.package, w.channel, caller=w.caller),
    ("DELETE", "packages-subscribers/"): lambda w: subscribers.subscribe(w.subscriber, w.package, caller=w.caller),
    ("PUT", "packages-subscribers/"): lambda w: subscribers.subscribe(w.subscriber, w.package, caller=w.caller),
    # Two-factor authentication on, confirmed with the previous time step's code (a code is accepted once).
    ("DELETE", "me/totp/"): lambda w: account.confirm_totp(
        caller_for_token(w.owner_session), {"code": w.totp_code(-1)}),
}
# The body that creates the object an operation on one object changes, when the collection's POST takes other
# properties than the operation (keyed by the collection's path after the API's base).
CREATE = {
    "devices/": lambda w: {"subscriberId": w.subscriber.public_id, "kind": "player", "uid": "probe-device"},
    # POST /subscribers/{id}/reset_player_password takes a password, not a subscriber.
    "subscribers/": lambda w: {"name": "Probe", "phoneCountryCode": "999", "phone": "5550001234"},
    # POST /epg-sources/{id}/mapping takes mappings, not a source.
    "epg-sources/": lambda w: {"name": "probe-source", "url": "https://epg.example.com/guide.xml"},
}
# Properties that may only be sent unchanged (``management-api.md`` §3): no other value is accepted, whatever its
# length.
UNCHANGEABLE = {("portal/", "name"), ("portal/", "domain")}
# Properties checked against a secret (the current password, a code of the authenticator): any other value, inside
# the documented bounds or not, is refused, so only the probes that must be refused apply.
SECRETS = {("me/password/", "currentPassword"), ("me/totp/confirm/", "code"), ("me/totp/", "code")}


def known(operation: Operation, name: str):
    """How to make the value of property ``name`` (its last part) of ``operation``'s body, when the document
    cannot say."""
    leaf = name.rsplit(".", 1)[-1]
    return KNOWN.get((operation.path.split("/api/v1/", 1)[1], leaf)) or KNOWN.get(("*", leaf))


def sample(schema: dict, world: World, operation: Operation, name: str) -> Any:
    """A valid value of ``schema`` as the document describes it."""
    if make := known(operation, name):
        return make(world)
    if "example" in schema:
        return schema["example"]
    if schema.get("enum"):
        return next(value for value in schema["enum"] if value is not None)
    kind = schema.get("type")
    if kind == "object":
        return {key: sample(resolve(sub), world, operation, f"{name}.{key}".lstrip("."))
                for key, sub in schema.get("properties", {}).items() if not resolve(sub).get("readOnly")}
    if kind == "array":
        return []
    if kind == "boolean":
        return schema.get("default", False)
    if kind in ("integer", "number"):
        return schema.get("default", schema.get("minimum", 1))
    if schema.get("format") == "email":
        return "probe@example.com"
    if schema.get("format") == "uri":
        return "https://example.com/guide.xml"
    if schema.get("format") in DATE_FORMATS:
        return DATE_FORMATS[schema["format"]][0]
    if pattern := simple_pattern(schema):
        return pattern.make(pattern.typical_length())
    if "pattern" in schema:
        return free_template(schema)
    return "p" * max(schema.get("minLength", 0), min(5, schema.get("maxLength", 5)))


def base_body(operation: Operation, world: World) -> dict:
    return sample(resolve(operation.body_schema), world, operation, "")


def lengthen(value: Any, schema: dict) -> str:
    """A ``LONG``-character value of the same kind as the valid ``value``."""
    if isinstance(value, str) and value.startswith("data:image/png;base64,"):
        prefix = "data:image/png;base64,"
        raw = image_bytes()
        raw += b"\0" * ((LONG - len(prefix)) * 3 // 4 - len(raw))  # bytes after IEND: still the same image
        return prefix + base64.b64encode(raw).decode()
    if schema.get("format") == "email":
        return "a" * (LONG - len("@example.com")) + "@example.com"
    if schema.get("format") == "uri":
        return value + "?" + "a" * (LONG - len(value) - 1)
    if pattern := simple_pattern(schema):
        return pattern.make(LONG)
    return (str(value) + "a" * LONG)[:LONG]


# --- Probes --------------------------------------------------------------------------------------------------

ACCEPTED, NOT_REFUSED, REFUSED = "accepted", "not refused", "refused"


@dataclass(frozen=True)
class Probe:
    operation: Operation
    name: str  # dotted property name; "" for the base body
    label: str  # what the probe tries, e.g. "maxLength 201"
    value: Any  # the property's value, ABSENT, or ("length", n) / ("long",) made from the base value
    expect: str
    undeclared: bool = False  # a bound the document does not declare (so it must not be enforced)

    @property
    def id(self) -> str:
        return f"{self.operation} | {self.name or 'base body'} | {self.label} -> {self.expect}"


# The shortest value of each format, lengthened before its last character.
SHORTEST = {"email": "a@example.com", "uri": "https://example.com/"}
# Valid values of the date formats (a format bounds the length), and values no date format takes.
DATE_FORMATS = {"date-time": ["2026-03-01T12:30:00Z", "2026-03-01T12:30:00+02:00"], "date": ["2026-03-01"]}
NOT_DATES = ["not a date", "2026-02-30", "2026-03-01T25:00:00Z"]
WRONG_TYPE = {"string": 12345, "integer": "1", "number": "1", "boolean": "true", "object": "text", "array": "text"}


def length_probes(operation, name, schema) -> list[Probe]:
    """Just inside and just outside the length bounds (``minLength``/``maxLength`` and the pattern's, the tighter
    of each), and a character the pattern does not allow. An enum (the time zones) bounds a value by its names:
    its own probes cover it."""
    if schema.get("enum"):
        return []
    pattern = simple_pattern(schema)
    free = "pattern" in schema and pattern is None
    low = max(schema.get("minLength", 0), pattern.minimum if pattern else 0)
    high = min([bound for bound in (schema.get("maxLength"), pattern and pattern.maximum) if bound is not None],
               default=None)

    def value(length):
        if pattern:
            return pattern.make(length)
        return ("grown", length) if free and length >= shortest else ("length", length)

    # A value naming another object (an ID, a source's name) is inside only as the base's real one; an email or
    # a URL has a shortest valid form, a free pattern's values are grown from its example.
    inside = not known(operation, name)
    shortest = len(free_template(schema)) if free else len(SHORTEST.get(schema.get("format"), ""))
    probes = []
    for length in sorted({low, high} - {None, 0}):
        if inside and length >= shortest:
            probes.append(Probe(operation, name, f"length {length}", value(length), NOT_REFUSED))
    if low > 0:
        probes.append(Probe(operation, name, f"length {low - 1}", value(low - 1), REFUSED))
    if high is not None:
        probes.append(Probe(operation, name, f"length {high + 1}", value(high + 1), REFUSED))
    if pattern:
        probes.append(Probe(operation, name, f"pattern, {pattern.stranger()[0]!r} not allowed", pattern.stranger(),
                            REFUSED))
    if free:
        probes.append(Probe(operation, name, f"pattern {schema['pattern']!r} not matched", not_matching(schema),
                            REFUSED))
    return probes


def undeclared_bound_probes(operation, name, schema) -> list[Probe]:
    """Bounds the document does not declare must not be enforced."""
    kind = schema.get("type")
    if schema.get("enum") or (operation.path.split("/api/v1/", 1)[1], name) in UNCHANGEABLE:
        return []
    bounded_by_pattern = (pattern := simple_pattern(schema)) is not None and pattern.maximum is not None
    bounded_by_format = schema.get("format") in DATE_FORMATS
    probes = []
    if kind == "string" and "maxLength" not in schema and not bounded_by_pattern and not bounded_by_format:
        probes.append(Probe(operation, name, f"{LONG:,} characters (no maxLength documented)", ("long",), ACCEPTED,
                            undeclared=True))
    if kind == "string" and not schema.get("minLength") and "pattern" not in schema and "format" not in schema:
        probes.append(Probe(operation, name, "empty string (no minLength documented)", "", ACCEPTED, undeclared=True))
    if kind == "integer" and "maximum" not in schema:
        probes.append(Probe(operation, name, f"{BIG:,} (no maximum documented)", BIG, ACCEPTED, undeclared=True))
    return probes


def property_probes(operation: Operation, name: str, schema: dict, required: bool) -> list[Probe]:
    kind = schema.get("type")
    probes = []
    if "." not in name:  # nested properties: their object's own rules say whether they may be left out
        probes.append(Probe(operation, name, "left out", ABSENT, REFUSED if required else NOT_REFUSED))
    probes.append(Probe(operation, name, "null", None, NOT_REFUSED if schema.get("nullable") else REFUSED))
    if kind in WRONG_TYPE:
        probes.append(Probe(operation, name, f"type {kind}: {WRONG_TYPE[kind]!r}", WRONG_TYPE[kind], REFUSED))
    if kind == "string":
        probes += length_probes(operation, name, schema)
    if schema.get("format") == "email":
        probes += [Probe(operation, name, "format email: a@b.example", "a@b.example", NOT_REFUSED),
                   Probe(operation, name, "format email: 'a@'", "a@", REFUSED)]
    if schema.get("format") == "uri":
        probes += [Probe(operation, name, "format uri: https://a.example/x", "https://a.example/x", NOT_REFUSED),
                   Probe(operation, name, "format uri: 'not a uri'", "not a uri", REFUSED)]
    if schema.get("format") in DATE_FORMATS:
        probes += [Probe(operation, name, f"format {schema['format']}: {value!r}", value, NOT_REFUSED)
                   for value in DATE_FORMATS[schema["format"]]]
        probes += [Probe(operation, name, f"format {schema['format']}: {value!r}", value, REFUSED)
                   for value in NOT_DATES]
    for bound, step in (("minimum", -1), ("maximum", 1)):
        if bound in schema:
            probes += [Probe(operation, name, f"{bound} {schema[bound]}", schema[bound], NOT_REFUSED),
                       Probe(operation, name, f"{bound} {schema[bound] + step}", schema[bound] + step, REFUSED)]
    for choice in [value for value in schema.get("enum", ()) if value is not None]:
        probes.append(Probe(operation, name, f"enum {choice!r}", choice, NOT_REFUSED))
    if schema.get("enum"):
        probes.append(Probe(operation, name, "enum: 'not-a-choice'", "not-a-choice", REFUSED))
    return probes + undeclared_bound_probes(operation, name, schema)


def all_probes() -> list[Probe]:
    probes = []
    for operation in operations_with_json_bodies():
        probes.append(Probe(operation, "", "built from the document", None, ACCEPTED))
        for name, sub, required in leaf_properties(operation.body_schema):
            found = property_probes(operation, name, sub, required)
            if (operation.path.split("/api/v1/", 1)[1], name) in SECRETS:  # only the right value is accepted
                found = [probe for probe in found if probe.expect == REFUSED]
            probes += found
    return probes


PROBES = all_probes()


# --- Running a probe -----------------------------------------------------------------------------------------

def probe_value(probe: Probe, base_value: Any, schema: dict) -> Any:
    if isinstance(probe.value, tuple) and probe.value[0] == "long":
        return lengthen(base_value, schema)
    if isinstance(probe.value, tuple) and probe.value[0] == "grown":
        return grown(schema, probe.value[1])
    if isinstance(probe.value, tuple) and probe.value[0] == "length":
        length = probe.value[1]
        shortest = SHORTEST.get(schema.get("format"), "")
        if not shortest or length < len(shortest):
            return "p" * length
        if schema.get("format") == "email":
            return email_of_length(length)
        return shortest[:-1] + "a" * (length - len(shortest)) + shortest[-1]
    return probe.value


def property_schemas(operation: Operation) -> dict[str, dict]:
    return {name: schema for name, schema, _ in leaf_properties(operation.body_schema)}


def body_for(probe: Probe, world: World) -> dict:
    body = base_body(probe.operation, world)
    if not probe.name:
        return body
    *parents, leaf = probe.name.split(".")
    holder = body
    for parent in parents:
        holder = holder[parent]
    schema = property_schemas(probe.operation)[probe.name]
    value = probe_value(probe, holder.get(leaf), schema)
    if value is ABSENT:
        holder.pop(leaf, None)
    else:
        holder[leaf] = value
    return body


def stored_rows() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in apps.get_models()
            if model._meta.app_label in OUR_APPS}


def object_id(answer: dict) -> str:
    return next(value for key, value in answer.items() if key.endswith("Id") and key != "portalId")


def send(probe: Probe, body: dict, world: World):
    """The answer to ``body``; for a probe that must be refused, the stored state before and after it.

    The object an operation on one object needs is created with the same body (its immutable name must be the
    probe's), or with the base body when the probe's must be refused or leaves a property out (a password a
    ``PUT`` may leave out is required by the ``POST``)."""
    client, path = world.api(probe.operation.path), probe.operation.path
    if prepare := PREPARE.get((probe.operation.method, path.split("/api/v1/", 1)[1])):
        prepare(world)
    if "{" in path:
        collection = path.split("{", 1)[0]
        own = probe.expect != REFUSED and probe.value is not ABSENT
        creation_body = body if own else base_body(probe.operation, world)
        if make := CREATE.get(collection.split("/api/v1/", 1)[1]):
            creation_body = make(world)
        created = client.post(collection, creation_body, format="json")
        assert created.status_code == 201, (
            f"could not create the object to {probe.operation.method}: POST {collection} answered "
            f"{created.status_code} {created.content.decode()[:500]}")
        path = re.sub(r"\{[^}]+\}", object_id(created.json()), path)
    read = path if probe.operation.method == "PUT" else None  # the object a PUT would change

    def state():
        return stored_rows(), (client.get(read).content if read else None)

    before = state() if probe.expect == REFUSED else None
    response = getattr(client, probe.operation.method.lower())(path, body, format="json")
    return response, before, (state() if probe.expect == REFUSED else None)


@pytest.fixture
def world(db, settings, tmp_path, django_capture_on_commit_callbacks):
    settings.SMS_BACKEND = "file"
    settings.SMS_FILE_PATH = str(tmp_path / "sms.jsonl")
    return World(tmp_path / "sms.jsonl", django_capture_on_commit_callbacks)


@pytest.mark.parametrize("probe", PROBES, ids=[probe.id for probe in PROBES])
def test_the_document_says_what_the_server_enforces(probe, world):
    body = body_for(probe, world)
    response, before, after = send(probe, body, world)
    answer = response.content.decode()[:1000]
    assert response.status_code < 500, f"server error {response.status_code}: {answer}"
    errors = (response.json().get("errors") or {}) if response.status_code == 400 else {}
    if probe.expect == ACCEPTED:
        what = "refused a bound the document does not declare" if probe.undeclared else "documented valid, refused"
        assert 200 <= response.status_code < 300, f"{what}: {response.status_code} {answer}"
    elif probe.expect == NOT_REFUSED:
        assert probe.name not in errors, f"refused for {probe.name!r} although inside the documented bound: {answer}"
    else:
        assert response.status_code == 400 and probe.name in errors, (
            f"outside the documented bound, expected 400 naming {probe.name!r}; got {response.status_code} {answer}")
        assert after == before, "a refused body changed what is stored"
