"""A seeded world for JSONSQL: two portals with subscribers, channels, packages and subscriptions, built
through the services, and helpers to call the endpoints."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client
from django.utils import timezone

from content import services as content
from portals.auth import Caller
from subscribers import services as subscribers
from subscribers.models import Subscription
from tests.factories import make_portal, session_token

JSONSQL = "/api/jsonsql/"
JSONRPC = "/api/jsonrpc/"


def call(session: str | None, method: str, params, *, request_id=1, header: str = "Iptvportal-Authorization",
         raw: bytes | None = None, query: str = ""):
    """POST one JSON-RPC call to /api/jsonsql/ with the session in ``header``; returns the response."""
    headers = {}
    if session is not None:
        headers[header] = f"sessionid = {session}" if header == "Iptvportal-Authorization" else session
    body = raw if raw is not None else json.dumps(
        {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
    return Client().post(JSONSQL + query, body, content_type="application/json", headers=headers)


def select(session: str, params):
    """The ``result`` of a select, asserting the call succeeded."""
    response = call(session, "select", params)
    body = response.json()
    assert response.status_code == 200 and "result" in body, body
    return body["result"]


def error(session: str | None, method: str, params, **kwargs) -> dict:
    """The ``error`` of a call, asserting it is one."""
    body = call(session, method, params, **kwargs).json()
    assert "error" in body and "result" not in body, body
    return body["error"]


def _portal_data(portal, prefix: str) -> dict:
    caller = Caller(portal=portal)
    make = lambda name, title, **extra: content.create_channel(  # noqa: E731
        portal, caller=caller, data={"name": name, "title": title, **extra})
    channels = {
        "news": make(f"{prefix}news", "News 24", number=1),
        "sport": make(f"{prefix}sport", "Sport One", number=2),
        "jazz": make(f"{prefix}jazz", "Jazz FM", number=3, audioOnly=True),
        "movies": make(f"{prefix}movies", "Movie Box"),
    }
    packages = {name: content.create_package(portal, caller=caller, data={"name": f"{prefix}{name}"})
                for name in ("basic", "sports", "movie")}
    for package, names in (("basic", ["news", "jazz"]), ("sports", ["sport"]), ("movie", ["movies", "news"])):
        for name in names:
            content.add_channel_to_package(packages[package], channels[name], caller=caller)
    content.add_free_package(packages["basic"], caller=caller)
    people = {}
    for name, phone in (("Alice", "2345678901"), ("Bob", "2345678902"), ("Carol", "2345678903"),
                        ("Dave", "2345678904")):
        people[name] = subscribers.create_subscriber(
            portal, caller=caller, data={"name": f"{prefix}{name}", "phoneCountryCode": "1", "phone": phone})
    subscribers.set_disabled(people["Dave"], True, caller=caller)
    subscribers.subscribe(people["Alice"], packages["sports"], caller=caller)
    subscribers.subscribe(people["Alice"], packages["movie"], caller=caller)
    subscribers.subscribe(people["Bob"], packages["sports"], caller=caller)
    expired = subscribers.subscribe(people["Carol"], packages["movie"], caller=caller)
    Subscription.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - dt.timedelta(days=1))
    categories = [content.create_category(portal, caller=caller, data={"name": f"{prefix}{n}", "title": t})
                  for n, t in (("kids", "Kids"), ("info", "Information"))]
    return {"portal": portal, "channels": channels, "packages": packages, "people": people,
            "categories": categories, "owner": session_token(portal.owner)}


@pytest.fixture
def world(db):
    """Portal A ("a-" names would be confusing: its rows carry plain names) and portal B (names ``b-…``)."""
    a = _portal_data(make_portal("portal-a"), "")
    b = _portal_data(make_portal("portal-b"), "b-")
    return {"a": a, "b": b}
