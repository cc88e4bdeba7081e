"""The two IPTVPORTAL endpoints in the OpenAPI document (a drf-spectacular postprocessing hook).

``/api/jsonrpc/`` and ``/api/jsonsql/`` are plain Django views (JSON-RPC answers every error in an HTTP 200 body,
which DRF's views do not), so drf-spectacular does not find them: ``add_jsonsql_paths`` writes their operations,
request and answer bodies and error codes into the generated document.
"""

from __future__ import annotations

from . import errors
from .compiler import MAX_DEPTH, MAX_IN_ITEMS, MAX_ROWS
from .tables import TABLES

TAG = "IPTVPORTAL JSONSQL"
ERROR_CODES = {
    errors.PARSE_ERROR: "the body is not JSON (trailing commas before `]`/`}` are accepted)",
    errors.INVALID_REQUEST: "not a JSON-RPC 2.0 request object (or a body over 1 MB, with HTTP 413)",
    errors.METHOD_NOT_FOUND: "unknown method",
    errors.INVALID_PARAMS: "bad params: the message names the unknown table, column, operator or clause, or the "
                           "limit exceeded",
    errors.NOT_AUTHORIZED: "not logged in (HTTP 401), or wrong credentials",
    errors.SECOND_FACTOR: "the manager has two-factor authentication on: send `params.totp`",
    errors.TOO_MANY_ATTEMPTS: "too many login attempts",
    errors.TOO_MANY_ROWS: f"the select matches more than {MAX_ROWS:,} rows: add a `limit`",
    errors.QUERY_FAILED: "the database refused the query (a value of the wrong type, a division by zero, the 5 s "
                         "time limit of a select)",
    errors.NOT_PERMITTED: "a write the manager's permissions do not allow; nothing changed",
    errors.INVALID_VALUE: "a value a column cannot take, naming the row and the column; nothing changed",
    errors.CONFLICT: "the change conflicts with what is stored (a duplicate, a package in use); nothing changed",
    errors.NOT_FOUND: "a row a value names is not one of the portal's; nothing changed",
}


def _codes() -> str:
    return "\n".join(f"- `{code}`: {meaning}" for code, meaning in ERROR_CODES.items())


def _tables() -> str:
    return "\n".join(f"- `{name}({', '.join(table.columns)})`" for name, table in TABLES.items())


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _request(method_names: list[str], params: dict) -> dict:
    return {
        "type": "object",
        "properties": {
            "jsonrpc": {"type": "string", "enum": ["2.0"]},
            "id": {"oneOf": [{"type": "string"}, {"type": "integer"}], "nullable": True,
                   "description": "Echoed in the answer."},
            "method": {"type": "string", "enum": method_names},
            "params": params,
        },
        "required": ["jsonrpc", "method"],
    }


COMPONENTS = {
    "JsonRpcError": {
        "type": "object",
        "description": "A JSON-RPC 2.0 error answer.",
        "properties": {
            "jsonrpc": {"type": "string", "enum": ["2.0"]},
            "id": {"oneOf": [{"type": "string"}, {"type": "integer"}], "nullable": True},
            "error": {"type": "object", "properties": {
                "code": {"type": "integer", "enum": sorted(ERROR_CODES)},
                "message": {"type": "string", "description": "A sentence for a human, naming what is wrong."},
            }, "required": ["code", "message"]},
        },
        "required": ["jsonrpc", "id", "error"],
    },
    "JsonRpcAuthorizeRequest": _request(["authorize_user"], {
        "type": "object",
        "properties": {
            "username": {"type": "string", "description": "The manager's email."},
            "password": {"type": "string"},
            "totp": {"type": "string", "description": "The current two-factor code, when the manager has it on."},
            "portalId": {"type": "string", "description": "The portal, when the email manages several (or "
                                                          "`?portalId=`, or the portal's domain as `Host`)."},
        },
        "required": ["username", "password"],
    }),
    "JsonRpcAuthorizeResult": {
        "type": "object",
        "properties": {
            "jsonrpc": {"type": "string", "enum": ["2.0"]},
            "id": {"oneOf": [{"type": "string"}, {"type": "integer"}], "nullable": True},
            "result": {"type": "object", "properties": {"session_id": {"type": "string"}},
                       "required": ["session_id"]},
        },
        "required": ["jsonrpc", "id", "result"],
    },
    "JsonSqlRequest": _request(["select", "insert", "update", "delete"], {
        "type": "object",
        "additionalProperties": True,
        "description": "The clauses of the method. `select`: `data`, `distinct`, `from` (a table or "
                       '`[{"table", "as"}]`), `where`, `group_by`, `order_by`, `limit`, `offset`. '
                       "`insert`: `into`, `columns`, `values` or `select`, `returning`. `update`: `table`, `set`, "
                       "`from`, `where`, `returning`. `delete`: `from`, `using`, `where`, `returning`.",
        "example": {"data": ["id", "username"], "from": "subscriber", "where": {"is": ["disabled", False]},
                    "order_by": "username", "limit": 100},
    }),
    "JsonSqlResult": {
        "type": "object",
        "properties": {
            "jsonrpc": {"type": "string", "enum": ["2.0"]},
            "id": {"oneOf": [{"type": "string"}, {"type": "integer"}], "nullable": True},
            "result": {"type": "array", "items": {},
                       "description": "The rows: arrays in the order of `data`, or single values when `data` is "
                                      "one column not in a list."},
        },
        "required": ["jsonrpc", "id", "result"],
    },
}


def _answers(result: str, description: str, *, unauthorized: bool) -> dict:
    answers = {
        "200": {"description": description, "content": {"application/json": {
            "schema": {"oneOf": [_ref(result), _ref("JsonRpcError")]}}}},
        "413": {"description": "The body is larger than 1 MB (code -32600).",
                "content": {"application/json": {"schema": _ref("JsonRpcError")}}},
    }
    if unauthorized:
        answers["401"] = {"description": "No live session or API key (code 1).",
                          "content": {"application/json": {"schema": _ref("JsonRpcError")}}}
    return answers


PORTAL_ID = {"name": "portalId", "in": "query", "required": False, "schema": {"type": "string"},
             "description": "The portal (else the one whose domain is the request's `Host`)."}


def paths() -> dict:
    """The operations of ``POST /api/jsonrpc/`` and ``POST /api/jsonsql/``."""
    return {
        "/api/jsonrpc/": {"post": {
            "operationId": "iptvportal_authorize_user",
            "tags": [TAG],
            "summary": "IPTVPORTAL authorize_user: a manager session for JSONSQL",
            "description": "JSON-RPC 2.0, method `authorize_user` (the manager's email and password, and "
                           "`totp` when two-factor authentication is on). The session is a manager session: "
                           "logout, TTL and throttling apply.\n\nError codes:\n" + _codes(),
            "parameters": [PORTAL_ID],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": _ref("JsonRpcAuthorizeRequest")}}},
            "responses": _answers("JsonRpcAuthorizeResult", "`result.session_id`, or an error",
                                  unauthorized=False),
            "security": [],
        }},
        "/api/jsonsql/": {"post": {
            "operationId": "iptvportal_jsonsql",
            "tags": [TAG],
            "summary": "IPTVPORTAL JSONSQL: select, insert, update, delete over the portal's own rows",
            "description": "JSON-RPC 2.0 with the header `Iptvportal-Authorization: sessionid=<session_id>` (or "
                           "`X-Auth-Token` with a session or the portal's API key). Every table is the caller's "
                           "portal only, also in joins and sub-selects; queries are compiled from a whitelist, "
                           "never to SQL text.\n\nTables:\n" + _tables() + "\n\n"
                           f"Limits: {MAX_ROWS:,} rows per select, 5 s per select, a 1 MB body, "
                           f"expressions {MAX_DEPTH} levels deep, `in` lists of {MAX_IN_ITEMS:,} values.\n\n"
                           "Error codes:\n" + _codes(),
            "parameters": [{**PORTAL_ID, "description": "Must be the session's portal when given."}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("JsonSqlRequest")}}},
            "responses": _answers("JsonSqlResult", "`result` (the rows, or the `returning` values), or an error",
                                  unauthorized=True),
            "security": [{"IptvportalSession": []}, {"XAuthToken": []}],
        }},
    }


def add_jsonsql_paths(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: the document with the two IPTVPORTAL endpoints in it."""
    result.setdefault("paths", {}).update(paths())
    components = result.setdefault("components", {})
    components.setdefault("schemas", {}).update(COMPONENTS)
    components.setdefault("securitySchemes", {})["IptvportalSession"] = {
        "type": "apiKey", "in": "header", "name": "Iptvportal-Authorization",
        "description": "`sessionid=<session_id>` of `authorize_user`."}
    result.setdefault("tags", [])
    if not any(tag.get("name") == TAG for tag in result["tags"]):
        result["tags"].append({"name": TAG, "description": "IPTVPORTAL's JSON-RPC API for billing systems "
                                                           "(lifecycle.md §4)."})
    return result
