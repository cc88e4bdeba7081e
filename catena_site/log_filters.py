"""Logging filters of the console log (wired in ``settings.LOGGING``)."""

from __future__ import annotations

import logging
import re

# ?key= is a streaming server's key, ?token= a playback token: secrets that a request line must not show.
_SECRET_QUERY_VALUE = re.compile(r"([?&](?:key|token)=)[^&\s\"]*")


class HideQuerySecrets(logging.Filter):
    """Replaces the values of ``key`` and ``token`` query parameters in the development server's request lines
    (``"GET /streaming/flussonic/auth?key=…&token=… HTTP/1.1" 200 0``) with ``***``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_SECRET_QUERY_VALUE.sub(r"\1***", arg) if isinstance(arg, str) else arg
                                for arg in record.args)
        return True
