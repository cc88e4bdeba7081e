"""JSON-RPC 2.0 errors: the protocol's codes (negative) and our application errors (≥ 1)."""

from __future__ import annotations

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602

# Application errors, each a refusal the caller can act on.
NOT_AUTHORIZED = 1  # wrong credentials, or no live session
SECOND_FACTOR = 2  # the manager has two-factor authentication on: send params.totp
TOO_MANY_ATTEMPTS = 3  # login throttling
# 4 is not used: it answered writes before they were supported.
TOO_MANY_ROWS = 5  # more than MAX_ROWS rows: add a limit
QUERY_FAILED = 6  # the database refused the query (a type mismatch, division by zero, the time limit)
NOT_PERMITTED = 7  # a write the manager's permissions do not allow (as in the Management API's 403)
INVALID_VALUE = 8  # a value a column cannot take (the Management API's 400), naming the column and the reason
CONFLICT = 9  # the change conflicts with what is stored: a duplicate, a package still in use (409)
NOT_FOUND = 10  # a row a value names is not one of the portal's (subscriber_id, package_id, media_id: 404)


class JsonRpcError(Exception):
    """An answer ``{"error": {"code", "message"}}``."""

    def __init__(self, code: int, message: str, *, status: int = 200):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status  # HTTP status: 200 but for a missing session (401) and a body over 1 MB (413)


def invalid(message: str) -> JsonRpcError:
    return JsonRpcError(INVALID_PARAMS, message)
