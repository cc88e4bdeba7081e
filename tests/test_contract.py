"""Contract test: the Management API answers as its served OpenAPI document says (issue 12, item 8).

Schemathesis loads the document the app serves (``/tv-management/api/v1/schema/``) from Django's WSGI app
in-process (no server: the same test runs on SQLite and on PostgreSQL), generates a bounded number of requests
per operation — valid ones and invalid ones — sends them with the portal's API key and asserts for every answer:
no server error (``not_a_server_error``), a status code the document lists for that operation
(``status_code_conformance``), the documented content type (``content_type_conformance``) and a body that
matches the documented schema (``response_schema_conformance``).

Path parameters are either what schemathesis generates (random strings: the 404 must be documented) or, half
the time, the ID of a real object of the portal, so reads, updates and deletes also reach real rows. Every
request runs in a savepoint rolled back at once, so a DELETE, a key reset or a logout never changes what the
next request sees; the world is built once for the module.

Only the Management API (``/tv-management/``) is exercised: the client API in the same document is
authenticated by a subscriber's bearer token, not by ``X-Auth-Token``.
"""

from __future__ import annotations

import datetime as dt

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from django.test import override_settings
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from content import services as content
from content.models import EpgFetch, EpgSource, Program
from monitoring.models import PlaySession
from monitoring.operations import Operation
from portals.auth import Caller
from subscribers import services as subscribers
from tests.content.helpers import image_bytes
from tests.factories import make_manager, make_portal

SCHEMA_URL = "/tv-management/api/v1/schema/"


@schemathesis.check
def invalid_body_refused(ctx, response, case):
    """``negative_data_rejection`` for a body that breaks its schema (and nothing else of the request): it must be
    refused. Unknown query parameters and headers are ignored by design (``management-api.md`` §1), so a request
    made invalid only by those is not asked to be refused."""
    meta = case.meta
    others = (ParameterLocation.QUERY, ParameterLocation.HEADER, ParameterLocation.PATH, ParameterLocation.COOKIE)
    if meta is not None and meta.is_negative_at(ParameterLocation.BODY) and not any(
            meta.is_negative_at(location) for location in others):
        return negative_data_rejection(ctx, response, case)
    return None


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          invalid_body_refused]
MAX_EXAMPLES = 12

# The real object a path parameter may name, by the collection the path starts with.
REAL_OBJECT = {
    "managers": "manager", "channels": "channel", "packages": "package", "subscribers": "subscriber",
    "epg-sources": "epg_source", "epg-fetches": "epg_fetch", "play-sessions": "play_session",
    "operations": "operation", "categories": "category", "locations": "location",
}


def _build_world():
    portal = make_portal("contract-main")
    caller = Caller(portal=portal)
    manager = make_manager(portal, "contract-manager@example.com", name="Contract")
    source = EpgSource.objects.create(portal=portal, name="main.epg", url="https://epg.example.com/guide.xml")
    category = content.create_category(portal, caller=caller, data={"name": "news", "title": "News"})
    location = content.create_location(portal, caller=caller, data={"name": "fi", "title": "Finland",
                                                                    "countries": ["FI"], "networks": ["192.0.2.0/24"]})
    channel = content.create_channel(portal, caller=caller, data={
        "name": "news", "title": "News", "logo": image_bytes(), "epgSourceName": source.name,
        "epgChannelName": "news.example", "number": 1, "categories": [category.public_id],
        "locationRestrictions": [location.public_id]})
    package = content.create_package(portal, caller=caller, data={"name": "basic"})
    content.add_channel_to_package(package, channel, caller=caller)
    free = content.create_package(portal, caller=caller, data={"name": "free"})
    content.add_free_package(free, caller=caller)
    subscriber = subscribers.create_subscriber(portal, caller=caller, data={
        "name": "Alice", "phoneCountryCode": "1", "phone": "2345678901"})
    subscribers.subscribe(subscriber, package, caller=caller)
    fetch = EpgFetch.objects.create(portal=portal, epg_source=source, job_id="contract", status="success")
    start = dt.datetime(2026, 1, 10, 10, 0, tzinfo=dt.UTC)
    Program.objects.create(portal=portal, epg_source=source, epg_channel_name="news.example", start=start,
                           end=start + dt.timedelta(hours=1), title="Morning news", content_hash=1)
    session = PlaySession.objects.create(
        portal=portal, subscriber_id=subscriber.id, channel_id=channel.id, channel_name=channel.name,
        streamer_session_id="contract", token=subscriber.playback_token, opened_at=start, updated_at=start,
        ip="192.0.2.1")
    operation = Operation.objects.filter(portal=portal).order_by("-id").first()
    ids = {"manager": manager.public_id, "channel": channel.public_id, "package": package.public_id, "free_package": free.public_id,
           "subscriber": subscriber.public_id, "epg_source": source.public_id, "epg_fetch": fetch.public_id,
           "play_session": session.public_id, "operation": operation.public_id, "category": category.public_id,
           "location": location.public_id}
    return portal.api_key, ids


@pytest.fixture(scope="module")
def contract_world(django_db_setup, django_db_blocker):
    """The portal and its objects, in a transaction rolled back when the module ends."""
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=["tests.hashers.FastArgon2PasswordHasher"]):
        with transaction.atomic():
            api_key, ids = _build_world()
            REAL_IDS.update(ids)
            yield api_key
            transaction.set_rollback(True)


# The IDs of the world's objects, filled in when the world is built (the hook below runs after that).
REAL_IDS: dict[str, str] = {}
# Loaded when the module is collected: the schema view needs no database.
served_schema = schemathesis.openapi.from_wsgi(SCHEMA_URL, get_wsgi_application()).include(
    path_regex="^/tv-management/")


@served_schema.hook
def flatmap_path_parameters(context, path_parameters):
    """The generated value, or the ID of a real object of the collection the path is about."""
    if not path_parameters:
        return st.just(path_parameters)
    collection = context.operation.path.split("/api/v1/", 1)[1].split("/", 1)[0]
    choices = [path_parameters]
    if "package_id" in path_parameters:  # /portal/free-packages/{package_id}/: a package, free or not yet
        choices += [{"package_id": REAL_IDS["package"]}, {"package_id": REAL_IDS["free_package"]}]
    elif "source_pk" in path_parameters:
        choices.append({"source_pk": REAL_IDS["epg_source"]})
    elif "id" in path_parameters and collection in REAL_OBJECT and REAL_OBJECT[collection] in REAL_IDS:
        # (A schema example is drawn when the module is collected, before the world exists.)
        choices.append({**path_parameters, "id": REAL_IDS[REAL_OBJECT[collection]]})  # other parameters kept
    return st.sampled_from(choices)


@served_schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_the_api_answers_as_its_document_says(case, contract_world, db):
    api_key = contract_world
    # As Django's test client does: the end of a request must not close the connection holding the test's
    # transaction (on PostgreSQL every later query would fail with "the connection is closed").
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        with transaction.atomic():
            response = case.call(headers={"X-Auth-Token": api_key})
            transaction.set_rollback(True)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    cache.clear()  # throttles and cached decisions start afresh too
    case.validate_response(response, checks=CHECKS)
