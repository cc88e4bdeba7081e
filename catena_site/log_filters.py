"""Logging filters of the console log (wired in ``settings.LOGGING``)."""

from __future__ import annotations

import logging
import re

# ?key= is a streaming server's key, ?token= a playback token, ?password= (and the segment after the username in
# the Xtream live/ and timeshift/ paths) a player password: secrets that a request line must not show.
_SECRET_QUERY_VALUE = re.compile(r"([?&](?:key|token|password)=)[^&\s\"]*")
_SECRET_PATH_SEGMENT = re.compile(r"(/(?:live|timeshift)/[^/\s]+/)[^/\s]+")


class HideQuerySecrets(logging.Filter):
    """Replaces the values of ``key``, ``token`` and ``password`` query parameters (and an Xtream stream URL's
    password) in the development server's request lines
    (``"GET /streaming/flussonic/auth?key=…&token=… HTTP/1.1" 200 0``) with ``***``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(hide_secrets(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


def hide_secrets(text: str) -> str:
    """``text`` with the secrets of request lines (see above) as ``***``."""
    return _SECRET_PATH_SEGMENT.sub(r"\1***", _SECRET_QUERY_VALUE.sub(r"\1***", text))
