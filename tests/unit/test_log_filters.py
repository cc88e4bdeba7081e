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


def test_runserver_request_lines_hide_player_passwords_of_the_xtream_api():
    logger = logging.getLogger("django.server")
    [handler] = [h for h in logger.handlers if any(isinstance(f, HideQuerySecrets) for f in h.filters)]
    lines = []
    for path in ("/player_api.php?username=12345678901&password=Pw3xYz7KmN&action=get_live_streams",
                 "/live/12345678901/Pw3xYz7KmN/42.ts", "/timeshift/12345678901/Pw3xYz7KmN/60/2026-12-06:10-00/42.ts"):
        record = logger.makeRecord("django.server", logging.INFO, __file__, 1, '"%s" %s %s',
                                   (f"GET {path} HTTP/1.1", "302", "0"), None,
                                   extra={"server_time": "06/Dec/2026 13:00:00"})
        assert handler.filter(record)
        lines.append(handler.format(record))

    assert lines == [
        '[06/Dec/2026 13:00:00] "GET /player_api.php?username=12345678901&password=***&action=get_live_streams '
        'HTTP/1.1" 302 0',
        '[06/Dec/2026 13:00:00] "GET /live/12345678901/***/42.ts HTTP/1.1" 302 0',
        '[06/Dec/2026 13:00:00] "GET /timeshift/12345678901/***/60/2026-12-06:10-00/42.ts HTTP/1.1" 302 0',
    ]
