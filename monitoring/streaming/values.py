"""Values from the streaming server, made fit to store where they enter (issue 11, H1).

Everything in an auth request's query string and in an event comes from outside: a player chooses its token,
user agent and query string (``device_id``). A NUL cannot be stored in a PostgreSQL text field and a lone
surrogate cannot be encoded for any database; one such value used to block the buffered writes of every
portal. So both streaming endpoints pass every text value through :func:`clean` before anything reads it:
control characters and lone surrogates are dropped and the length is capped to the column's. Numbers are
capped to what their column (and the heartbeat script's arithmetic) holds.
"""

from __future__ import annotations

import re

# C0 and C1 control characters (no place in a token, an address or a user agent) and lone surrogates (not
# encodable as UTF-8, so no database takes them).
_UNFIT = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")

MAX_BYTES = 2**53  # bytes: exact in a double, so the heartbeat script (Lua numbers) keeps it exact
MAX_DURATION = 2**31 - 1  # seconds: PlaySession.duration is an integer column

# Column sizes of PlaySession (monitoring.models)
SESSION_ID_LENGTH = 64
TOKEN_LENGTH = 64
IP_LENGTH = 45
USER_AGENT_LENGTH = 500
PROTO_LENGTH = 16
DEVICE_ID_LENGTH = 200
COUNTRY_LENGTH = 8


def clean(value, limit: int) -> str:
    """``value`` without control characters and lone surrogates, at most ``limit`` characters ("" for a
    non-string). Printable ASCII, nearly every value, only gets the length cap (two C-level scans)."""
    if not isinstance(value, str):
        return ""
    if not (value.isascii() and value.isprintable()):
        value = _UNFIT.sub("", value)
    return value[:limit]


def is_clean(value: str, limit: int) -> bool:
    """Whether ``value`` is its own cleaned form: an identifier (a token) that is not is refused, not cleaned."""
    if value.isascii() and value.isprintable():  # the auth check's token, every time: no copy, no call
        return len(value) <= limit
    return clean(value, limit) == value
