"""The development server's request lines never show a streaming server's key or a playback token."""

from __future__ import annotations

import logging

from catena_site.log_filters import HideQuerySecrets


def test_runserver_request_lines_hide_the_streamer_key_and_tokens():
    logger = logging.getLogger("django.server")
    [handler] = [h for h in logger.handlers if any(isinstance(f, HideQuerySecrets) for f in h.filters)]
    record = logger.makeRecord("django.server", logging.INFO, __file__, 1, '"%s" %s %s',
                               ("GET /streaming/flussonic/auth?name=news&key=s3cr3t-key&token=tok3n&ip=1.2.3.4 "
                                "HTTP/1.1", "200", "0"), None, extra={"server_time": "06/Dec/2026 13:00:00"})

    assert handler.filter(record)
    line = handler.format(record)

    assert line == ('[06/Dec/2026 13:00:00] "GET /streaming/flussonic/auth?name=news&key=***&token=***&ip=1.2.3.4 '
                    'HTTP/1.1" 200 0')
