"""The OpenAPI document lists the two IPTVPORTAL endpoints, and their real answers match what it documents."""

from __future__ import annotations

import json

import jsonschema
from django.test import Client

from tests.api.test_conventions import _json_schema
from tests.factories import PASSWORD
from tests.jsonsql.conftest import JSONRPC, call

SCHEMA_URL = "/tv-management/api/v1/schema/"


def document() -> dict:
    response = Client().get(SCHEMA_URL, {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def answer_schema(doc: dict, path: str, status: str) -> dict:
    schema = doc["paths"][path]["post"]["responses"][status]["content"]["application/json"]["schema"]
    return {"components": _json_schema(doc["components"]), **_json_schema(schema)}


def test_the_document_lists_both_endpoints_with_their_methods_codes_and_security(db):
    doc = document()
    rpc, sql = doc["paths"]["/api/jsonrpc/"]["post"], doc["paths"]["/api/jsonsql/"]["post"]
    assert set(doc["paths"]["/api/jsonrpc/"]) == {"post"} and set(doc["paths"]["/api/jsonsql/"]) == {"post"}
    schemas = doc["components"]["schemas"]
    assert schemas["JsonRpcAuthorizeRequest"]["properties"]["method"]["enum"] == ["authorize_user"]
    assert schemas["JsonSqlRequest"]["properties"]["method"]["enum"] == ["select", "insert", "update", "delete"]
    assert set(schemas["JsonRpcError"]["properties"]["error"]["properties"]["code"]["enum"]) >= {
        -32700, -32600, -32601, -32602, 1, 2, 3, 5, 6}
    assert set(rpc["responses"]) == {"200", "413"} and set(sql["responses"]) == {"200", "401", "413"}
    assert rpc["security"] == [] and {"IptvportalSession": []} in sql["security"]
    assert doc["components"]["securitySchemes"]["IptvportalSession"]["name"] == "Iptvportal-Authorization"
    for table in ("subscriber(id, username", "subscriber_package(", "terminal(", "package_media("):
        assert table in sql["description"]


def test_real_answers_match_the_documented_schemas(world):
    doc = document()
    a = world["a"]
    rows = call(a["owner"], "select", {"data": ["id", "name"], "from": "subscriber", "limit": 2})
    refusal = call(a["owner"], "select", {"data": "id", "from": "nowhere"})
    for response in (rows, refusal):
        assert response.status_code == 200
        jsonschema.validate(response.json(), answer_schema(doc, "/api/jsonsql/", "200"))
    jsonschema.validate(call(None, "select", {}).json(), answer_schema(doc, "/api/jsonsql/", "401"))
    login = Client().post(JSONRPC, json.dumps({"jsonrpc": "2.0", "id": "x", "method": "authorize_user", "params": {
        "username": a["portal"].owner.email, "password": PASSWORD}}), content_type="application/json")
    jsonschema.validate(login.json(), answer_schema(doc, "/api/jsonrpc/", "200"))
    assert set(login.json()["result"]) == {"session_id"}
